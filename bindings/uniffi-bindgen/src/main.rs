//! The workspace's pinned `uniffi-bindgen`: the generator always matches the `uniffi` version the
//! library was built with, which the generated code checks at load time.

fn main() {
    uniffi::uniffi_bindgen_main()
}

//! The page's Content-Security-Policy.
//!
//! Hashes rather than a nonce: the page is a file that is read many times,
//! and a nonce fixed in a file protects nothing a hash does not. Everything
//! else is `'none'`: no fetch, image, font, frame, form target or base URL.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `'sha256-…'` of `text`, as CSP source expressions name inline content.
pub fn sha256_source(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!("'sha256-{}'", STANDARD.encode(d.as_ref()))
}

/// The policy allowing exactly this inline `style` and `script` text.
pub fn policy(style: &str, script: &str) -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; \
         base-uri 'none'; form-action 'none'",
        sha256_source(style),
        sha256_source(script)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_a_known_text() {
        // `echo -n 'a' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            sha256_source("a"),
            "'sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs='"
        );
    }

    #[test]
    fn policy_denies_by_default() {
        let p = policy("b{}", "x()");
        assert!(p.starts_with("default-src 'none';"));
        assert!(!p.contains("unsafe"));
        assert!(p.contains(&sha256_source("b{}")));
        assert!(p.contains(&sha256_source("x()")));
    }
}

//! Integration tests, built as one binary (hickory-dns style) so the suite
//! links once. Modules that need the third-party fixtures skip with a visible
//! message when they are absent; the others use data the project generates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bad_input;
mod bounds;
mod community_id;
mod conn_vs_tshark;
mod demo;
mod detections;
mod generated_doh;
mod generated_names;
mod intel;
mod names;
mod stored_alerts;

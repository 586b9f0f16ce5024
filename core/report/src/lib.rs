//! The analyst's report: one self-contained HTML page that tells one
//! device's network story over a period, with the evidence attached.
//!
//! Never: write a value unescaped, or put anything on the page that makes a request.
//!
//! Tests: in-module tests and, in a real browser, `nightjar/tests/report_browser.rs`; bench:
//! `benches/report.rs` (1M flows).
//!
//! [`render`] reads a [`Store`] and returns the page as a string. The page
//! carries its CSS, its SVG charts and a few lines of script inline, and a
//! `Content-Security-Policy` with `default-src 'none'` that allows only that
//! style and script by hash ([`csp`]): no request leaves it, so it can be
//! mailed, attached to a ticket or shown in a `WKWebView`/`WebView`.
//!
//! Every name on the page (domains, SNI, HTTP Host, app names, feed strings)
//! came from the network or a file and is attacker-controlled. The page is an
//! askama template, and askama HTML-escapes every value unless the template
//! marks it safe; only the constant stylesheet and script are.
//!
//! Bounded: the page is built from aggregates and top-N lists
//! ([`nightjar_store::overview`]), never from every row, so a database of a
//! million flows gives a page of the same size as one of a thousand.
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! The analyst's report: one self-contained HTML page per device and period (summary with coverage
//! chart, alerts most severe first with reasons by contribution, provenance, ATT&CK names,
//! enforcement and linked flows, a per-app timeline in inline SVG, per-app top domains and
//! post-install contacts, a paged table of the most relevant flows), built from the store's bounded
//! aggregates: `nightjar_store::digest` reads the period's flows once for the totals, naming
//! counts, activity, top domains and largest flows; `overview` holds the rest. An askama template
//! escapes every value; inline CSS and script are allowed by hash in a `default-src 'none'` CSP.
//! Used by `nightjar report`, `nightjar demo --report` and `NightjarEngine.report()`.
#![forbid(unsafe_code)]

mod chart;
pub mod csp;
mod error;
mod gather;
mod page;
mod when;
mod words;

pub use error::ReportError;
pub use gather::{Limits, ReportOptions};

use nightjar_store::Store;

/// Renders the report for `options` from `store`.
pub fn render(store: &Store, options: &ReportOptions) -> Result<String, ReportError> {
    let page = gather::gather(store, options)?;
    page::render(page)
}

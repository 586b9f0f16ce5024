//! Application-layer dissectors that name flows: TLS ClientHello (SNI, ALPN,
//! JA4, ECH), QUIC v1/v2 Initial decryption to the ClientHello, Google QUIC
//! CHLOs, and HTTP/1.x requests.
//!
//! Never: buffer more than one hello or request head per flow, or panic on any byte sequence.
//!
//! Tests: in-module fixtures (including tshark-checked captures in `tests/integration`); bench:
//! `benches/dissect.rs`; fuzz targets per parser.
//!
//! Everything here is sans-IO: functions and small bounded state machines over
//! byte slices that never panic on hostile input.
#![forbid(unsafe_code)]

mod cursor;
pub mod doh;
pub mod dtls;
pub mod gquic;
pub mod h2c;
pub mod hello_assembler;
pub mod http;
pub mod ja4;
pub mod quic;
pub mod tls;

pub use hello_assembler::{AssemblerCounters, HelloAssembler, HelloMessage, Progress};
pub use http::{HttpError, HttpRequest, HttpRequestScanner};
pub use ja4::{Ja4, Transport, ja4, ja4_all};
pub use quic::{
    CryptoAssembler, QuicError, QuicHelloAssembler, QuicProgress, client_hello_from_datagram,
    seal_client_initial,
};
pub use tls::{ClientHello, TlsError};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod rustls_crosscheck;

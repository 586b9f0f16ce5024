//! Application-layer records the engine emits beside flows: one per TLS or QUIC
//! ClientHello (Zeek's ssl.log / quic.log) and one per HTTP request (http.log).
//! DNS transactions come from `nightjar-dns` as they are.

use core::net::SocketAddr;

use crate::record::{AppId, FlowId};

/// A ClientHello seen on a flow, over TLS or inside a QUIC Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloRecord {
    /// When the hello was complete (µs since the epoch).
    pub ts_us: u64,
    /// The flow it was seen on.
    pub flow: FlowId,
    /// Client side.
    pub orig: SocketAddr,
    /// Server side.
    pub resp: SocketAddr,
    /// The app, if attributed when the hello was seen.
    pub app: Option<AppId>,
    /// SNI (with ECH, the outer SNI).
    pub server_name: Option<String>,
    /// ALPN protocols offered, in order.
    pub alpn: Vec<String>,
    /// Highest TLS version offered (0x0304 is TLS 1.3).
    pub max_version: u16,
    /// JA4 fingerprint.
    pub ja4: String,
    /// The hello carried an ECH extension.
    pub ech: bool,
    /// QUIC version for a QUIC Initial, `None` for TLS over TCP.
    pub quic_version: Option<u32>,
}

impl HelloRecord {
    /// The TLS version as Zeek spells it.
    pub fn version_name(&self) -> &'static str {
        match self.max_version {
            0x0304 => "TLSv13",
            0x0303 => "TLSv12",
            0x0302 => "TLSv11",
            0x0301 => "TLSv10",
            0x0300 => "SSLv3",
            _ => "unknown",
        }
    }
}

/// One HTTP/1.x request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRecord {
    /// When the head was complete.
    pub ts_us: u64,
    /// The flow it was seen on.
    pub flow: FlowId,
    /// Client side.
    pub orig: SocketAddr,
    /// Server side.
    pub resp: SocketAddr,
    /// The app, if attributed.
    pub app: Option<AppId>,
    /// Method.
    pub method: String,
    /// Host (Host header, else CONNECT target or absolute URI), port stripped.
    pub host: Option<String>,
    /// The port given with the host, kept apart.
    pub host_port: Option<u16>,
    /// Request target as sent (for CONNECT, `host:port`).
    pub uri: String,
    /// `0.9`, `1.0` or `1.1`.
    pub version: &'static str,
    /// User-Agent.
    pub user_agent: Option<String>,
}

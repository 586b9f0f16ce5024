//! What the relay may hold: its configuration, the caps in it, and the
//! memory report checked against them.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nightjar_engine::{EngineConfig, MemoryUsage};

/// Where the tunnel's DNS server lives and where its queries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsConfig {
    /// The DNS server address the device was given (inside the tunnel's
    /// range); UDP and TCP port 53 on it are answered by the relay.
    pub addr: IpAddr,
    /// The upstream resolver queries are forwarded to, over UDP for UDP
    /// queries and over TCP for TCP ones.
    pub upstream: SocketAddr,
    /// Queries over UDP waiting for an upstream answer at most; above it new
    /// queries are dropped (the client retries) and counted.
    pub max_inflight: usize,
    /// How long an upstream answer is waited for, in microseconds.
    pub timeout_us: u64,
}

/// Relay limits and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// The relay's own IPv4 address on the tunnel (the device's gateway).
    pub ipv4: Ipv4Addr,
    /// The relay's own IPv6 address on the tunnel, if the tunnel carries IPv6.
    pub ipv6: Option<Ipv6Addr>,
    /// The tunnel's MTU. The device-side SYN-ACK advertises MTU - 40 (IPv4).
    pub mtu: usize,
    /// DNS service on the tunnel, if any.
    pub dns: Option<DnsConfig>,
    /// TCP connections relayed at once at most (each is one smoltcp socket,
    /// and smoltcp scans every socket on each poll).
    pub max_tcp: usize,
    /// Receive buffer per TCP socket (device to network), in bytes.
    pub tcp_rx_buffer: usize,
    /// Send buffer per TCP socket (network to device), in bytes.
    pub tcp_tx_buffer: usize,
    /// Bytes all TCP socket buffers may take together. The effective TCP cap
    /// is the smaller of `max_tcp` and this divided by one socket's buffers.
    pub buffer_pool_bytes: usize,
    /// A TCP connection with no traffic for this long is aborted (microseconds).
    pub tcp_idle_us: u64,
    /// At the TCP cap, a connection idle at least this long may be evicted to
    /// admit a new one; otherwise the new one is refused (microseconds).
    pub tcp_evict_min_idle_us: u64,
    /// UDP flows relayed at once at most (DNS queries not included).
    pub max_udp: usize,
    /// A UDP flow with no traffic for this long is closed (microseconds).
    pub udp_idle_us: u64,
    /// Tunnel packets queued between [`crate::Relay::on_tun_packet`] and
    /// [`crate::Relay::poll`] at most; above it packets are dropped and counted.
    pub max_rx_queue: usize,
    /// Relay events queued for the caller at most; above it they are shed and counted.
    pub max_events: usize,
    /// Answer ICMP echo requests to any address locally (else count and drop).
    pub answer_icmp_echo: bool,
    /// Seed for smoltcp's initial sequence numbers and the tables' hashes.
    /// The edge should pass random bits.
    pub seed: u64,
    /// The engine that watches the relayed packets.
    pub engine: EngineConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            ipv4: Ipv4Addr::new(10, 111, 0, 1),
            ipv6: None,
            mtu: 1500,
            dns: None,
            max_tcp: 512,
            tcp_rx_buffer: 128 * 1024,
            tcp_tx_buffer: 128 * 1024,
            buffer_pool_bytes: 64 * 1024 * 1024,
            tcp_idle_us: 600_000_000,
            tcp_evict_min_idle_us: 30_000_000,
            max_udp: 512,
            udp_idle_us: 60_000_000,
            max_rx_queue: 1024,
            max_events: 1024,
            answer_icmp_echo: true,
            seed: 0x6e6a_7265_6c61_7901,
            engine: EngineConfig::default(),
        }
    }
}

/// A configuration the relay refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The MTU must leave room for IP and TCP headers and fit an IP packet.
    #[error("mtu must be between 1280 and 65535, got {0}")]
    Mtu(usize),
    /// The relay's own address must be a unicast address.
    #[error("the relay's address {0} is not unicast")]
    Address(IpAddr),
    /// A cap was zero.
    #[error("{0} must be at least 1")]
    ZeroCap(&'static str),
    /// TCP buffers must hold at least one segment.
    #[error("tcp buffers must be at least the mtu")]
    TcpBuffer,
    /// The engine refused its configuration.
    #[error("engine: {0}")]
    Engine(#[from] nightjar_engine::ConfigError),
}

impl RelayConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1280..=65535).contains(&self.mtu) {
            return Err(ConfigError::Mtu(self.mtu));
        }
        let v4 = self.ipv4;
        if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
            return Err(ConfigError::Address(IpAddr::V4(v4)));
        }
        if let Some(v6) = self.ipv6
            && (v6.is_unspecified() || v6.is_multicast())
        {
            return Err(ConfigError::Address(IpAddr::V6(v6)));
        }
        for (name, cap) in [
            ("max_tcp", self.max_tcp),
            ("max_udp", self.max_udp),
            ("max_rx_queue", self.max_rx_queue),
            ("max_events", self.max_events),
            ("buffer_pool_bytes", self.buffer_pool_bytes),
        ] {
            if cap == 0 {
                return Err(ConfigError::ZeroCap(name));
            }
        }
        if let Some(dns) = self.dns
            && dns.max_inflight == 0
        {
            return Err(ConfigError::ZeroCap("dns.max_inflight"));
        }
        if self.tcp_rx_buffer < self.mtu || self.tcp_tx_buffer < self.mtu {
            return Err(ConfigError::TcpBuffer);
        }
        if self.tcp_cap() == 0 {
            return Err(ConfigError::ZeroCap("buffer_pool_bytes / tcp buffers"));
        }
        Ok(())
    }

    /// Bytes one TCP socket's buffers take.
    pub fn tcp_socket_bytes(&self) -> usize {
        self.tcp_rx_buffer.saturating_add(self.tcp_tx_buffer)
    }

    /// TCP connections admitted at once: `max_tcp`, or fewer if the buffer
    /// pool cannot back that many sockets.
    pub fn tcp_cap(&self) -> usize {
        let per = self.tcp_socket_bytes().max(1);
        self.max_tcp.min(self.buffer_pool_bytes / per)
    }
}

/// Memory the relay holds, against its caps, in bytes unless named otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayMemory {
    /// TCP connections live now.
    pub tcp_sockets: usize,
    /// TCP connections admitted at most.
    pub tcp_sockets_cap: usize,
    /// TCP socket buffers allocated now.
    pub tcp_buffers: usize,
    /// TCP socket buffers at the cap.
    pub tcp_buffers_cap: usize,
    /// UDP flows live now.
    pub udp_flows: usize,
    /// UDP flows at most.
    pub udp_flows_cap: usize,
    /// DNS queries waiting for upstream now.
    pub dns_inflight: usize,
    /// DNS queries waiting at most.
    pub dns_inflight_cap: usize,
    /// Tunnel packets queued (both directions) now, in bytes.
    pub queued_packets: usize,
    /// IP-to-name entries the flow policy consults, now.
    pub names: usize,
    /// The engine's own report.
    pub engine: MemoryUsage,
}

impl RelayMemory {
    /// Everything the relay (not the engine) holds now, roughly.
    pub fn relay_total(&self) -> usize {
        self.tcp_buffers + self.queued_packets
    }
}

//! How the host app configures an engine.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nightjar_detect::{Action as DetectAction, PipelineConfig};
use nightjar_engine::EngineConfig;
use nightjar_relay::{DnsConfig, DnsUpstream, RelayConfig, SecureDnsConfig, pem_certificates};

use crate::error::{NightjarError, Result};
use crate::records::AlertSeverity;

/// What the tunnel does with packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Mode {
    /// Observe only: every verdict is `Pass` and the OS keeps forwarding the packets.
    Monitor,
    /// Nightjar relays the traffic itself (local VPN): the device's packets go to `ingest`, the
    /// relay opens outbound sockets (through the `SocketProtector`, if set) and the packets to
    /// write back to the tunnel come back in `IngestResult.to_tunnel` or through the
    /// `TunnelWriter`. Configured by [`EngineSettings::relay`].
    Relay,
}

/// Memory caps. Every table in the engine has one; above it work is shed and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct MemoryCaps {
    /// Flows tracked at once (1 ..= 2^32 - 2). A full table evicts the flow nearest its timeout.
    pub max_flows: u64,
    /// Bytes all hello/request inspections may buffer together.
    pub max_inspection_bytes: u64,
    /// Engine events queued between drains; the bindings drain after every packet, so this only
    /// matters when a sweep completes many flows at once.
    pub max_events: u64,
}

/// Everything needed to create a [`crate::NightjarEngine`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EngineSettings {
    /// SQLite database for flows, DNS, alerts and apps; `None` keeps nothing on disk (queries
    /// and exports then fail with `NoDatabase`).
    pub db_path: Option<String>,
    /// A compiled intel index (see `compile_feeds`); `None` starts without one.
    pub intel_index_path: Option<String>,
    /// Monitor or relay.
    pub mode: Mode,
    /// Memory caps.
    pub caps: MemoryCaps,
    /// Random bits from the host (`SecRandomCopyBytes`, `SecureRandom`): seeds the flow table's
    /// hash so a remote peer cannot aim collisions at it.
    pub hash_seed: u64,
    /// Relay mode's settings; `None` takes [`default_relay_settings`]. Ignored in monitor mode.
    #[uniffi(default)]
    pub relay: Option<RelaySettings>,
    /// Relay mode refuses what an alert of this severity or above is about: a query for the
    /// name gets NXDOMAIN, a new TCP flow to the name or address a reset, a UDP flow ICMP
    /// unreachable, and the alert says so in [`Alert::enforcement`](crate::Alert). `None`
    /// (the default) is monitor-only: alerts, no blocks. `High` and `Critical` block the same
    /// (the live detectors' top severity is high); informational findings are never blocked.
    /// Ignored in monitor mode, which sees packets but cannot refuse them.
    #[uniffi(default)]
    pub block_at: Option<AlertSeverity>,
}

/// How relay mode terminates the tunnel. Addresses are strings (`"10.111.0.1"`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RelaySettings {
    /// The relay's own IPv4 address on the tunnel: the device's gateway, in the tunnel's subnet
    /// but not the device's own address.
    pub ipv4: String,
    /// The relay's own IPv6 address, if the tunnel carries IPv6.
    pub ipv6: Option<String>,
    /// The tunnel's MTU (1280 ..= 65535); device-side SYN-ACKs advertise MTU − 40.
    pub mtu: u32,
    /// The DNS server address the tunnel gave the device; UDP and TCP port 53 on it are answered
    /// by forwarding to `dns_upstream`. `None`: no DNS service (port 53 is relayed like any
    /// other port). Set both or neither.
    pub dns_address: Option<String>,
    /// Where the device's DNS queries go: `"IP"`, `"IP:PORT"` or `"udp://IP:PORT"` (plain DNS,
    /// UDP for UDP queries, TCP for TCP ones, each query through the block policy),
    /// `"tls://IP[:853]#NAME"` (DNS-over-TLS) or `"https://IP[:443][/PATH]#NAME"`
    /// (DNS-over-HTTPS, path default `/dns-query`). NAME is the name the server's certificate
    /// must carry, checked by the platform's verifier. With an encrypted upstream, a query the
    /// upstream fails or does not answer in time gets SERVFAIL, and TCP port 53 is refused
    /// (a reset) rather than sent in clear.
    pub dns_upstream: Option<String>,
    /// DNS queries waiting for the upstream at most; above it new ones are dropped and counted.
    pub max_dns_inflight: u32,
    /// TCP connections relayed at once at most (also bounded by `buffer_pool_bytes`).
    pub max_tcp: u32,
    /// UDP flows relayed at once at most (DNS not included).
    pub max_udp: u32,
    /// Buffer per TCP connection and direction, in bytes (at least the MTU).
    pub tcp_buffer_bytes: u32,
    /// Bytes all TCP buffers may take together: the TCP cap is the smaller of `max_tcp` and
    /// this divided by `2 × tcp_buffer_bytes`.
    pub buffer_pool_bytes: u64,
    /// CA certificates in PEM trusted for a `tls://` or `https://` upstream besides the
    /// platform's: for a test server only; production leaves it `None`. On Android these
    /// replace the platform's roots rather than add to them.
    #[uniffi(default)]
    pub dns_extra_roots_pem: Option<String>,
}

/// Relay defaults a phone can afford (an iOS packet tunnel provider lives within ~50 MB):
/// gateway 10.111.0.1, MTU 1500, no DNS service, 256 TCP connections with 64 KiB buffers per
/// direction in a 16 MiB pool (so 128 at once), 256 UDP flows, 64 DNS queries in flight.
#[uniffi::export]
pub fn default_relay_settings() -> RelaySettings {
    RelaySettings {
        ipv4: "10.111.0.1".into(),
        ipv6: None,
        mtu: 1500,
        dns_address: None,
        dns_upstream: None,
        max_dns_inflight: 64,
        max_tcp: 256,
        max_udp: 256,
        tcp_buffer_bytes: 64 * 1024,
        buffer_pool_bytes: 16 * 1024 * 1024,
        dns_extra_roots_pem: None,
    }
}

/// How long relay mode waits for a DNS answer upstream, in microseconds.
const DNS_TIMEOUT_US: u64 = 5_000_000;
/// Mixed into the hash seed for smoltcp's sequence numbers, so they do not equal the flow
/// table's seed.
const RELAY_SEED_SALT: u64 = 0x6e6a_7265_6c61_7946;

/// The defaults a phone can afford: 16,384 flows, 2 MiB of inspection, 4,096 queued events.
#[uniffi::export]
pub fn default_memory_caps() -> MemoryCaps {
    let d = EngineConfig::default();
    MemoryCaps {
        max_flows: 16_384,
        max_inspection_bytes: d.max_inspection_bytes as u64,
        max_events: d.max_events as u64,
    }
}

/// Flow-table caps above this are refused before any allocation: the engine sizes its index
/// for twice the cap up front.
const MAX_FLOWS_LIMIT: u64 = 4_000_000;

impl EngineSettings {
    /// The engine configuration these settings ask for.
    pub(crate) fn engine_config(&self) -> Result<EngineConfig> {
        let caps = self.caps;
        if caps.max_flows == 0 || caps.max_flows > MAX_FLOWS_LIMIT {
            return Err(NightjarError::InvalidConfig {
                reason: format!(
                    "max_flows must be between 1 and {MAX_FLOWS_LIMIT}, got {}",
                    caps.max_flows
                ),
            });
        }
        let size = |name: &str, v: u64| {
            usize::try_from(v).map_err(|_| NightjarError::InvalidConfig {
                reason: format!("{name} does not fit this platform's address space"),
            })
        };
        let mut config = EngineConfig::default();
        config.flows.max_flows = size("max_flows", caps.max_flows)?;
        config.max_inspection_bytes = size("max_inspection_bytes", caps.max_inspection_bytes)?;
        config.max_events = size("max_events", caps.max_events)?;
        config.hash_seed = self.hash_seed;
        Ok(config)
    }

    /// The detection pipeline's settings: monitor-only unless [`block_at`](Self::block_at)
    /// asks relay mode to block.
    pub(crate) fn pipeline_config(&self) -> PipelineConfig {
        let mut config = PipelineConfig::default();
        if self.mode == Mode::Relay
            && let Some(at) = self.block_at
        {
            let p = &mut config.policy;
            p.high = DetectAction::Block;
            if matches!(at, AlertSeverity::Low | AlertSeverity::Medium) {
                p.medium = DetectAction::Block;
            }
            if at == AlertSeverity::Low {
                p.low = DetectAction::Block;
            }
        }
        config
    }

    /// The relay configuration these settings ask for (relay mode only); the engine inside it
    /// is [`EngineSettings::engine_config`].
    pub(crate) fn relay_config(&self) -> Result<RelayConfig> {
        let r = self.relay.clone().unwrap_or_else(default_relay_settings);
        let bad = |reason: String| NightjarError::InvalidConfig { reason };
        let ipv4 = r
            .ipv4
            .trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| bad(format!("relay ipv4 {:?} is not an IPv4 address", r.ipv4)))?;
        let ipv6 = match &r.ipv6 {
            Some(v) => Some(
                v.trim()
                    .parse::<Ipv6Addr>()
                    .map_err(|_| bad(format!("relay ipv6 {v:?} is not an IPv6 address")))?,
            ),
            None => None,
        };
        let dns = match (&r.dns_address, &r.dns_upstream) {
            (None, None) => None,
            (Some(addr), Some(up)) => Some(DnsConfig {
                addr: addr
                    .trim()
                    .parse::<IpAddr>()
                    .map_err(|_| bad(format!("dns_address {addr:?} is not an address")))?,
                upstream: parse_upstream(up)?.addr,
                max_inflight: r.max_dns_inflight as usize,
                timeout_us: DNS_TIMEOUT_US,
            }),
            _ => {
                return Err(bad(
                    "set both dns_address and dns_upstream, or neither".into()
                ));
            }
        };
        let buffer = r.tcp_buffer_bytes as usize;
        let config = RelayConfig {
            ipv4,
            ipv6,
            mtu: r.mtu as usize,
            dns,
            max_tcp: r.max_tcp as usize,
            tcp_rx_buffer: buffer,
            tcp_tx_buffer: buffer,
            buffer_pool_bytes: usize::try_from(r.buffer_pool_bytes).map_err(|_| {
                bad("buffer_pool_bytes does not fit this platform's address space".into())
            })?,
            max_udp: r.max_udp as usize,
            seed: self.hash_seed ^ RELAY_SEED_SALT,
            engine: self.engine_config()?,
            ..RelayConfig::default()
        };
        Ok(config)
    }
}

fn parse_upstream(v: &str) -> Result<DnsUpstream> {
    v.parse().map_err(|e| NightjarError::InvalidConfig {
        reason: format!("dns_upstream {v:?}: {e}"),
    })
}

impl EngineSettings {
    /// The encrypted DNS upstream relay mode should use, if `dns_upstream` names one, with the
    /// platform's certificate verifier.
    pub(crate) fn secure_dns(&self) -> Result<Option<SecureDnsConfig>> {
        let r = self.relay.clone().unwrap_or_else(default_relay_settings);
        let Some(up) = &r.dns_upstream else {
            return Ok(None);
        };
        let bad = |reason: String| NightjarError::InvalidConfig { reason };
        let roots = match &r.dns_extra_roots_pem {
            Some(pem) => pem_certificates(pem.as_bytes())
                .map_err(|e| bad(format!("dns_extra_roots_pem: {e}")))?,
            None => Vec::new(),
        };
        parse_upstream(up)?
            .secure_config(roots)
            .map_err(|e| bad(format!("dns upstream: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EngineSettings {
        EngineSettings {
            db_path: None,
            intel_index_path: None,
            mode: Mode::Monitor,
            caps: default_memory_caps(),
            hash_seed: 42,
            relay: None,
            block_at: None,
        }
    }

    #[test]
    fn caps_and_seed_reach_the_engine_config() {
        let mut s = settings();
        s.caps.max_flows = 100;
        s.caps.max_events = 7;
        s.caps.max_inspection_bytes = 9_000;
        let c = s.engine_config().unwrap();
        assert_eq!(c.flows.max_flows, 100);
        assert_eq!(c.max_events, 7);
        assert_eq!(c.max_inspection_bytes, 9_000);
        assert_eq!(c.hash_seed, 42);
    }

    #[test]
    fn relay_settings_reach_the_relay_config() {
        let mut s = settings();
        s.mode = Mode::Relay;
        s.caps.max_flows = 321;
        let mut r = default_relay_settings();
        r.ipv4 = "10.9.0.1".into();
        r.ipv6 = Some("fd00::1".into());
        r.mtu = 1400;
        r.dns_address = Some("10.9.0.53".into());
        r.dns_upstream = Some("udp://192.0.2.53:5353".into());
        r.max_tcp = 10;
        r.tcp_buffer_bytes = 4096;
        s.relay = Some(r);
        let c = s.relay_config().unwrap();
        assert_eq!(c.ipv4, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(c.ipv6, Some("fd00::1".parse().unwrap()));
        assert_eq!(c.mtu, 1400);
        assert_eq!(c.tcp_cap(), 10);
        assert_eq!(c.tcp_rx_buffer, 4096);
        assert_eq!(c.engine.flows.max_flows, 321);
        let dns = c.dns.unwrap();
        assert_eq!(dns.addr, "10.9.0.53".parse::<IpAddr>().unwrap());
        assert_eq!(dns.upstream, "192.0.2.53:5353".parse().unwrap());
        for (up, want) in [
            ("192.0.2.1", "192.0.2.1:53"),
            ("192.0.2.1:54", "192.0.2.1:54"),
            ("[2001:db8::1]", "[2001:db8::1]:53"),
            ("2001:db8::1", "[2001:db8::1]:53"),
        ] {
            assert_eq!(
                parse_upstream(up).unwrap().addr,
                want.parse().unwrap(),
                "{up}"
            );
        }
        assert!(s.secure_dns().unwrap().is_none(), "plain upstream");
        let mut r = s.relay.clone().unwrap();
        r.dns_upstream = Some("https://192.0.2.53/q#dns.example".into());
        s.relay = Some(r);
        assert_eq!(
            s.relay_config().unwrap().dns.unwrap().upstream,
            "192.0.2.53:443".parse().unwrap()
        );
        let secure = s.secure_dns().unwrap().expect("an encrypted upstream");
        assert_eq!(
            secure.transport,
            nightjar_relay::SecureTransport::Https { path: "/q".into() }
        );
        // The default pool backs 128 connections of 2 × 64 KiB.
        s.relay = None;
        assert_eq!(s.relay_config().unwrap().tcp_cap(), 128);
    }

    #[test]
    fn bad_relay_settings_and_caps_are_refused() {
        let mut s = settings();
        s.mode = Mode::Relay;
        let mut r = default_relay_settings();
        r.dns_address = Some("10.111.0.53".into());
        r.dns_upstream = Some("tls://192.0.2.1:853".into());
        s.relay = Some(r.clone());
        assert!(matches!(
            s.relay_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        r.dns_upstream = Some("tls://192.0.2.1:853#dns.example".into());
        r.dns_extra_roots_pem =
            Some("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n".into());
        s.relay = Some(r.clone());
        assert!(matches!(
            s.secure_dns(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        r.dns_extra_roots_pem = None;
        r.dns_upstream = None;
        s.relay = Some(r.clone());
        assert!(matches!(
            s.relay_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        r.dns_upstream = Some("dns.example".into());
        s.relay = Some(r.clone());
        assert!(matches!(
            s.relay_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        let mut r = default_relay_settings();
        r.ipv4 = "10.111.0".into();
        s.relay = Some(r);
        assert!(matches!(
            s.relay_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        let mut s = settings();
        s.caps.max_flows = 0;
        assert!(matches!(
            s.engine_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        s.caps.max_flows = MAX_FLOWS_LIMIT + 1;
        assert!(matches!(
            s.engine_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
    }
}

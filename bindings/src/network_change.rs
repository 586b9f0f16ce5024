//! Relay mode told that the device's uplink changed. iOS calls it from `NWPathMonitor`'s update
//! handler, Android from `ConnectivityManager.NetworkCallback` (`onAvailable`,
//! `onLinkPropertiesChanged`, `onLost`), with the local addresses of the new default path.

use core::net::{IpAddr, Ipv6Addr};

use nightjar_relay::Nat64Prefix;

use crate::error::{NightjarError, Result};
use crate::handle::NightjarEngine;

/// What one `network_changed` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct NetworkChange {
    /// Device-side TCP connections reset (RST to the app) because their outbound socket was on
    /// the old path.
    pub tcp_reset: u64,
    /// UDP flows (plain DNS queries included) dropped for the same reason.
    pub udp_dropped: u64,
    /// Whether the encrypted DNS upstream connection was dropped, to be dialled again on the
    /// new path by the next query (queries in flight are sent again).
    pub dns_redialled: bool,
}

#[uniffi::export]
impl NightjarEngine {
    /// The uplink changed (Wi-Fi to cellular, a new address, the old interface gone).
    /// `addresses` are the local IP addresses of the new default path (`"192.0.2.7"`,
    /// `"2001:db8::7"`); an empty list means unknown, and every relayed connection is treated as
    /// on the old path. Connections whose outbound socket is bound to another address are reset
    /// towards the device at once, so apps reconnect instead of hanging until their own
    /// timeouts; their UDP flows are dropped; the encrypted DNS upstream is dialled again.
    /// Counted in `RelayCounters` (`path_*`, `dns_upstream_redials`). `InvalidArgument` in
    /// monitor mode or for an address that does not parse.
    pub fn network_changed(&self, addresses: Vec<String>) -> Result<NetworkChange> {
        self.run(|| {
            let addrs = addresses
                .iter()
                .map(|a| {
                    a.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| NightjarError::arg(format!("{a:?} is not an IP address")))
                })
                .collect::<Result<Vec<_>>>()?;
            let done = self.with_inner(|inner| {
                let core = inner.relay_core().ok_or_else(|| {
                    NightjarError::arg("only relay mode has connections to reset")
                })?;
                Ok(core.relay.network_changed(&addrs))
            })?;
            // The resets leave on the relay thread's next round.
            self.wake_relay();
            Ok(NetworkChange {
                tcp_reset: done.tcp_reset,
                udp_dropped: done.udp_dropped,
                dns_redialled: done.dns_redialled,
            })
        })
    }

    /// The uplink has no IPv4 route and its NAT64 prefix is `prefix` (`"64:ff9b::/96"`, or
    /// one learnt from the AAAA answer for `ipv4only.arpa`, RFC 7050; lengths 32, 40, 48, 56,
    /// 64 or 96): new relayed flows to IPv4 destinations are dialled at the synthesized IPv6
    /// address, while the device keeps its IPv4 flow. `None` when the uplink has IPv4 again.
    /// `InvalidArgument` in monitor mode or for a prefix that does not parse.
    pub fn set_nat64_prefix(&self, prefix: Option<String>) -> Result<()> {
        self.run(|| {
            let parsed = match &prefix {
                None => None,
                Some(p) => Some(parse_prefix(p).ok_or_else(|| {
                    NightjarError::arg(format!("{p:?} is not a NAT64 prefix (e.g. 64:ff9b::/96)"))
                })?),
            };
            self.with_inner(|inner| {
                let core = inner
                    .relay_core()
                    .ok_or_else(|| NightjarError::arg("only relay mode dials through NAT64"))?;
                core.relay.set_nat64(parsed);
                Ok(())
            })
        })
    }
}

fn parse_prefix(p: &str) -> Option<Nat64Prefix> {
    let (addr, len) = p.trim().split_once('/')?;
    Nat64Prefix::new(addr.parse::<Ipv6Addr>().ok()?, len.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat64_prefixes_parse() {
        assert_eq!(
            parse_prefix("64:ff9b::/96"),
            Some(Nat64Prefix::well_known())
        );
        assert_eq!(
            parse_prefix(" 2001:db8:122::/48").map(|p| p.prefix_len()),
            Some(48)
        );
        for bad in ["64:ff9b::", "64:ff9b::/80", "10.0.0.0/96", "64:ff9b::/x"] {
            assert!(parse_prefix(bad).is_none(), "{bad}");
        }
    }
}

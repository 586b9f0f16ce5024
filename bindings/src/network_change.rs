//! Relay mode told that the device's uplink changed. iOS calls it from `NWPathMonitor`'s update
//! handler, Android from `ConnectivityManager.NetworkCallback` (`onAvailable`,
//! `onLinkPropertiesChanged`, `onLost`), with the local addresses of the new default path.

use core::net::IpAddr;

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
}

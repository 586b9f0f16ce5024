//! The device's uplink changed (Wi-Fi to cellular, a new address, the old
//! interface gone). Outbound sockets bound to an address the new path does
//! not have are dead even if the kernel has not said so yet: their device
//! side is reset at once (so apps reconnect instead of waiting out their own
//! timeouts), their UDP flows are forgotten, and the encrypted DNS upstream
//! is dialled again on the new path.

use core::net::IpAddr;

use super::Relay;
use crate::dialer::Token;

/// What one [`Relay::network_changed`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathChange {
    /// Device-side TCP connections reset (their outbound socket was on the old path).
    pub tcp_reset: u64,
    /// UDP flows (plain DNS queries included) dropped.
    pub udp_dropped: u64,
    /// Whether the encrypted DNS upstream connection was dropped to be dialled again.
    pub dns_redialled: bool,
}

/// Whether a socket bound to `local` survives on a path with `addresses`. A
/// socket whose address is unknown is on the old path.
fn on_path(local: Option<IpAddr>, addresses: &[IpAddr]) -> bool {
    local.is_some_and(|ip| addresses.contains(&ip))
}

impl Relay {
    /// The uplink changed; `addresses` are the local addresses the device
    /// has on its new path (empty: treat every socket as on the old path).
    /// Resets the device side of every TCP connection whose outbound socket
    /// is bound elsewhere, drops such UDP flows, and drops the encrypted DNS
    /// upstream connection if it is, so the next query dials it on the new
    /// path (queries sent on it are sent again). Counted in [`crate::RelayStats`].
    pub fn network_changed(&mut self, addresses: &[IpAddr]) -> PathChange {
        let mut done = PathChange::default();
        self.stats.path_changes += 1;
        let stale_tcp: Vec<Token> = self
            .tcp
            .conns
            .iter()
            .filter(|(_, c)| !on_path(c.local_addr().map(|a| a.ip()), addresses))
            .map(|(t, _)| *t)
            .collect();
        for token in stale_tcp {
            if let Some(conn) = self.tcp.conns.get_mut(&token) {
                // The next service sees no outbound side and aborts: RST.
                conn.drop_outbound();
                done.tcp_reset += 1;
            }
        }
        let stale_udp: Vec<Token> = self
            .udp
            .flows
            .iter()
            .filter(|(_, f)| !on_path(f.out.local_addr().map(|a| a.ip()), addresses))
            .map(|(t, _)| *t)
            .collect();
        for token in stale_udp {
            if self.udp.remove(token).is_some() {
                done.udp_dropped += 1;
            }
        }
        if let Some(secure) = self.secure_dns.as_mut()
            && let Some(local) = secure.local_addr()
            && !on_path(local.map(|a| a.ip()), addresses)
        {
            secure.redial();
            done.dns_redialled = true;
        }
        self.stats.path_tcp_reset += done.tcp_reset;
        self.stats.path_udp_dropped += done.udp_dropped;
        self.stats.dns_upstream_redials += u64::from(done.dns_redialled);
        self.work_left = true;
        done
    }
}

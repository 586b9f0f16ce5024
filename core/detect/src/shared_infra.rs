//! Shared CDN and cloud infrastructure: an address that DNS answers hand out
//! for many unrelated registrable domains is a CDN edge or a cloud front end,
//! so periodic traffic to it or a new name on it says little about any one
//! app. The pipeline uses this as a false-positive control (beaconing keyed by
//! an address, new domains whose addresses are shared).
//!
//! Bounded: at most `max_ips` addresses (the oldest is forgotten, counted) and
//! at most `shared_at` domain hashes per address (one more cannot change the
//! answer).

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashMap;

use crate::dga::fnv1a;

/// Limits and the sharing threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedInfraConfig {
    /// Distinct registrable domains on one address that make it shared.
    pub shared_at: usize,
    /// Most addresses remembered.
    pub max_ips: usize,
}

impl Default for SharedInfraConfig {
    fn default() -> Self {
        Self {
            shared_at: 3,
            max_ips: 8192,
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedInfraCounters {
    /// (address, domain) pairs observed.
    pub observed: u64,
    /// Addresses forgotten to stay within `max_ips`.
    pub evicted: u64,
}

/// Registrable domains seen per address in DNS answers.
#[derive(Debug)]
pub struct SharedInfra {
    config: SharedInfraConfig,
    ips: HashMap<IpAddr, Vec<u64>>,
    order: VecDeque<IpAddr>,
    counters: SharedInfraCounters,
}

impl SharedInfra {
    /// Empty.
    pub fn new(config: SharedInfraConfig) -> Self {
        Self {
            config,
            ips: HashMap::new(),
            order: VecDeque::new(),
            counters: SharedInfraCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> SharedInfraCounters {
        self.counters
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// Bytes held, estimated from the entry count (address, vector and its
    /// hashes, queue slot).
    pub fn memory(&self) -> usize {
        self.ips.len() * (17 + 24 + 8 * self.config.shared_at.max(1) + 17)
    }

    /// The cap of [`SharedInfra::memory`].
    pub fn memory_cap(&self) -> usize {
        self.config.max_ips * (17 + 24 + 8 * self.config.shared_at.max(1) + 17)
    }

    /// Records that a DNS answer gave `ip` for a name under `registrable`.
    pub fn observe(&mut self, ip: IpAddr, registrable: &str) {
        self.counters.observed += 1;
        let h = fnv1a(registrable.as_bytes());
        let cap = self.config.shared_at.max(1);
        if let Some(v) = self.ips.get_mut(&ip) {
            if v.len() < cap && !v.contains(&h) {
                v.push(h);
            }
            return;
        }
        while self.ips.len() >= self.config.max_ips.max(1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if self.ips.remove(&old).is_some() {
                self.counters.evicted += 1;
            }
        }
        self.ips.insert(ip, vec![h]);
        self.order.push_back(ip);
    }

    /// Distinct registrable domains seen on `ip` (saturating at `shared_at`).
    pub fn domains_on(&self, ip: IpAddr) -> usize {
        self.ips.get(&ip).map_or(0, Vec::len)
    }

    /// Whether `ip` serves at least `shared_at` registrable domains.
    pub fn is_shared(&self, ip: IpAddr) -> bool {
        self.domains_on(ip) >= self.config.shared_at.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_serving_many_domains_is_shared() {
        let mut s = SharedInfra::new(SharedInfraConfig::default());
        let cdn: IpAddr = "198.51.100.7".parse().unwrap();
        let own: IpAddr = "203.0.113.9".parse().unwrap();
        s.observe(own, "example.org");
        s.observe(own, "example.org");
        for d in ["a.com", "b.net", "c.org", "d.io"] {
            s.observe(cdn, d);
        }
        assert!(s.is_shared(cdn));
        assert!(!s.is_shared(own));
        assert_eq!(s.domains_on(own), 1);
        assert_eq!(s.domains_on(cdn), 3, "saturates at shared_at");
    }

    #[test]
    fn bounded_and_counts_evictions() {
        let mut s = SharedInfra::new(SharedInfraConfig {
            shared_at: 3,
            max_ips: 10,
        });
        for i in 0..100u32 {
            s.observe(IpAddr::from(i.to_be_bytes()), "x.com");
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.counters().evicted, 90);
        assert!(s.memory() <= s.memory_cap());
    }
}

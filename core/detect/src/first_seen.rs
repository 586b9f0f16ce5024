//! Previously-unseen domains, device-wide and per app, on both the registrable
//! domain and the full name.
//!
//! Memory: one 64-bit FNV-1a hash per remembered (scope, name) in a hash set
//! plus an insertion-order queue; the oldest entries are forgotten above
//! `max_entries` (counted). FNV-1a rather than the process hasher because the
//! state is persisted ([`FirstSeen::to_bytes`]) and must hash the same after a
//! restart or an upgrade. A collision makes one new name look seen; at 64 bits
//! and ≤ 10⁶ entries that is negligible.
//!
//! A learning period after the first enable records everything and flags
//! nothing, so day one does not report every domain the phone uses.

use std::collections::VecDeque;

use hashbrown::HashSet;
use thiserror::Error;

use crate::dga::{FNV_OFFSET, fnv1a, fnv1a_extend};
use crate::domain;

const MAGIC: &[u8; 8] = b"NJSEEN1\0";

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSeenConfig {
    /// Nothing is flagged until this long after the first enable, µs.
    pub learning_period_us: u64,
    /// Most remembered hashes (all four scopes together).
    pub max_entries: usize,
}

impl Default for FirstSeenConfig {
    fn default() -> Self {
        Self {
            learning_period_us: 7 * 24 * 3_600_000_000,
            max_entries: 200_000,
        }
    }
}

/// Why persisted state could not be loaded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Not first-seen state, or an unknown version.
    #[error("bad magic or version")]
    Magic,
    /// Truncated or with trailing bytes.
    #[error("state is {actual} bytes, expected {expected}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// Content does not match its checksum.
    #[error("checksum mismatch")]
    Checksum,
}

/// Which first contacts a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Novelty {
    /// No app on the device has contacted this registrable domain before.
    pub new_registrable_device: bool,
    /// No app has used this exact name before.
    pub new_name_device: bool,
    /// This app has not contacted this registrable domain before.
    pub new_registrable_app: bool,
    /// This app has not used this exact name before.
    pub new_name_app: bool,
    /// Still in the learning period: recorded, not to be reported.
    pub learning: bool,
}

impl Novelty {
    /// Whether anything is new and reportable.
    pub fn is_reportable(&self) -> bool {
        !self.learning
            && (self.new_registrable_device
                || self.new_name_device
                || self.new_registrable_app
                || self.new_name_app)
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirstSeenCounters {
    /// Names observed.
    pub observed: u64,
    /// Hashes forgotten to stay within `max_entries`.
    pub evicted: u64,
    /// Names that could not be normalised.
    pub invalid: u64,
}

/// The remembered set.
#[derive(Debug, Clone)]
pub struct FirstSeen {
    config: FirstSeenConfig,
    enabled_at_us: Option<u64>,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    counters: FirstSeenCounters,
}

#[derive(Clone, Copy)]
enum Scope {
    DeviceRegistrable = 1,
    DeviceName = 2,
    AppRegistrable = 3,
    AppName = 4,
}

fn key(scope: Scope, app: &str, name: &str) -> u64 {
    let h = fnv1a_extend(FNV_OFFSET, &[scope as u8]);
    let h = if matches!(scope, Scope::AppRegistrable | Scope::AppName) {
        fnv1a_extend(fnv1a_extend(h, app.as_bytes()), &[0])
    } else {
        h
    };
    fnv1a_extend(h, name.as_bytes())
}

impl FirstSeen {
    /// Empty state; the learning period starts at the first observation.
    pub fn new(config: FirstSeenConfig) -> Self {
        Self {
            config,
            enabled_at_us: None,
            seen: HashSet::new(),
            order: VecDeque::new(),
            counters: FirstSeenCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> FirstSeenCounters {
        self.counters
    }

    /// Remembered hashes.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records that `app` contacted `name` and says what was new.
    pub fn observe(&mut self, now_us: u64, app: &str, name: &str) -> Novelty {
        self.counters.observed += 1;
        let enabled = *self.enabled_at_us.get_or_insert(now_us);
        let learning = now_us < enabled.saturating_add(self.config.learning_period_us);
        let Some(n) = domain::normalize(name) else {
            self.counters.invalid += 1;
            return Novelty {
                learning,
                ..Novelty::default()
            };
        };
        let reg = domain::registrable(&n).unwrap_or(&n);
        let novelty = Novelty {
            new_registrable_device: self.insert(key(Scope::DeviceRegistrable, app, reg)),
            new_name_device: self.insert(key(Scope::DeviceName, app, &n)),
            new_registrable_app: self.insert(key(Scope::AppRegistrable, app, reg)),
            new_name_app: self.insert(key(Scope::AppName, app, &n)),
            learning,
        };
        self.evict();
        novelty
    }

    fn insert(&mut self, h: u64) -> bool {
        let new = self.seen.insert(h);
        if new {
            self.order.push_back(h);
        }
        new
    }

    fn evict(&mut self) {
        while self.seen.len() > self.config.max_entries.max(4) {
            let Some(h) = self.order.pop_front() else {
                break;
            };
            if self.seen.remove(&h) {
                self.counters.evicted += 1;
            }
        }
    }

    /// Serialises the state (enable time and hashes, oldest first).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 9 + 8 + self.order.len() * 8 + 8);
        out.extend_from_slice(MAGIC);
        match self.enabled_at_us {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&t.to_le_bytes());
            }
            None => {
                out.push(0);
                out.extend_from_slice(&0u64.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.order.len() as u64).to_le_bytes());
        for h in &self.order {
            out.extend_from_slice(&h.to_le_bytes());
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Restores state written by [`FirstSeen::to_bytes`]; entries beyond
    /// `config.max_entries` are dropped oldest first.
    pub fn from_bytes(config: FirstSeenConfig, bytes: &[u8]) -> Result<Self, StateError> {
        const HEAD: usize = 8 + 1 + 8 + 8;
        let body_len = bytes.len().checked_sub(8).ok_or(StateError::Length {
            expected: HEAD + 8,
            actual: bytes.len(),
        })?;
        let (body, sum) = bytes
            .split_at_checked(body_len)
            .ok_or(StateError::Checksum)?;
        let (head, hashes) = body.split_at_checked(HEAD).ok_or(StateError::Length {
            expected: HEAD + 8,
            actual: bytes.len(),
        })?;
        let (magic, rest) = head.split_at_checked(8).ok_or(StateError::Magic)?;
        if magic != MAGIC {
            return Err(StateError::Magic);
        }
        let sum = u64::from_le_bytes(sum.try_into().map_err(|_| StateError::Checksum)?);
        if sum != fnv1a(body) {
            return Err(StateError::Checksum);
        }
        let (flag, rest) = rest.split_first().ok_or(StateError::Magic)?;
        let (t, n) = rest.split_at_checked(8).ok_or(StateError::Magic)?;
        let t = u64::from_le_bytes(t.try_into().map_err(|_| StateError::Magic)?);
        let n = u64::from_le_bytes(n.try_into().map_err(|_| StateError::Magic)?);
        let expected = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(8))
            .and_then(|b| b.checked_add(HEAD + 8))
            .ok_or(StateError::Magic)?;
        if expected != bytes.len() {
            return Err(StateError::Length {
                expected,
                actual: bytes.len(),
            });
        }
        let mut s = Self::new(config);
        s.enabled_at_us = match flag {
            0 => None,
            1 => Some(t),
            _ => return Err(StateError::Magic),
        };
        for chunk in hashes.chunks_exact(8) {
            let h = u64::from_le_bytes(chunk.try_into().map_err(|_| StateError::Magic)?);
            s.insert(h);
        }
        s.evict();
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3_600_000_000;

    fn cfg() -> FirstSeenConfig {
        FirstSeenConfig {
            learning_period_us: DAY,
            max_entries: 1000,
        }
    }

    #[test]
    fn learning_period_then_novelty_per_scope() {
        let mut f = FirstSeen::new(cfg());
        let n = f.observe(0, "mail", "imap.example.com");
        assert!(n.learning && n.new_registrable_device && !n.is_reportable());
        let n = f.observe(2 * DAY, "mail", "smtp.example.com");
        assert!(!n.learning);
        assert!(!n.new_registrable_device && !n.new_registrable_app);
        assert!(n.new_name_device && n.new_name_app && n.is_reportable());
        let n = f.observe(2 * DAY, "chat", "IMAP.example.com.");
        assert!(!n.new_registrable_device && !n.new_name_device);
        assert!(n.new_registrable_app && n.new_name_app);
        let n = f.observe(2 * DAY, "chat", "imap.example.com");
        assert_eq!(n, Novelty::default());
        let n = f.observe(2 * DAY, "chat", "brand-new.example");
        assert!(n.new_registrable_device);
    }

    #[test]
    fn persists_and_restores() {
        let mut f = FirstSeen::new(cfg());
        for i in 0..50 {
            f.observe(i, "a", &format!("h{i}.example.org"));
        }
        let bytes = f.to_bytes();
        let mut g = FirstSeen::from_bytes(cfg(), &bytes).unwrap();
        assert_eq!(g.len(), f.len());
        assert_eq!(g.to_bytes(), bytes);
        // Learning period is measured from the original enable time.
        let n = g.observe(2 * DAY, "a", "h3.example.org");
        assert!(!n.learning && !n.is_reportable());
        assert!(g.observe(2 * DAY, "a", "h3.example.net").is_reportable());
    }

    #[test]
    fn rejects_corrupt_state_without_panicking() {
        let mut f = FirstSeen::new(cfg());
        f.observe(5, "a", "x.example");
        let bytes = f.to_bytes();
        for i in 0..bytes.len() {
            let mut c = bytes.clone();
            c[i] ^= 0x01;
            assert!(FirstSeen::from_bytes(cfg(), &c).is_err(), "flip {i}");
            assert!(
                FirstSeen::from_bytes(cfg(), &bytes[..i]).is_err(),
                "cut {i}"
            );
        }
        assert_eq!(
            FirstSeen::from_bytes(cfg(), &[]).unwrap_err(),
            StateError::Length {
                expected: 33,
                actual: 0
            }
        );
    }

    #[test]
    fn bounded_and_evicts_oldest() {
        let small = FirstSeenConfig {
            learning_period_us: 0,
            max_entries: 40,
        };
        let mut f = FirstSeen::new(small);
        for i in 0..100 {
            f.observe(i, "a", &format!("d{i}.example"));
        }
        assert_eq!(f.len(), 40);
        assert_eq!(f.counters().evicted, 400 - 40);
        assert!(f.observe(200, "a", "d0.example").new_registrable_device);
        assert!(!f.observe(200, "a", "d99.example").new_registrable_device);
        // Restoring into a smaller cap drops the oldest.
        let g = FirstSeen::from_bytes(
            FirstSeenConfig {
                learning_period_us: 0,
                max_entries: 8,
            },
            &f.to_bytes(),
        )
        .unwrap();
        assert_eq!(g.len(), 8);
    }
}

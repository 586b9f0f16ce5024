//! IP-to-name cache: which name did a client ask for before connecting to an address.
//!
//! Every A/AAAA answer and HTTPS/SVCB address hint maps its address to the name in
//! the question (following the CNAME chain inside the response), because that is the
//! name the app meant; the end of the chain is kept as the canonical name. Entries
//! outlive their TTL by a grace period since apps keep connecting to addresses long
//! after the TTL ran out.
//!
//! Memory is bounded by `max_entries` addresses × `max_names_per_ip` names. Eviction
//! drops the address updated least recently: a hash map plus a queue of
//! (address, generation) in update order, where queue entries whose generation no
//! longer matches are skipped and periodically compacted away (O(1) amortised).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::message::{AnswerData, DnsMessage};

type RandomState = foldhash::fast::RandomState;

/// Caps and timers of [`NameCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameCacheConfig {
    /// Addresses kept; beyond it the least recently updated address is evicted.
    pub max_entries: usize,
    /// Names kept per address (CDN addresses serve many); the most recent win.
    pub max_names_per_ip: usize,
    /// How long past its TTL an entry is still returned (flagged `expired_in_grace`).
    pub grace_us: u64,
    /// TTLs above this are clamped, so a hostile answer cannot pin an entry forever.
    pub max_ttl_secs: u32,
    /// CNAME links followed from the question name.
    pub max_cname_depth: usize,
    /// Distinct names remembered per address for [`NameCache::distinct_names`].
    pub max_tracked_names: usize,
    /// Window over which [`NameCache::distinct_names`] counts.
    pub distinct_window_us: u64,
}

impl Default for NameCacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 16_384,
            max_names_per_ip: 4,
            grace_us: 300_000_000,
            max_ttl_secs: 86_400,
            max_cname_depth: 16,
            max_tracked_names: 16,
            distinct_window_us: 3_600_000_000,
        }
    }
}

/// What the cache has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameCacheCounters {
    /// Address→name mappings stored (new or refreshed).
    pub inserted: u64,
    /// Addresses evicted because the cache was full.
    pub evicted: u64,
    /// Names dropped because their address already held `max_names_per_ip` newer ones.
    pub displaced: u64,
    /// Names dropped after TTL plus grace.
    pub expired: u64,
    /// Address answers whose owner was not reachable from the question via CNAMEs
    /// (stored under their own owner name).
    pub unlinked_answers: u64,
}

/// A name found for an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHit {
    /// The name the client asked for (lowercased, no trailing dot).
    pub name: Arc<str>,
    /// The end of the CNAME chain, when it differs from `name`.
    pub canonical: Option<Arc<str>>,
    /// The app whose lookup produced the entry, when known.
    pub app: Option<u32>,
    /// When the response was seen.
    pub resolved_at_us: u64,
    /// The TTL has run out but the grace period has not.
    pub expired_in_grace: bool,
}

#[derive(Debug, Clone)]
struct NameEntry {
    name: Arc<str>,
    canonical: Option<Arc<str>>,
    app: Option<u32>,
    resolved_at_us: u64,
    expires_at_us: u64,
}

#[derive(Debug)]
struct IpEntry {
    generation: u64,
    /// Oldest first.
    names: Vec<NameEntry>,
    /// (hash of name, last seen) of recent distinct names, for the CDN signal.
    seen: Vec<(u64, u64)>,
}

/// Bounded IP-to-name cache. Sans-IO: time comes in `now_us`.
#[derive(Debug)]
pub struct NameCache {
    config: NameCacheConfig,
    map: HashMap<IpAddr, IpEntry, RandomState>,
    order: VecDeque<(IpAddr, u64)>,
    next_generation: u64,
    names_held: usize,
    name_bytes: usize,
    name_hasher: foldhash::fast::FixedState,
    counters: NameCacheCounters,
}

impl Default for NameCache {
    fn default() -> Self {
        Self::new(NameCacheConfig::default())
    }
}

impl NameCache {
    /// Empty cache with the given caps.
    pub fn new(config: NameCacheConfig) -> Self {
        let config = NameCacheConfig {
            max_entries: config.max_entries.max(1),
            max_names_per_ip: config.max_names_per_ip.max(1),
            ..config
        };
        Self {
            config,
            map: HashMap::with_hasher(RandomState::default()),
            order: VecDeque::new(),
            next_generation: 0,
            names_held: 0,
            name_bytes: 0,
            name_hasher: foldhash::fast::FixedState::default(),
            counters: NameCacheCounters::default(),
        }
    }

    /// Addresses held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no address is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counters since creation.
    pub fn counters(&self) -> NameCacheCounters {
        self.counters
    }

    /// Approximate heap bytes held (tables at capacity, entries, name strings counted
    /// once per reference, so an upper bound).
    pub fn approx_bytes(&self) -> usize {
        use core::mem::size_of;
        self.map.capacity() * (size_of::<IpAddr>() + size_of::<IpEntry>() + 1)
            + self.order.capacity() * size_of::<(IpAddr, u64)>()
            + self.names_held * size_of::<NameEntry>()
            + self.map.len() * self.config.max_tracked_names * size_of::<(u64, u64)>()
            + self.name_bytes
    }

    /// Learns the addresses in a response. `app` is the uid/app id that sent the query.
    pub fn on_response(&mut self, now_us: u64, app: Option<u32>, msg: &DnsMessage) {
        if !msg.is_response || msg.rcode != 0 {
            return;
        }
        let Some(question) = msg.question() else {
            // Without a question there is no asked name; owners are all we have.
            for a in &msg.answers {
                self.learn_record(now_us, app, &a.name, None, a);
            }
            return;
        };
        let chain = self.cname_chain(msg, &question.name);
        let asked: Arc<str> = Arc::from(question.name.as_str());
        let canonical: Option<Arc<str>> = chain
            .last()
            .filter(|c| **c != question.name.as_str())
            .map(|c| Arc::from(*c));
        for a in &msg.answers {
            if chain.contains(&a.name.as_str()) {
                self.learn_addresses(now_us, app, &asked, canonical.as_ref(), a);
            } else if has_address(&a.data) {
                self.counters.unlinked_answers += 1;
                self.learn_record(now_us, app, &a.name, None, a);
            }
        }
    }

    /// The question name followed through CNAME answers, without repeats (loop-safe).
    fn cname_chain<'m>(&self, msg: &'m DnsMessage, qname: &'m str) -> Vec<&'m str> {
        let mut chain = vec![qname];
        let mut current = qname;
        for _ in 0..self.config.max_cname_depth {
            let next = msg.answers.iter().find_map(|a| match &a.data {
                AnswerData::Cname(target) if a.name == current => Some(target.as_str()),
                _ => None,
            });
            match next {
                Some(t) if !chain.contains(&t) => {
                    chain.push(t);
                    current = t;
                }
                _ => break,
            }
        }
        chain
    }

    fn learn_record(
        &mut self,
        now_us: u64,
        app: Option<u32>,
        owner: &str,
        canonical: Option<&Arc<str>>,
        a: &crate::message::Answer,
    ) {
        if has_address(&a.data) {
            let name: Arc<str> = Arc::from(owner);
            self.learn_addresses(now_us, app, &name, canonical, a);
        }
    }

    fn learn_addresses(
        &mut self,
        now_us: u64,
        app: Option<u32>,
        name: &Arc<str>,
        canonical: Option<&Arc<str>>,
        a: &crate::message::Answer,
    ) {
        let ttl = a.ttl.min(self.config.max_ttl_secs);
        match &a.data {
            AnswerData::A(ip) => self.insert(now_us, IpAddr::V4(*ip), name, canonical, app, ttl),
            AnswerData::Aaaa(ip) => {
                self.insert(now_us, IpAddr::V6(*ip), name, canonical, app, ttl);
            }
            AnswerData::ServiceBinding(sb) => {
                for ip in &sb.ipv4_hints {
                    self.insert(now_us, IpAddr::V4(*ip), name, canonical, app, ttl);
                }
                for ip in &sb.ipv6_hints {
                    self.insert(now_us, IpAddr::V6(*ip), name, canonical, app, ttl);
                }
            }
            _ => {}
        }
    }

    /// Stores `ip → name` learned at `now_us` with `ttl_secs`.
    pub fn insert(
        &mut self,
        now_us: u64,
        ip: IpAddr,
        name: &Arc<str>,
        canonical: Option<&Arc<str>>,
        app: Option<u32>,
        ttl_secs: u32,
    ) {
        self.counters.inserted += 1;
        let generation = self.next_generation;
        self.next_generation += 1;
        if !self.map.contains_key(&ip) && self.map.len() >= self.config.max_entries {
            self.evict_one();
        }
        let name_hash = self.name_hasher.hash_one(&**name);
        let grace = self.config.grace_us;
        let max_names = self.config.max_names_per_ip;
        let max_tracked = self.config.max_tracked_names;
        let window = self.config.distinct_window_us;
        let entry = self.map.entry(ip).or_insert_with(|| IpEntry {
            generation,
            names: Vec::new(),
            seen: Vec::new(),
        });
        entry.generation = generation;

        let mut removed_bytes = 0usize;
        let mut expired = 0usize;
        let mut refreshed = 0usize;
        entry.names.retain(|n| {
            let is_expired = n.expires_at_us.saturating_add(grace) < now_us;
            let is_same = *n.name == **name && n.app == app;
            if is_expired || is_same {
                removed_bytes += entry_bytes(n);
                if is_expired {
                    expired += 1;
                } else {
                    refreshed += 1;
                }
            }
            !(is_expired || is_same)
        });
        let new_entry = NameEntry {
            name: Arc::clone(name),
            canonical: canonical.cloned(),
            app,
            resolved_at_us: now_us,
            expires_at_us: now_us.saturating_add(u64::from(ttl_secs) * 1_000_000),
        };
        let added_bytes = entry_bytes(&new_entry);
        entry.names.push(new_entry);
        let mut displaced = 0;
        while entry.names.len() > max_names {
            let old = entry.names.remove(0);
            removed_bytes += entry_bytes(&old);
            displaced += 1;
        }

        match entry.seen.iter_mut().find(|(h, _)| *h == name_hash) {
            Some(seen) => seen.1 = now_us,
            None => {
                entry
                    .seen
                    .retain(|(_, at)| now_us.saturating_sub(*at) <= window);
                if entry.seen.len() >= max_tracked.max(1)
                    && let Some(oldest) = entry
                        .seen
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, at))| *at)
                        .map(|(i, _)| i)
                {
                    entry.seen.swap_remove(oldest);
                }
                entry.seen.push((name_hash, now_us));
            }
        }

        // Refreshes of the same name are not expiries; count only what timed out.
        self.counters.expired += expired as u64;
        self.counters.displaced += displaced as u64;
        self.names_held = (self.names_held + 1).saturating_sub(expired + refreshed + displaced);
        self.name_bytes = (self.name_bytes + added_bytes).saturating_sub(removed_bytes);
        self.order.push_back((ip, generation));
        if self.order.len() > 2 * self.config.max_entries + 16 {
            let map = &self.map;
            self.order
                .retain(|(ip, g)| map.get(ip).is_some_and(|e| e.generation == *g));
        }
    }

    fn evict_one(&mut self) {
        while let Some((ip, generation)) = self.order.pop_front() {
            if self
                .map
                .get(&ip)
                .is_some_and(|e| e.generation == generation)
                && let Some(entry) = self.map.remove(&ip)
            {
                self.forget(&entry);
                self.counters.evicted += 1;
                return;
            }
        }
    }

    fn forget(&mut self, entry: &IpEntry) {
        self.names_held = self.names_held.saturating_sub(entry.names.len());
        let bytes: usize = entry.names.iter().map(entry_bytes).sum();
        self.name_bytes = self.name_bytes.saturating_sub(bytes);
    }

    /// The name that most recently resolved to `ip`, preferring one learned for `app`
    /// when `app` is known and such an entry exists. Entries past TTL + grace are ignored.
    pub fn lookup(&self, now_us: u64, ip: IpAddr, app: Option<u32>) -> Option<NameHit> {
        let entry = self.map.get(&ip)?;
        let live = |n: &&NameEntry| n.expires_at_us.saturating_add(self.config.grace_us) >= now_us;
        let newest_live = entry.names.iter().rev().filter(live);
        let hit = app
            .and_then(|app| newest_live.clone().find(|n| n.app == Some(app)))
            .or_else(|| newest_live.clone().next())?;
        Some(NameHit {
            name: Arc::clone(&hit.name),
            canonical: hit.canonical.clone(),
            app: hit.app,
            resolved_at_us: hit.resolved_at_us,
            expired_in_grace: now_us > hit.expires_at_us,
        })
    }

    /// How many distinct names `ip` served within the distinct-name window
    /// (saturates at `max_tracked_names`): a CDN/shared-hosting signal.
    pub fn distinct_names(&self, now_us: u64, ip: IpAddr) -> usize {
        self.map.get(&ip).map_or(0, |e| {
            e.seen
                .iter()
                .filter(|(_, at)| now_us.saturating_sub(*at) <= self.config.distinct_window_us)
                .count()
        })
    }

    /// Drops names past TTL + grace from the least recently updated addresses, stopping
    /// at the first address that still holds a live name or after `max_work` addresses.
    pub fn expire(&mut self, now_us: u64, max_work: usize) {
        let grace = self.config.grace_us;
        for _ in 0..max_work {
            let Some(&(ip, generation)) = self.order.front() else {
                return;
            };
            let Some(entry) = self.map.get_mut(&ip).filter(|e| e.generation == generation) else {
                self.order.pop_front();
                continue;
            };
            let before = entry.names.len();
            let mut bytes = 0;
            entry.names.retain(|n| {
                let keep = n.expires_at_us.saturating_add(grace) >= now_us;
                if !keep {
                    bytes += entry_bytes(n);
                }
                keep
            });
            let dropped = before - entry.names.len();
            let now_empty = entry.names.is_empty();
            self.counters.expired += dropped as u64;
            self.names_held = self.names_held.saturating_sub(dropped);
            self.name_bytes = self.name_bytes.saturating_sub(bytes);
            if !now_empty {
                return;
            }
            self.order.pop_front();
            self.map.remove(&ip);
        }
    }
}

fn has_address(data: &AnswerData) -> bool {
    match data {
        AnswerData::A(_) | AnswerData::Aaaa(_) => true,
        AnswerData::ServiceBinding(sb) => !sb.ipv4_hints.is_empty() || !sb.ipv6_hints.is_empty(),
        _ => false,
    }
}

/// Heap bytes of one entry's strings, counting a shared string once per reference.
fn entry_bytes(n: &NameEntry) -> usize {
    // Arc<str> allocations carry two reference counts before the bytes.
    const ARC_HEADER: usize = 2 * core::mem::size_of::<usize>();
    ARC_HEADER + n.name.len() + n.canonical.as_ref().map_or(0, |c| ARC_HEADER + c.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_messages::Msg;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    const T0: u64 = 1_700_000_000_000_000;
    const SEC: u64 = 1_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn a_response(qname: &str, ttl: u32, addr: &str) -> DnsMessage {
        Msg::response(1, qname, RecordType::A)
            .a(qname, ttl, addr.parse().unwrap())
            .parsed()
    }

    #[test]
    fn a_and_aaaa_map_to_the_question() {
        let mut c = NameCache::default();
        let m = Msg::response(1, "Www.Example.com.", RecordType::A)
            .a("www.example.com.", 60, "192.0.2.1".parse().unwrap())
            .aaaa("www.example.com.", 60, "2001:db8::1".parse().unwrap())
            .parsed();
        c.on_response(T0, Some(10), &m);
        let hit = c.lookup(T0 + SEC, ip("192.0.2.1"), Some(10)).unwrap();
        assert_eq!(&*hit.name, "www.example.com");
        assert_eq!(hit.canonical, None);
        assert_eq!(hit.app, Some(10));
        assert_eq!(hit.resolved_at_us, T0);
        assert!(!hit.expired_in_grace);
        assert_eq!(
            &*c.lookup(T0, ip("2001:db8::1"), None).unwrap().name,
            "www.example.com"
        );
        assert_eq!(c.lookup(T0, ip("192.0.2.2"), None), None);
        assert_eq!(c.len(), 2);
        assert_eq!(c.counters().inserted, 2);
    }

    #[test]
    fn cname_chain_maps_to_asked_name_and_keeps_canonical() {
        let mut c = NameCache::default();
        let m = Msg::response(1, "api.app.example.", RecordType::A)
            .cname("api.app.example.", 300, "api.app.example.cdn.net.")
            .cname("api.app.example.cdn.net.", 300, "e123.edge.cdn.net.")
            .a("e123.edge.cdn.net.", 20, "198.51.100.4".parse().unwrap())
            .parsed();
        c.on_response(T0, None, &m);
        let hit = c.lookup(T0, ip("198.51.100.4"), None).unwrap();
        assert_eq!(&*hit.name, "api.app.example");
        assert_eq!(hit.canonical.as_deref(), Some("e123.edge.cdn.net"));
        assert_eq!(c.counters().unlinked_answers, 0);
    }

    #[test]
    fn cname_loop_terminates() {
        let mut c = NameCache::default();
        let m = Msg::response(1, "a.example.", RecordType::A)
            .cname("a.example.", 1, "b.example.")
            .cname("b.example.", 1, "a.example.")
            .a("b.example.", 60, "192.0.2.77".parse().unwrap())
            .parsed();
        c.on_response(T0, None, &m);
        let hit = c.lookup(T0, ip("192.0.2.77"), None).unwrap();
        assert_eq!(&*hit.name, "a.example");
        assert_eq!(hit.canonical.as_deref(), Some("b.example"));
    }

    #[test]
    fn unrelated_owner_is_stored_under_its_own_name() {
        let mut c = NameCache::default();
        let m = Msg::response(1, "asked.example.", RecordType::A)
            .a("other.example.", 60, "192.0.2.8".parse().unwrap())
            .parsed();
        c.on_response(T0, None, &m);
        assert_eq!(
            &*c.lookup(T0, ip("192.0.2.8"), None).unwrap().name,
            "other.example"
        );
        assert_eq!(c.counters().unlinked_answers, 1);
    }

    #[test]
    fn https_hints_are_learned() {
        let mut c = NameCache::default();
        let m = Msg::response(1, "cloudflare.example.", RecordType::HTTPS)
            .https(
                "cloudflare.example.",
                300,
                ".",
                &["h3"],
                &["104.16.132.229".parse().unwrap()],
                &["2606:4700::6810:84e5".parse().unwrap()],
            )
            .parsed();
        c.on_response(T0, None, &m);
        for a in ["104.16.132.229", "2606:4700::6810:84e5"] {
            assert_eq!(
                &*c.lookup(T0, ip(a), None).unwrap().name,
                "cloudflare.example"
            );
        }
    }

    #[test]
    fn failures_and_queries_teach_nothing() {
        let mut c = NameCache::default();
        let nx = Msg::response(1, "x.example.", RecordType::A)
            .a("x.example.", 60, "192.0.2.1".parse().unwrap())
            .rcode(ResponseCode::ServFail)
            .parsed();
        c.on_response(T0, None, &nx);
        let q = Msg::query(1, "x.example.", RecordType::A).parsed();
        c.on_response(T0, None, &q);
        assert!(c.is_empty());
    }

    #[test]
    fn most_recent_name_wins() {
        let mut c = NameCache::default();
        c.on_response(T0, None, &a_response("old.example.", 300, "192.0.2.1"));
        c.on_response(
            T0 + SEC,
            None,
            &a_response("new.example.", 300, "192.0.2.1"),
        );
        assert_eq!(
            &*c.lookup(T0 + 2 * SEC, ip("192.0.2.1"), None).unwrap().name,
            "new.example"
        );
        // Re-resolving the old name makes it the most recent again.
        c.on_response(
            T0 + 3 * SEC,
            None,
            &a_response("old.example.", 300, "192.0.2.1"),
        );
        assert_eq!(
            &*c.lookup(T0 + 4 * SEC, ip("192.0.2.1"), None).unwrap().name,
            "old.example"
        );
    }

    #[test]
    fn same_app_entry_is_preferred() {
        let mut c = NameCache::default();
        c.on_response(T0, Some(1), &a_response("mail.example.", 300, "192.0.2.9"));
        c.on_response(
            T0 + SEC,
            Some(2),
            &a_response("ads.example.", 300, "192.0.2.9"),
        );
        let at = T0 + 2 * SEC;
        assert_eq!(
            &*c.lookup(at, ip("192.0.2.9"), Some(1)).unwrap().name,
            "mail.example"
        );
        assert_eq!(
            &*c.lookup(at, ip("192.0.2.9"), Some(2)).unwrap().name,
            "ads.example"
        );
        // Unknown app, or an app with no entry of its own: the most recent overall.
        assert_eq!(
            &*c.lookup(at, ip("192.0.2.9"), None).unwrap().name,
            "ads.example"
        );
        assert_eq!(
            &*c.lookup(at, ip("192.0.2.9"), Some(3)).unwrap().name,
            "ads.example"
        );
    }

    #[test]
    fn ttl_then_grace_then_gone() {
        let mut c = NameCache::new(NameCacheConfig {
            grace_us: 300 * SEC,
            ..NameCacheConfig::default()
        });
        c.on_response(T0, None, &a_response("t.example.", 60, "192.0.2.3"));
        let addr = ip("192.0.2.3");
        assert!(
            !c.lookup(T0 + 60 * SEC, addr, None)
                .unwrap()
                .expired_in_grace
        );
        assert!(
            c.lookup(T0 + 61 * SEC, addr, None)
                .unwrap()
                .expired_in_grace
        );
        assert!(c.lookup(T0 + 360 * SEC, addr, None).is_some());
        assert_eq!(c.lookup(T0 + 360 * SEC + 1, addr, None), None);
        // A newer live name is returned instead of an expired older one.
        c.on_response(
            T0 + 400 * SEC,
            None,
            &a_response("u.example.", 60, "192.0.2.3"),
        );
        assert_eq!(
            &*c.lookup(T0 + 401 * SEC, addr, None).unwrap().name,
            "u.example"
        );
        assert_eq!(c.counters().expired, 1);
        c.expire(T0 + 10_000 * SEC, 10);
        assert!(c.is_empty());
        assert_eq!(c.counters().expired, 2);
    }

    #[test]
    fn ttl_is_clamped() {
        let mut c = NameCache::default();
        c.on_response(
            T0,
            None,
            &a_response("forever.example.", u32::MAX, "192.0.2.4"),
        );
        let after = T0 + (86_400 + 301) * SEC;
        assert_eq!(c.lookup(after, ip("192.0.2.4"), None), None);
    }

    #[test]
    fn capacity_evicts_least_recently_updated() {
        let mut c = NameCache::new(NameCacheConfig {
            max_entries: 3,
            ..NameCacheConfig::default()
        });
        for (i, a) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].iter().enumerate() {
            c.on_response(T0 + i as u64, None, &a_response("n.example.", 60, a));
        }
        // Refresh .1 so .2 becomes the least recently updated.
        c.on_response(T0 + 10, None, &a_response("m.example.", 60, "192.0.2.1"));
        c.on_response(T0 + 11, None, &a_response("n.example.", 60, "192.0.2.4"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(T0 + 12, ip("192.0.2.2"), None), None);
        assert!(c.lookup(T0 + 12, ip("192.0.2.1"), None).is_some());
        assert_eq!(c.counters().evicted, 1);
    }

    #[test]
    fn names_per_ip_are_capped_but_distinct_count_goes_on() {
        let mut c = NameCache::default();
        for i in 0..6u64 {
            let name = format!("site{i}.example.");
            c.on_response(T0 + i, None, &a_response(&name, 60, "203.0.113.1"));
        }
        let addr = ip("203.0.113.1");
        assert_eq!(c.map.get(&addr).unwrap().names.len(), 4);
        assert_eq!(c.counters().displaced, 2);
        assert_eq!(c.distinct_names(T0 + 10, addr), 6);
        assert_eq!(
            &*c.lookup(T0 + 10, addr, None).unwrap().name,
            "site5.example"
        );
        // The same name again does not count twice.
        c.on_response(
            T0 + 20,
            None,
            &a_response("site5.example.", 60, "203.0.113.1"),
        );
        assert_eq!(c.distinct_names(T0 + 20, addr), 6);
        // Outside the window nothing is counted.
        assert_eq!(c.distinct_names(T0 + 3_600 * SEC + 21, addr), 0);
    }

    #[test]
    fn memory_stays_bounded_under_churn() {
        let mut c = NameCache::new(NameCacheConfig {
            max_entries: 1_000,
            ..NameCacheConfig::default()
        });
        let name: Arc<str> = Arc::from("churn.example.com");
        for i in 0..1_000u32 {
            c.insert(T0, IpAddr::from(i.to_be_bytes()), &name, None, None, 60);
        }
        let full = c.approx_bytes();
        assert!(full > 1_000 * name.len());
        for i in 1_000..200_000u32 {
            c.insert(
                T0 + u64::from(i),
                IpAddr::from(i.to_be_bytes()),
                &name,
                None,
                None,
                60,
            );
        }
        assert_eq!(c.len(), 1_000);
        assert!(
            c.approx_bytes() <= 2 * full,
            "{} vs {full}",
            c.approx_bytes()
        );
        assert_eq!(c.counters().evicted, 199_000);
    }
}

//! The compiled index, opened read-only (memory-mapped) and queried on the packet path.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use xorf::{BinaryFuse16, BinaryFuse16Ref, DmaSerializable, Filter, FilterRef};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CorruptIndex, IntelError};
use crate::format::{
    AUX_SIZE, DIR_SIZE, DOMAIN_PARAMS_SIZE, DOMAIN_RECORD_SIZE, FEED_SIZE, FILTER_DESCRIPTOR_LEN,
    FLAG_ALLOW, FLAG_SUBDOMAINS_ONLY, HEADER_LEN, MAGIC, META_SIZE, Meta, NONE, ROOT_KEY, SECTIONS,
    Section, TABLE_OFFSET, V4_ENTRY_SIZE, V6_ENTRY_SIZE, VERSION, home_slot, home_slots, label_key,
    name_confirm, prefetch, record, string_at, u32_at, u64_at, u128_at,
};
use crate::indicator::{IndicatorKind, Severity};
use crate::normalize::{Host, MAX_NAME_LEN, fast_lower, normalize_host};
use crate::verdict::{
    DomainSuffix, IndicatorIdRef, MatchRef, MatchedRef, Provenance, ProvenanceRef, Verdict,
    VerdictRef,
};

#[derive(Debug)]
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// Sizes and counts of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Domain entries (a name listed by two feeds counts twice).
    pub domain_entries: u64,
    /// IPv4 address/network entries.
    pub ipv4_entries: u64,
    /// IPv6 address/network entries.
    pub ipv6_entries: u64,
    /// Non-network indicators kept for the host app.
    pub other_entries: u64,
    /// Feeds.
    pub feeds: u64,
    /// Whole file size in bytes.
    pub file_bytes: u64,
    /// Fuse-filter bytes (touched by every domain lookup).
    pub filter_bytes: u64,
    /// Build time recorded in the header (µs since the epoch).
    pub built_at_us: u64,
}

/// A non-network indicator (app id, file hash, path, …) for the host app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherIndicator {
    /// The value (`app:id` value, `sha256:…`, or `object:path=value`).
    pub value: String,
    /// Its provenance.
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Copy)]
struct DirEntry {
    prefix: u8,
    start: usize,
    count: usize,
}

/// A compiled, read-only index. Cheap to query from any thread (`&self`, no interior mutation).
#[derive(Debug)]
pub struct Index {
    storage: Storage,
    sections: [Range<usize>; SECTIONS],
    v4_dir: Vec<DirEntry>,
    v6_dir: Vec<DirEntry>,
    /// Each feed's name, version and file, read once on open: every hit names its feed, and
    /// re-validating these strings in the mapping on each hit was a third of a hit's work.
    feeds: Vec<FeedNames>,
    /// Domain records (the table has more slots: see `home_slots`).
    domains: usize,
    /// Home slots of the domain table.
    slots: usize,
    /// Suffixes with fewer labels than any listed name are not looked up.
    min_labels: usize,
    /// No record sits further than this from its home slot, which bounds every scan.
    max_displacement: usize,
    built_at_us: u64,
    body_checksum: u64,
}

#[derive(Debug, Clone, Default)]
struct FeedNames {
    name: String,
    version: Option<String>,
    file: String,
}

/// A candidate found during a suffix walk.
#[derive(Debug, Clone, Copy)]
struct Hit {
    meta: Meta,
    line: u32,
}

/// A suffix the filter did not rule out: its key and where it starts in the query.
#[derive(Debug, Default, Clone, Copy)]
struct Candidate {
    key: u64,
    start: usize,
}

/// Candidates buffered before the table is read. Four covers a listed name with a few listed
/// parents; deeper walks probe in rounds.
const CANDIDATES: usize = 4;

/// The best allow and block seen so far in a suffix walk, each with the byte offset of its
/// suffix in the query.
#[derive(Debug, Default)]
struct Found {
    allow: Option<(usize, Hit)>,
    block: Option<(usize, Hit)>,
}

impl Index {
    /// Maps `path` read-only and validates it.
    pub fn open(path: &Path) -> Result<Index, IntelError> {
        let io = |source| IntelError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_LEN as u64 {
            return Err(CorruptIndex::Truncated.into());
        }
        let map = crate::mmap::map_read_only(&file).map_err(io)?;
        Index::from_storage(Storage::Mapped(map))
    }

    /// Validates an index held in memory (tests, or platforms without mmap).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Index, IntelError> {
        Index::from_storage(Storage::Owned(bytes))
    }

    fn from_storage(storage: Storage) -> Result<Index, IntelError> {
        let b: &[u8] = match &storage {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        };
        let header = b.get(..HEADER_LEN).ok_or(CorruptIndex::Truncated)?;
        if header.get(..8) != Some(&MAGIC[..]) {
            return Err(CorruptIndex::BadMagic.into());
        }
        let version = u32_at(header, 8).ok_or(CorruptIndex::Truncated)?;
        if version != VERSION {
            return Err(CorruptIndex::UnsupportedVersion(version).into());
        }
        let stored = u64_at(header, HEADER_LEN - 8).ok_or(CorruptIndex::Truncated)?;
        if xxh3_64(
            header
                .get(..HEADER_LEN - 8)
                .ok_or(CorruptIndex::Truncated)?,
        ) != stored
        {
            return Err(CorruptIndex::HeaderChecksum.into());
        }
        if u32_at(header, 12).and_then(|n| usize::try_from(n).ok()) != Some(SECTIONS) {
            return Err(CorruptIndex::Section(SECTIONS).into());
        }
        let built_at_us = u64_at(header, 16).ok_or(CorruptIndex::Truncated)?;
        let body_checksum = u64_at(header, 24).ok_or(CorruptIndex::Truncated)?;
        let mut sections: [Range<usize>; SECTIONS] = Default::default();
        for (i, slot) in sections.iter_mut().enumerate() {
            let at = TABLE_OFFSET + i * 16;
            let off = u64_at(header, at).and_then(|v| usize::try_from(v).ok());
            let len = u64_at(header, at + 8).and_then(|v| usize::try_from(v).ok());
            let (Some(off), Some(len)) = (off, len) else {
                return Err(CorruptIndex::Section(i).into());
            };
            let end = off.checked_add(len).ok_or(CorruptIndex::Section(i))?;
            if off < HEADER_LEN {
                return Err(CorruptIndex::Section(i).into());
            }
            if end > b.len() {
                return Err(CorruptIndex::Truncated.into());
            }
            *slot = off..end;
        }
        let sec_len = |s: Section| sections.get(s as usize).map_or(0, |r| r.len());
        let check = |s: Section, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(CorruptIndex::Section(s as usize))
            }
        };
        check(Section::Feeds, sec_len(Section::Feeds) % FEED_SIZE == 0)?;
        check(Section::Metas, sec_len(Section::Metas) % META_SIZE == 0)?;
        check(
            Section::Domains,
            sec_len(Section::Domains) % DOMAIN_RECORD_SIZE == 0,
        )?;
        check(
            Section::DomainParams,
            sec_len(Section::DomainParams) == DOMAIN_PARAMS_SIZE,
        )?;
        check(
            Section::V4Entries,
            sec_len(Section::V4Entries) % V4_ENTRY_SIZE == 0,
        )?;
        check(
            Section::V6Entries,
            sec_len(Section::V6Entries) % V6_ENTRY_SIZE == 0,
        )?;
        check(Section::Aux, sec_len(Section::Aux) % AUX_SIZE == 0)?;
        let slice = |s: Section| {
            sections
                .get(s as usize)
                .and_then(|r| b.get(r.clone()))
                .unwrap_or(&[])
        };
        check(Section::Filter, filter_is_sound(slice(Section::Filter)))?;
        let v4_dir = parse_dir(
            slice(Section::V4Dir),
            sec_len(Section::V4Entries) / V4_ENTRY_SIZE,
            32,
        )
        .ok_or(CorruptIndex::Section(Section::V4Dir as usize))?;
        let v6_dir = parse_dir(
            slice(Section::V6Dir),
            sec_len(Section::V6Entries) / V6_ENTRY_SIZE,
            128,
        )
        .ok_or(CorruptIndex::Section(Section::V6Dir as usize))?;
        let min_labels = u32_at(slice(Section::DomainParams), 0)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(CorruptIndex::Section(Section::DomainParams as usize))?;
        let max_displacement = u32_at(slice(Section::DomainParams), 4)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(CorruptIndex::Section(Section::DomainParams as usize))?;
        let strings = slice(Section::Strings);
        let feeds = slice(Section::Feeds)
            .chunks_exact(FEED_SIZE)
            .map(|f| {
                let s = |k: usize| {
                    let off = u32_at(f, k * 4).unwrap_or(NONE);
                    match string_at(strings, off) {
                        Some(s) => Ok(Some(s.to_owned())),
                        None if off == NONE => Ok(None),
                        None => Err(CorruptIndex::Section(Section::Feeds as usize)),
                    }
                };
                Ok(FeedNames {
                    name: s(0)?.unwrap_or_default(),
                    version: s(1)?,
                    file: s(2)?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, CorruptIndex>>()?;
        let domains = u64_at(slice(Section::DomainParams), 8)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(CorruptIndex::Section(Section::DomainParams as usize))?;
        // Only the table's size is checked here (reading it would page it in); every slot is
        // bounds-checked when a lookup reads it.
        let slots = home_slots(domains);
        let table = sec_len(Section::Domains) / DOMAIN_RECORD_SIZE;
        check(
            Section::Domains,
            domains < slots && table > slots && max_displacement < table,
        )?;
        Ok(Index {
            storage,
            sections,
            v4_dir,
            v6_dir,
            feeds,
            domains,
            slots,
            min_labels,
            max_displacement,
            built_at_us,
            body_checksum,
        })
    }

    /// Reads the whole body and checks its checksum. `open` does not (it would page the whole
    /// file in); the compiler calls this before replacing an index, and hosts may call it once
    /// after download.
    pub fn verify(&self) -> Result<(), IntelError> {
        let body = self.bytes().get(HEADER_LEN..).unwrap_or(&[]);
        if xxh3_64(body) == self.body_checksum {
            Ok(())
        } else {
            Err(CorruptIndex::BodyChecksum.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }

    fn section(&self, s: Section) -> &[u8] {
        self.sections
            .get(s as usize)
            .and_then(|r| self.bytes().get(r.clone()))
            .unwrap_or(&[])
    }

    /// Counts and sizes.
    pub fn stats(&self) -> IndexStats {
        let n = |s: Section, size: usize| (self.section(s).len() / size) as u64;
        let filter = self.section(Section::Filter).len();
        IndexStats {
            domain_entries: self.domains as u64,
            ipv4_entries: n(Section::V4Entries, V4_ENTRY_SIZE),
            ipv6_entries: n(Section::V6Entries, V6_ENTRY_SIZE),
            other_entries: n(Section::Aux, AUX_SIZE),
            feeds: n(Section::Feeds, FEED_SIZE),
            file_bytes: self.bytes().len() as u64,
            filter_bytes: filter.saturating_sub(FILTER_DESCRIPTOR_LEN) as u64,
            built_at_us: self.built_at_us,
        }
    }

    /// The verdict for a domain name at `now_us`. The name may be in any case, with a trailing
    /// dot, or Unicode; an address literal is looked up as an IP. Allocates the answer's strings
    /// on a match; [`lookup_domain_ref`](Self::lookup_domain_ref) does not.
    pub fn lookup_domain(&self, name: &str, now_us: u64) -> Verdict {
        self.lookup_domain_ref(name, now_us).to_verdict()
    }

    /// [`lookup_domain`](Self::lookup_domain) without allocating: the answer borrows its
    /// strings from the index. Only names that need IDNA mapping (non-ASCII, `xn--` labels) or
    /// are malformed take an allocating normalisation first.
    pub fn lookup_domain_ref(&self, name: &str, now_us: u64) -> VerdictRef<'_> {
        let mut buf = [0u8; MAX_NAME_LEN + 1];
        let owned;
        let name_bytes: &[u8] = match fast_lower(name, &mut buf) {
            // The fast path never passes a `:`, so only a dotted quad can be an address here.
            Some(b) if !ends_like_ipv4(b) => b,
            _ => match normalize_host(name) {
                Ok(Host::Domain(d)) => {
                    owned = d;
                    owned.as_bytes()
                }
                Ok(Host::Ip(ip)) => return self.lookup_ip_ref(ip, now_us),
                Err(_) => return VerdictRef::Clean,
            },
        };
        if self.domains == 0 {
            return VerdictRef::Clean;
        }
        // Shortest suffix first, keys chained label by label from the right. The filter holds
        // every listed name and all their suffixes, so the first suffix it rules out ends the
        // walk: a random name costs one probe, whatever its depth.
        //
        // The walk runs in two phases so that a hit pays one memory latency, not one per step:
        // the filter (a few MiB, mostly cache-resident) is asked about every suffix first, and
        // only then are the table records of the candidates read (a random read in a table of
        // tens of MiB: a DRAM miss), each prefetched as soon as its key is known, so the misses
        // overlap the filter probes instead of each following them.
        let mut found = Found::default();
        let recs = self.section(Section::Domains);
        let mut cands = [Candidate::default(); CANDIDATES];
        let mut n = 0usize;
        let mut key = ROOT_KEY;
        let mut labels = 0usize;
        let mut end = name_bytes.len();
        while let Some(head) = name_bytes.get(..end) {
            let start = head
                .iter()
                .rposition(|&c| c == b'.')
                .map_or(0, |dot| dot + 1);
            key = label_key(key, head.get(start..).unwrap_or_default());
            labels += 1;
            if labels >= self.min_labels {
                // Started before the filter answers, so a hit's table read overlaps the
                // probes; a miss wastes one line of bandwidth, not time.
                if let Some(rec) = record(recs, home_slot(key, self.slots), DOMAIN_RECORD_SIZE) {
                    prefetch(rec);
                }
                if !self.filter_contains(key) {
                    break;
                }
                if let Some(slot) = cands.get_mut(n) {
                    *slot = Candidate { key, start };
                    n += 1;
                } else {
                    // More maybe-suffixes than the buffer holds (deep names under a listed
                    // tree): probe what is buffered and go on. Probe order does not change
                    // the answer, which ranks by suffix position.
                    self.probe_candidates(name_bytes, &cands, now_us, &mut found);
                    cands = [Candidate { key, start }; CANDIDATES];
                    n = 1;
                }
            }
            let Some(next) = start.checked_sub(1) else {
                break;
            };
            end = next;
        }
        self.probe_candidates(
            name_bytes,
            cands.get(..n).unwrap_or_default(),
            now_us,
            &mut found,
        );
        match found {
            Found {
                allow: Some((at, hit)),
                ..
            } => VerdictRef::Allowed(self.domain_match(name_bytes, at, hit)),
            Found {
                block: Some((at, hit)),
                ..
            } => VerdictRef::Blocked(self.domain_match(name_bytes, at, hit)),
            Found { .. } => VerdictRef::Clean,
        }
    }

    /// Probes the table for each candidate suffix of `name`. Their home records were
    /// prefetched during the walk, so these reads are already in flight.
    fn probe_candidates(&self, name: &[u8], cands: &[Candidate], now_us: u64, found: &mut Found) {
        for c in cands {
            if let Some(suffix) = name.get(c.start..) {
                self.probe_domain(c.key, suffix, c.start == 0, now_us, c.start, found);
            }
        }
    }

    /// Checks the records of one suffix (starting at byte `at` of the query) whose key is `h1`.
    fn probe_domain(
        &self,
        h1: u64,
        suffix: &[u8],
        is_full_name: bool,
        now_us: u64,
        at: usize,
        found: &mut Found,
    ) {
        let recs = self.section(Section::Domains);
        // Ordered linear probing: from the key's home slot, records are sorted and a run ends
        // at a gap, so the scan stops at the first gap or larger key; usually one cache line.
        let home = home_slot(h1, self.slots);
        let mut h2 = None;
        for i in home..=home.saturating_add(self.max_displacement) {
            let Some(rec) = record(recs, i, DOMAIN_RECORD_SIZE) else {
                break;
            };
            let (Some(k), Some(meta_idx)) = (u64_at(rec, 0), u32_at(rec, 16)) else {
                break;
            };
            if meta_idx == NONE || k > h1 {
                break;
            }
            if k < h1 {
                continue;
            }
            let confirm = *h2.get_or_insert_with(|| name_confirm(suffix));
            if u64_at(rec, 8) != Some(confirm) {
                continue;
            }
            let Some(line) = u32_at(rec, 20) else {
                continue;
            };
            let Some(meta) = self.meta(meta_idx) else {
                continue;
            };
            if !meta.valid_at(now_us) || (is_full_name && meta.flags & FLAG_SUBDOMAINS_ONLY != 0) {
                continue;
            }
            let hit = Hit { meta, line };
            // Suffixes come shortest first: a later one is more specific. Any allow wins over
            // every block; the most specific allow is reported. Among blocks the most specific
            // wins, at the same suffix the highest severity.
            if meta.flags & FLAG_ALLOW != 0 {
                // A longer suffix starts earlier in the query.
                if found.allow.is_none_or(|(prev_at, _)| at < prev_at) {
                    found.allow = Some((at, hit));
                }
                continue;
            }
            let better = match found.block {
                None => true,
                Some((prev_at, prev)) => {
                    at < prev_at || (prev_at == at && meta.severity > prev.meta.severity)
                }
            };
            if better {
                found.block = Some((at, hit));
            }
        }
    }

    fn filter_contains(&self, key: u64) -> bool {
        let f = self.section(Section::Filter);
        let Some((desc, fps)) = f.split_at_checked(FILTER_DESCRIPTOR_LEN) else {
            // No filter: no domains.
            return false;
        };
        // xorf asserts u16 alignment. Sections are 8-aligned in the file and a mapping is
        // page-aligned, but an owned buffer may not be: then every key is a "maybe" and the
        // search below decides, which is slower but exact.
        if fps.as_ptr().align_offset(2) != 0 {
            return true;
        }
        // Soundness of the descriptor against `fps` was checked on open (`filter_is_sound`).
        BinaryFuse16Ref::from_dma(desc, fps).contains(&key)
    }

    fn meta(&self, idx: u32) -> Option<Meta> {
        let idx = usize::try_from(idx).ok()?;
        Meta::decode(record(self.section(Section::Metas), idx, META_SIZE)?)
    }

    #[inline]
    fn domain_match(&self, name: &[u8], at: usize, hit: Hit) -> MatchRef<'_> {
        // Lookups only see ASCII names of at most MAX_NAME_LEN bytes, so `new` always succeeds.
        let suffix = name
            .get(at..)
            .and_then(DomainSuffix::new)
            .unwrap_or_default();
        MatchRef {
            indicator: MatchedRef::Domain {
                suffix,
                subdomains_only: hit.meta.flags & FLAG_SUBDOMAINS_ONLY != 0,
            },
            provenance: self.provenance(hit),
        }
    }

    #[inline]
    fn provenance(&self, hit: Hit) -> ProvenanceRef<'_> {
        let strings = self.section(Section::Strings);
        let s = |off: u32| string_at(strings, off);
        let feed = usize::try_from(hit.meta.feed)
            .ok()
            .and_then(|i| self.feeds.get(i));
        let indicator_id = match s(hit.meta.stix_id) {
            Some(id) => IndicatorIdRef::Stix(id),
            None => IndicatorIdRef::Line {
                file: feed.map_or("", |f| f.file.as_str()),
                line: hit.line,
            },
        };
        let m = hit.meta;
        ProvenanceRef {
            feed: feed.map_or("", |f| f.name.as_str()),
            feed_version: feed.and_then(|f| f.version.as_deref()),
            indicator_id,
            name: s(m.name),
            category: s(m.category),
            family: s(m.family),
            severity: Severity::from_u8(m.severity),
            kind: IndicatorKind::from_u8(m.kind),
            valid_from_us: (m.valid_from_us != 0).then_some(m.valid_from_us),
            valid_until_us: (m.valid_until_us != u64::MAX).then_some(m.valid_until_us),
        }
    }

    /// The verdict for an address at `now_us`: exact entries and every containing network, v4 and
    /// v6 (IPv4-mapped IPv6 addresses are looked up as IPv4).
    pub fn lookup_ip(&self, ip: IpAddr, now_us: u64) -> Verdict {
        self.lookup_ip_ref(ip, now_us).to_verdict()
    }

    /// [`lookup_ip`](Self::lookup_ip) without allocating: the answer borrows from the index.
    pub fn lookup_ip_ref(&self, ip: IpAddr, now_us: u64) -> VerdictRef<'_> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let (dir, entries, size, key_len, bits) = match ip {
            IpAddr::V4(v4) => (
                &self.v4_dir,
                self.section(Section::V4Entries),
                V4_ENTRY_SIZE,
                4,
                u128::from(u32::from(v4)),
            ),
            IpAddr::V6(v6) => (
                &self.v6_dir,
                self.section(Section::V6Entries),
                V6_ENTRY_SIZE,
                16,
                u128::from(v6),
            ),
        };
        let width: u32 = if key_len == 4 { 32 } else { 128 };
        let key_at = |i: usize| -> Option<u128> {
            let r = record(entries, i, size)?;
            if key_len == 4 {
                u32_at(r, 0).map(u128::from)
            } else {
                u128_at(r, 0)
            }
        };
        let mut block: Option<(u8, Hit)> = None;
        for d in dir {
            let host_bits = width - u32::from(d.prefix);
            let masked = if host_bits >= 128 {
                0
            } else {
                bits >> host_bits << host_bits
            };
            let Some(end) = d.start.checked_add(d.count) else {
                continue;
            };
            let mut i = d.start
                + partition_point(d.count, |j| key_at(d.start + j).is_some_and(|k| k < masked));
            while i < end && key_at(i) == Some(masked) {
                let rec = record(entries, i, size);
                i += 1;
                let Some(rec) = rec else { break };
                let (Some(meta_idx), Some(line)) = (u32_at(rec, key_len), u32_at(rec, key_len + 4))
                else {
                    continue;
                };
                let Some(meta) = self.meta(meta_idx) else {
                    continue;
                };
                if !meta.valid_at(now_us) {
                    continue;
                }
                let hit = Hit { meta, line };
                if meta.flags & FLAG_ALLOW != 0 {
                    return VerdictRef::Allowed(self.net_match(ip, d.prefix, hit));
                }
                let better = match block {
                    None => true,
                    Some((p, prev)) => p == d.prefix && meta.severity > prev.meta.severity,
                };
                if better {
                    block = Some((d.prefix, hit));
                }
            }
        }
        match block {
            Some((prefix, hit)) => VerdictRef::Blocked(self.net_match(ip, prefix, hit)),
            None => VerdictRef::Clean,
        }
    }

    fn net_match(&self, ip: IpAddr, prefix: u8, hit: Hit) -> MatchRef<'_> {
        let net = match ip {
            IpAddr::V4(v4) => Ipv4Net::new(v4, prefix)
                .map(|n| IpNet::V4(n.trunc()))
                .unwrap_or(IpNet::from(ip)),
            IpAddr::V6(v6) => Ipv6Net::new(v6, prefix)
                .map(|n| IpNet::V6(n.trunc()))
                .unwrap_or(IpNet::from(ip)),
        };
        MatchRef {
            indicator: MatchedRef::Net(net),
            provenance: self.provenance(hit),
        }
    }

    /// Non-network indicators (app ids, file hashes, paths, …) kept for the host app.
    pub fn other_indicators(&self) -> impl Iterator<Item = OtherIndicator> + '_ {
        self.section(Section::Aux)
            .chunks_exact(AUX_SIZE)
            .filter_map(|rec| {
                let meta_idx = u32_at(rec, 0)?;
                let meta = self.meta(meta_idx)?;
                let value = string_at(self.section(Section::Strings), u32_at(rec, 4)?)?.to_owned();
                let line = u32_at(rec, 8)?;
                Some(OtherIndicator {
                    value,
                    provenance: self.provenance(Hit { meta, line }).to_provenance(),
                })
            })
    }
}

fn ends_like_ipv4(name: &[u8]) -> bool {
    name.last().is_some_and(u8::is_ascii_digit)
        && std::str::from_utf8(name).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok())
}

/// True when xorf can probe the filter without indexing outside the fingerprints: the
/// segment length is a power of two, the mask matches it, and the largest index the three hash
/// positions can take is in range. (Alignment is checked per probe, see `filter_contains`.)
fn filter_is_sound(f: &[u8]) -> bool {
    if f.is_empty() {
        return true;
    }
    let Some((desc, fps)) = f.split_at_checked(FILTER_DESCRIPTOR_LEN) else {
        return false;
    };
    debug_assert_eq!(BinaryFuse16::DESCRIPTOR_LEN, FILTER_DESCRIPTOR_LEN);
    let (Some(seg_len), Some(mask), Some(seg_count_len)) =
        (u32_at(desc, 8), u32_at(desc, 12), u32_at(desc, 16))
    else {
        return false;
    };
    // 16-bit fingerprints: whole ones only, and the largest probe h0 + 2·seg_len (h0 below
    // seg_count_len, the xor only touches bits inside a segment) must stay inside them.
    let count = fps.len() / 2;
    fps.len().is_multiple_of(2)
        && seg_len.is_power_of_two()
        && mask == seg_len - 1
        && seg_count_len % seg_len == 0
        && u64::from(seg_count_len) + 2 * u64::from(seg_len) <= count as u64
        && count <= u32::MAX as usize
}

fn parse_dir(b: &[u8], entries: usize, max_prefix: u8) -> Option<Vec<DirEntry>> {
    if !b.len().is_multiple_of(DIR_SIZE) || b.len() / DIR_SIZE > usize::from(max_prefix) + 1 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / DIR_SIZE);
    for rec in b.chunks_exact(DIR_SIZE) {
        let prefix = *rec.first()?;
        let start = usize::try_from(u32_at(rec, 4)?).ok()?;
        let count = usize::try_from(u32_at(rec, 8)?).ok()?;
        if prefix > max_prefix || start.checked_add(count)? > entries {
            return None;
        }
        out.push(DirEntry {
            prefix,
            start,
            count,
        });
    }
    Some(out)
}

/// First index in `0..n` for which `is_less` is false (`is_less` true on a prefix).
fn partition_point(n: usize, is_less: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_less(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::IndexBuilder;
    use crate::feed::{FeedOptions, parse_feed};
    use crate::indicator::{Indicator, IndicatorId, ListKind, Target};

    fn feed(name: &str, text: &str, list: ListKind) -> crate::feed::Feed {
        let mut o = FeedOptions::new(name);
        o.list = list;
        parse_feed(&format!("{name}.txt"), text, &o).unwrap()
    }

    fn index(block: &str, allow: &str) -> Index {
        let mut b = IndexBuilder::new();
        b.add_feed(&feed("block", block, ListKind::Block)).unwrap();
        if !allow.is_empty() {
            b.add_feed(&feed("allow", allow, ListKind::Allow)).unwrap();
        }
        Index::from_bytes(b.build(1).unwrap()).unwrap()
    }

    fn suffix(v: &Verdict) -> String {
        match v {
            Verdict::Blocked(m) | Verdict::Allowed(m) => m.indicator.to_string(),
            Verdict::Clean => "clean".into(),
        }
    }

    #[test]
    fn domain_matches_itself_and_subdomains_on_label_boundary() {
        let idx = index("example.org\nevil.test\n", "");
        for q in [
            "example.org",
            "a.example.org",
            "evil.some.example.org",
            "EXAMPLE.ORG.",
            "x.Evil.Test",
        ] {
            assert!(idx.lookup_domain(q, 5).is_blocked(), "{q}");
        }
        for q in [
            "badexample.org",
            "example.org.evil",
            "org",
            "example.com",
            "vil.test",
            "",
            "..",
            "a..example.org",
        ] {
            assert_eq!(idx.lookup_domain(q, 5), Verdict::Clean, "{q}");
        }
        let v = idx.lookup_domain("a.b.example.org", 5);
        assert_eq!(suffix(&v), "example.org");
        let Verdict::Blocked(m) = v else {
            unreachable!()
        };
        assert_eq!(m.provenance.feed, "block");
        assert_eq!(m.provenance.indicator_id, "block.txt:1");
        assert_eq!(m.provenance.severity, Severity::Medium);
    }

    #[test]
    fn most_specific_block_is_reported() {
        let idx = index("example.org\nsub.example.org\n", "");
        let v = idx.lookup_domain("x.sub.example.org", 5);
        assert_eq!(suffix(&v), "sub.example.org");
    }

    #[test]
    fn deep_entries_are_found_past_unlisted_parents() {
        // Only the deep names are listed: the walk must go on through `c.example` and
        // `b.c.example`, which the filter holds as suffixes of listed names.
        let idx = index("a.b.c.example\nz.y.example\n", "ok.a.b.c.example\n");
        assert!(idx.lookup_domain("x.a.b.c.example", 1).is_blocked());
        assert_eq!(
            suffix(&idx.lookup_domain("x.a.b.c.example", 1)),
            "a.b.c.example"
        );
        assert_eq!(idx.lookup_domain("b.c.example", 1), Verdict::Clean);
        assert_eq!(idx.lookup_domain("c.example", 1), Verdict::Clean);
        assert_eq!(idx.lookup_domain("x.b.c.example", 1), Verdict::Clean);
        assert!(idx.lookup_domain("q.ok.a.b.c.example", 1).is_allowed());
        assert!(idx.lookup_domain("z.y.example", 1).is_blocked());
        assert_eq!(idx.lookup_domain("y.example", 1), Verdict::Clean);
    }

    #[test]
    fn the_most_specific_allow_is_reported() {
        let idx = index("x.example.org\n", "example.org\nok.example.org\n");
        let Verdict::Allowed(m) = idx.lookup_domain("a.ok.example.org", 1) else {
            panic!("not allowed")
        };
        assert_eq!(m.indicator.to_string(), "ok.example.org");
        let Verdict::Allowed(m) = idx.lookup_domain("a.x.example.org", 1) else {
            panic!("not allowed")
        };
        assert_eq!(m.indicator.to_string(), "example.org");
    }

    #[test]
    fn wildcard_entries_match_only_subdomains() {
        let idx = index("*.wild.example\n", "");
        assert!(idx.lookup_domain("a.wild.example", 1).is_blocked());
        assert_eq!(
            suffix(&idx.lookup_domain("a.wild.example", 1)),
            "*.wild.example"
        );
        assert_eq!(idx.lookup_domain("wild.example", 1), Verdict::Clean);
    }

    #[test]
    fn idn_queries_match_punycode_entries() {
        let idx = index("bücher.example\n", "");
        assert!(idx.lookup_domain("xn--bcher-kva.example", 1).is_blocked());
        assert!(idx.lookup_domain("shop.BÜCHER.example", 1).is_blocked());
    }

    #[test]
    fn ips_exact_and_cidr_v4_v6() {
        let empty = Index::from_bytes(IndexBuilder::new().build(1).unwrap()).unwrap();
        assert_eq!(
            empty.lookup_ip("1.2.3.4".parse().unwrap(), 1),
            Verdict::Clean
        );
        assert_eq!(empty.lookup_domain("a.example", 1), Verdict::Clean);
        let mut b = IndexBuilder::new();
        let f = feed(
            "ips",
            "1.2.3.4\n10.0.0.0/8\n2001:db8::/32\n::2\n192.168.1.0/24\n192.168.1.128/25\n",
            ListKind::Block,
        );
        b.add_feed(&f).unwrap();
        let idx = Index::from_bytes(b.build(1).unwrap()).unwrap();
        let q = |s: &str| idx.lookup_ip(s.parse().unwrap(), 1);
        assert!(q("1.2.3.4").is_blocked());
        assert_eq!(q("1.2.3.0"), Verdict::Clean);
        assert_eq!(q("1.2.3.5"), Verdict::Clean);
        assert!(q("10.200.3.4").is_blocked());
        assert_eq!(suffix(&q("10.200.3.4")), "10.0.0.0/8");
        assert_eq!(q("11.0.0.0"), Verdict::Clean);
        assert!(q("2001:db8:ffff::1").is_blocked());
        assert_eq!(q("2001:db9::1"), Verdict::Clean);
        assert!(q("::2").is_blocked());
        assert_eq!(q("::1"), Verdict::Clean);
        assert!(
            q("::ffff:1.2.3.4").is_blocked(),
            "v4-mapped v6 is looked up as v4"
        );
        assert_eq!(
            suffix(&q("192.168.1.200")),
            "192.168.1.128/25",
            "longest prefix wins"
        );
        assert_eq!(suffix(&q("192.168.1.20")), "192.168.1.0/24");
        assert!(
            idx.lookup_domain("1.2.3.4", 1).is_blocked(),
            "address literal as a name"
        );
    }

    #[test]
    fn deep_walks_past_the_candidate_buffer_keep_the_most_specific_answer() {
        // Ten listed levels: more maybe-suffixes than one round of table probes holds.
        let mut name = String::from("example.org");
        let mut listed = vec![name.clone()];
        for i in 0..9 {
            name = format!("l{i}.{name}");
            listed.push(name.clone());
        }
        let idx = index(&listed.join("\n"), "");
        let deepest = listed.last().unwrap();
        let v = idx.lookup_domain(&format!("x.{deepest}"), 5);
        assert!(v.is_blocked());
        assert_eq!(suffix(&v), *deepest);
        // A side branch off the middle: its deepest listed parent answers.
        let v = idx.lookup_domain("x.side.l3.l2.l1.l0.example.org", 5);
        assert_eq!(suffix(&v), "l3.l2.l1.l0.example.org");
        // An allow found in an early round still beats blocks found in later rounds.
        let idx = index(&listed.join("\n"), "l0.example.org\n");
        let v = idx.lookup_domain(&format!("x.{deepest}"), 5);
        assert!(v.is_allowed(), "{v:?}");
        assert_eq!(suffix(&v), "l0.example.org");
    }

    #[test]
    fn allow_wins_over_block_including_parents() {
        let idx = index(
            "example.org\nads.good.example\nevil.example\n10.0.0.0/8\n",
            "good.example\nexample.org\n10.1.0.0/16\n",
        );
        assert!(idx.lookup_domain("example.org", 1).is_allowed());
        assert!(idx.lookup_domain("www.example.org", 1).is_allowed());
        // A blocklisted subdomain of an allowed parent is allowed.
        assert!(idx.lookup_domain("x.ads.good.example", 1).is_allowed());
        assert!(idx.lookup_domain("evil.example", 1).is_blocked());
        assert!(idx.lookup_ip("10.1.2.3".parse().unwrap(), 1).is_allowed());
        assert!(idx.lookup_ip("10.2.2.3".parse().unwrap(), 1).is_blocked());
        let Verdict::Allowed(m) = idx.lookup_domain("a.example.org", 1) else {
            unreachable!()
        };
        assert_eq!(m.provenance.feed, "allow");
    }

    #[test]
    fn expired_and_future_indicators_never_match() {
        let mut b = IndexBuilder::new();
        let h = b
            .begin_feed(
                "stix",
                Some("v1"),
                "b.stix2",
                ListKind::Block,
                Severity::High,
            )
            .unwrap();
        let mut i = Indicator::new(
            Target::Domain {
                name: "timed.example".into(),
                subdomains_only: false,
            },
            IndicatorId::Stix("indicator--t".into()),
        );
        i.valid_from_us = Some(100);
        i.valid_until_us = Some(200);
        i.family = Some("Fam".into());
        b.push(h, &i).unwrap();
        let mut ip = i.clone();
        ip.target = Target::Net("9.9.9.9/32".parse().unwrap());
        b.push(h, &ip).unwrap();
        let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
        assert_eq!(idx.lookup_domain("timed.example", 99), Verdict::Clean);
        assert!(idx.lookup_domain("timed.example", 100).is_blocked());
        assert!(idx.lookup_domain("timed.example", 200).is_blocked());
        assert_eq!(idx.lookup_domain("timed.example", 201), Verdict::Clean);
        assert_eq!(
            idx.lookup_ip("9.9.9.9".parse().unwrap(), 201),
            Verdict::Clean
        );
        let Verdict::Blocked(m) = idx.lookup_ip("9.9.9.9".parse().unwrap(), 150) else {
            unreachable!()
        };
        assert_eq!(m.provenance.indicator_id, "indicator--t");
        assert_eq!(m.provenance.family.as_deref(), Some("Fam"));
        assert_eq!(m.provenance.feed_version.as_deref(), Some("v1"));
        assert_eq!(m.provenance.valid_until_us, Some(200));
    }

    #[test]
    fn other_indicators_are_kept_for_the_host_app() {
        let mut b = IndexBuilder::new();
        let h = b
            .begin_feed("stix", None, "b.stix2", ListKind::Block, Severity::High)
            .unwrap();
        b.push(
            h,
            &Indicator::new(
                Target::App("com.evil".into()),
                IndicatorId::Stix("indicator--a".into()),
            ),
        )
        .unwrap();
        b.push(
            h,
            &Indicator::new(
                Target::FileHash("sha256:ab".into()),
                IndicatorId::Stix("indicator--b".into()),
            ),
        )
        .unwrap();
        let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
        let got: Vec<_> = idx
            .other_indicators()
            .map(|o| (o.value, o.provenance.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("com.evil".to_owned(), IndicatorKind::App),
                ("sha256:ab".to_owned(), IndicatorKind::FileHash)
            ]
        );
        assert_eq!(idx.stats().other_entries, 2);
    }

    #[test]
    fn every_listed_name_is_found_in_the_probed_table() {
        let names: Vec<String> = (0..5000).map(|i| format!("n{i}.bucket.example")).collect();
        let idx = index(&names.join("\n"), "");
        assert_eq!(idx.stats().domain_entries, 5000);
        assert!(idx.slots > 5000);
        // A 4/5-full ordered table keeps every record within a few slots of its home.
        assert!(idx.max_displacement < 64, "{}", idx.max_displacement);
        for (i, n) in names.iter().enumerate() {
            let Verdict::Blocked(m) = idx.lookup_domain(&format!("www.{n}"), 1) else {
                panic!("{n} not found")
            };
            assert_eq!(m.indicator.to_string(), *n);
            assert_eq!(m.provenance.indicator_id, format!("block.txt:{}", i + 1));
        }
        for i in 5000..6000 {
            assert_eq!(
                idx.lookup_domain(&format!("n{i}.bucket.example"), 1),
                Verdict::Clean
            );
        }
        // "example" alone has fewer labels than any listed name: never looked up, still clean.
        assert_eq!(idx.min_labels, 3);
        assert_eq!(idx.lookup_domain("bucket.example", 1), Verdict::Clean);
    }

    #[test]
    fn borrowed_answers_match_owned_ones() {
        let idx = index(
            "example.org\n*.wild.example\n10.0.0.0/8\n",
            "ok.example.org\n",
        );
        for q in [
            "a.example.org",
            "ok.example.org",
            "x.wild.example",
            "clean.example",
        ] {
            let r = idx.lookup_domain_ref(q, 1);
            let o = idx.lookup_domain(q, 1);
            assert_eq!(r.to_string(), o.to_string(), "{q}");
            assert_eq!(r.is_blocked(), o.is_blocked());
            assert_eq!(r.is_allowed(), o.is_allowed());
        }
        let VerdictRef::Blocked(m) = idx.lookup_domain_ref("A.Example.ORG.", 1) else {
            panic!("not blocked")
        };
        assert_eq!(m.provenance.feed, "block");
        assert_eq!(
            m.provenance.indicator_id,
            IndicatorIdRef::Line {
                file: "block.txt",
                line: 1
            }
        );
        let MatchedRef::Domain { suffix, .. } = m.indicator else {
            panic!("not a domain match")
        };
        assert_eq!(suffix.as_str(), "example.org");
        let ip = idx.lookup_ip_ref("10.1.2.3".parse().unwrap(), 1);
        assert_eq!(
            ip.to_string(),
            idx.lookup_ip("10.1.2.3".parse().unwrap(), 1).to_string()
        );
    }

    #[test]
    fn version_1_files_are_refused() {
        let mut b = small_index_bytes();
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        let err = Index::from_bytes(b).unwrap_err();
        assert!(matches!(
            err,
            IntelError::CorruptIndex(CorruptIndex::UnsupportedVersion(1))
        ));
        assert!(err.to_string().contains("version 1"), "{err}");
    }

    fn small_index_bytes() -> Vec<u8> {
        let mut b = IndexBuilder::new();
        b.add_feed(&feed(
            "b",
            "a.example\nb.example\n*.c.example\n1.2.3.4\n10.0.0.0/8\n2001:db8::/32\n",
            ListKind::Block,
        ))
        .unwrap();
        b.add_feed(&feed("w", "ok.a.example\n", ListKind::Allow))
            .unwrap();
        b.build(7).unwrap()
    }

    fn answers(idx: &Index) -> Vec<Verdict> {
        let mut v: Vec<Verdict> = [
            "a.example",
            "x.a.example",
            "ok.a.example",
            "b.example",
            "c.example",
            "d.c.example",
            "z.example",
        ]
        .iter()
        .map(|q| idx.lookup_domain(q, 10))
        .collect();
        for ip in ["1.2.3.4", "10.9.9.9", "2001:db8::5", "8.8.8.8"] {
            v.push(idx.lookup_ip(ip.parse().unwrap(), 10));
        }
        v.extend(idx.other_indicators().map(|_| Verdict::Clean));
        v
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = small_index_bytes();
        let good = Index::from_bytes(bytes.clone()).unwrap();
        good.verify().unwrap();
        for len in 0..bytes.len() {
            let r = Index::from_bytes(bytes.get(..len).unwrap().to_vec());
            assert!(r.is_err(), "truncated to {len} of {} opened", bytes.len());
        }
    }

    #[test]
    fn random_byte_flips_give_an_error_or_a_correct_answer() {
        use rand::{RngExt, SeedableRng};
        let bytes = small_index_bytes();
        let expected = answers(&Index::from_bytes(bytes.clone()).unwrap());
        assert_eq!(expected.iter().filter(|v| v.is_blocked()).count(), 7);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..3000 {
            let mut b = bytes.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                b[at] ^= rng.random_range(1..=255u8);
            }
            let Ok(idx) = Index::from_bytes(b) else {
                continue;
            };
            // Lookups on a damaged body must not panic; answers are only trusted after verify().
            let got = answers(&idx);
            if idx.verify().is_ok() {
                assert_eq!(got, expected);
            }
        }
        // Flips inside the header are always caught on open.
        for at in 0..HEADER_LEN {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            assert!(
                Index::from_bytes(b).is_err(),
                "header flip at {at} not detected"
            );
        }
    }

    #[test]
    fn forged_filter_descriptors_are_refused() {
        assert!(filter_is_sound(&[]));
        // 64 fingerprints of 2 bytes.
        let mut f = vec![0u8; FILTER_DESCRIPTOR_LEN + 128];
        // seg_len 16, mask 15, seg_count_len 32: max index 32 + 2*16 = 64 fits.
        f[8] = 16;
        f[12] = 15;
        f[16] = 32;
        assert!(filter_is_sound(&f));
        f[16] = 48;
        assert!(
            !filter_is_sound(&f),
            "indices would exceed the fingerprints"
        );
        f[16] = 32;
        assert!(!filter_is_sound(&f[..f.len() - 2]), "one fingerprint short");
        assert!(!filter_is_sound(&f[..f.len() - 1]), "half a fingerprint");
        f[12] = 7;
        assert!(!filter_is_sound(&f), "mask must match");
        f[12] = 15;
        f[8] = 12;
        assert!(
            !filter_is_sound(&f),
            "segment length must be a power of two"
        );
        assert!(!filter_is_sound(&f[..10]));
    }

    #[test]
    fn zero_copy_filter_agrees_with_xorf() {
        use xorf::DmaSerializable;
        let keys: Vec<u64> = (0..5000u64)
            .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D))
            .collect();
        let owned = BinaryFuse16::try_from(&keys).unwrap();
        let mut desc = vec![0u8; BinaryFuse16::DESCRIPTOR_LEN];
        owned.dma_copy_descriptor_to(&mut desc);
        desc.extend_from_slice(owned.dma_fingerprints());
        assert!(filter_is_sound(&desc));
        let (d, fp) = desc.split_at(FILTER_DESCRIPTOR_LEN);
        let view = BinaryFuse16Ref::from_dma(d, fp);
        for k in (0..20_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) {
            assert_eq!(view.contains(&k), owned.contains(&k));
        }
        assert!(keys.iter().all(|k| view.contains(k)));
    }
}

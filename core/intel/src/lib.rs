//! Threat intelligence for Nightjar: does the device talk to malicious domains or addresses?
//!
//! Never: accept a feed that is mostly garbage, lose an indicator's provenance, or load the whole
//! index into memory (it is mapped).
//!
//! Tests: in-module tests and `tests/fixtures.rs` (STIX bundles, blocklists); bench:
//! `benches/intel.rs`; fuzz targets `intel_*`.
//!
//! Security teams bring feeds in standard formats ([`FeedFormat`]): STIX 2.1 bundles as the
//! Mobile Verification Toolkit reads them, hosts files and plain or `*.` wildcard domain lists,
//! AdGuard/ABP filter lists, dnsmasq configuration, maltrail trail files and IP/CIDR lists. Each
//! is parsed into [`Indicator`]s with provenance (feed name and version, STIX id or `file:line`,
//! category, family, [`Severity`], validity window); every rejected line is reported with file,
//! line and reason ([`LoadReport`]), and a feed that is mostly garbage is refused as a whole.
//!
//! Feeds are compiled once, off the packet path, into one file ([`IndexBuilder`]) that the
//! packet path memory-maps read-only ([`Index`]). Only the pages a lookup touches become
//! resident, which is what keeps a million-name index inside an iOS packet tunnel's 50 MiB.
//!
//! # Matching rules
//!
//! * A domain entry matches the name and every subdomain on a label boundary: `example.org`
//!   matches `a.example.org`, never `badexample.org`. A `*.example.org` entry matches only
//!   subdomains. Lookups walk the suffixes of the name, shortest first (`org`, `example.org`,
//!   `b.example.org`, `a.b.example.org`), and stop at the first one no listed name ends with.
//! * An IP entry matches exactly; a CIDR entry matches every contained address (v4 and v6;
//!   IPv4-mapped IPv6 addresses are looked up as IPv4).
//! * **Allow wins:** if any valid allow entry matches — for a domain, the name itself or any of
//!   its parents; for an address, any containing network — the verdict is
//!   [`Verdict::Allowed`], whatever blocks also match and however specific they are. So an
//!   allowed parent allows all its subdomains, even ones that are blocklisted by name.
//! * Otherwise the most specific block entry wins (longest listed suffix, longest prefix), then
//!   the highest severity.
//! * An entry outside its validity window (`valid_from` > now or `valid_until` < now) never
//!   matches. Time is passed in by the caller (`now_us`, µs since the Unix epoch).
//!
//! # File format (version 3, little-endian)
//!
//! ```text
//! header  magic "NJINTEL\0" | version u32 | section count u32 (11) | built_at_us u64
//!         | body checksum u64 (XXH3-64 of everything after the header)
//!         | 11 × (offset u64, length u64) | header checksum u64 (XXH3-64 of the bytes before)
//!         every section starts on an 8-byte boundary (zero padding between)
//! 0 strings         u32 length + UTF-8, referenced by offset (interned: feed names, versions,
//!                   categories, STIX ids; u32::MAX = none)
//! 1 feeds           12 B each: name, version, file (string refs)
//! 2 metas           40 B each, shared by all entries with equal provenance: feed, category,
//!                   family, STIX id, name, severity, flags (allow, subdomains-only), kind,
//!                   valid_from_us, valid_until_us
//! 3 filter          xorf BinaryFuse16 descriptor (20 B) + u16 fingerprints, over the keys of
//!                   every listed name and of every proper suffix of one with at least as many
//!                   labels as the shortest listed name (closed under taking suffixes)
//! 4 domains         ordered linear-probing table of 24 B slots: key u64 = chained label hash
//!                   (below), confirm u64 = XXH3-64 seeded (name), meta u32, line u32. With
//!                   s = n + n/4 + 1 home slots for n records, a key's home is ⌊key·s/2⁶⁴⌋;
//!                   records are written in key order, each at max(home, previous + 1), and
//!                   every other slot is a gap (meta = u32::MAX); at least s + 1 slots
//! 5 domain params   fewest labels of any listed name u32, longest displacement from a home
//!                   slot u32, record count n u64
//! 6 v4 directory    12 B each: prefix length, start, count — one per prefix length, longest first
//! 7 v4 entries      12 B each, sorted by network within a prefix: network u32, meta, line
//! 8 v6 directory    as v4
//! 9 v6 entries      24 B each: network u128, meta, line
//! 10 other          16 B each: meta, value (string ref), line — app ids, file hashes, paths
//! ```
//!
//! A name's key chains over its labels from the right: `key("") = ROOT`, `key(l.p) =
//! XXH3-64(l, seed = key(p))`.
//!
//! Version 1 files (BinaryFuse8, XXH3-128 keys, split key/payload arrays) and version 2 files
//! (whole-suffix keys, filter over listed names only) are refused with
//! [`CorruptIndex::UnsupportedVersion`]: they must be recompiled, never read with this layout.
//!
//! Open checks magic, version and header checksum, bounds-checks every section and record size,
//! and checks the filter descriptor against its fingerprints (so xorf's unchecked indexing stays
//! in bounds). A corrupt or truncated file is an [`IntelError`], never a panic; every later read
//! is bounds-checked too. The body checksum is not verified on open (that would page the whole
//! file in); [`Index::verify`] does it, and the compiler writes through a temp file, fsync and
//! rename so a reader never sees a partial index.
//!
//! A domain lookup lowercases the name into a stack buffer in one pass (IDNA, which allocates,
//! only for non-ASCII or `xn--` names), then walks its suffixes shortest first, hashing one
//! label per step. From the shortest suffix with as many labels as the shortest listed name,
//! each step costs three fingerprint reads, and the first "no" ends the walk: because the
//! filter also holds every suffix of every listed name, nothing longer can be listed. A name no
//! listed name ends with therefore costs one filter probe however deep it is. Only when the
//! filter says "maybe" does it read the domain table from the key's home slot (sorted runs, so
//! the scan ends at the first gap or larger key, usually within one cache line) and confirm
//! with the second, seeded hash. Two
//! different names collide on both 64-bit hashes with probability about n·q/2¹²⁸ over n names
//! and q queries — for 10⁷ names and 10¹² lookups, about 3·10⁻²⁰: names are not stored.
//! [`Index::lookup_domain_ref`] answers without allocating (strings borrowed from the map);
//! [`Index::lookup_domain`] copies them into an owned [`Verdict`].
//!
//! # Dependencies
//!
//! * `xorf` — binary fuse filter (≈18 bits/key, ≈0.0015 % false positives) with zero-copy
//!   (`BinaryFuse16Ref::from_dma`) probing of the mapped fingerprints.
//! * `xxhash-rust` (XXH3) — fast, specified, stable hash, so files built on one machine
//!   work on another and across releases.
//! * `memmap2` — read-only mapping; the one `unsafe` call is isolated in `mmap.rs`, which is why
//!   this crate uses `#![deny(unsafe_code)]` instead of the workspace's `forbid`.
//! * `idna` — UTS #46 / punycode normalisation of internationalised names.
//! * `ipnet` — address/network parsing and truncation.
//! * `serde_json` — STIX bundles; `humantime` — RFC 3339 STIX timestamps.
//! * `tempfile` — the temporary sibling file for atomic replacement.
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! Feed readers (STIX 2.1, hosts, ABP, dnsmasq, wildcard lists, maltrail, IP/CIDR), normalisation
//! (lowercase, IDN → punycode, IPs in domain fields, hosts of URLs), provenance per indicator, the
//! compiled index (a binary fuse filter closed under name suffixes, so a suffix walk stops at the
//! first unlisted one; the walk asks the filter about every suffix first and reads the table
//! afterwards, with the candidates' table lines prefetched while the filter is probed, + an ordered
//! linear-probing table of 64-bit label-chained name hashes with payloads, memory-mapped read-only,
//! atomically replaced), label-boundary suffix matching, CIDR, allow-over-block, validity windows.
//! One isolated `unsafe` (the mmap) with a SAFETY note; the crate is `deny(unsafe_code)` rather
//! than `forbid`.
#![deny(unsafe_code)]

mod abp;
mod commands;
mod compile;
mod dnsmasq;
mod error;
mod feed;
mod format;
mod hosts;
mod index;
mod indicator;
mod iplist;
mod lines;
mod maltrail;
mod mmap;
pub mod normalize;
mod report;
mod stix;
mod verdict;

pub use commands::{
    CompileSummary, FeedSummary, LookupAnswer, compile_feeds, feed_name_and_path, lookup,
};
pub use compile::{FeedHandle, IndexBuilder};
pub use error::{CorruptIndex, IntelError};
pub use feed::{Feed, FeedFormat, FeedOptions, detect_format, load_feed, parse_feed};
pub use index::{Index, IndexStats, OtherIndicator};
pub use indicator::{Indicator, IndicatorId, IndicatorKind, ListKind, Severity, Target};
pub use report::{
    GARBAGE_MIN_LINES, GARBAGE_RATIO_PERCENT, LoadReport, MAX_SKIPPED_KEPT, SkipReason, Skipped,
};
pub use verdict::{
    DomainSuffix, IndicatorIdRef, Match, MatchRef, Matched, MatchedRef, Provenance, ProvenanceRef,
    Verdict, VerdictRef,
};

//! The on-disk layout of a compiled index (all integers little-endian). See the crate docs for
//! the prose description; this module holds the constants and the bounds-checked readers.

use xxhash_rust::xxh3::xxh3_64_with_seed;

pub(crate) const MAGIC: [u8; 8] = *b"NJINTEL\0";
/// Version 1 (BinaryFuse8, separate key and payload arrays, XXH3-128 keys) and version 2 (keys
/// hashed over whole suffixes, filter over listed names only) are refused: their keys are hashed
/// differently, so reading them with this layout would answer wrongly.
pub(crate) const VERSION: u32 = 3;

/// Sections, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Strings = 0,
    Feeds,
    Metas,
    Filter,
    Domains,
    DomainParams,
    V4Dir,
    V4Entries,
    V6Dir,
    V6Entries,
    Aux,
}

pub(crate) const SECTIONS: usize = 11;
/// magic, version, section count, built_at, body checksum, table, header checksum.
pub(crate) const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + SECTIONS * 16 + 8;
pub(crate) const TABLE_OFFSET: usize = 32;

pub(crate) const FEED_SIZE: usize = 12;
pub(crate) const META_SIZE: usize = 40;
/// h1 u64, h2 u64, meta u32, line u32: key and payload side by side, so a hit reads one cache
/// line instead of one in a key array and another in a payload array.
pub(crate) const DOMAIN_RECORD_SIZE: usize = 24;
/// Smallest label count of any listed domain (u32), longest displacement of a record from its
/// home slot (u32), number of records (u64).
pub(crate) const DOMAIN_PARAMS_SIZE: usize = 16;

/// Home slots of the domain table for `n` records: the table is kept at most 4/5 full, so a
/// record sits on average about two slots after its home (one cache line).
pub(crate) fn home_slots(n: usize) -> usize {
    n.saturating_add(n / 4).saturating_add(1)
}

/// The home slot of key `h1` among `slots`: its position scaled into the table. Monotonic in
/// the key, so records placed in key order at `max(home, previous + 1)` stay sorted (ordered
/// linear probing): a lookup reads from the home slot on and stops at a larger key or a gap.
pub(crate) fn home_slot(h1: u64, slots: usize) -> usize {
    ((u128::from(h1) * slots as u128) >> 64) as usize
}

/// Every section starts on this boundary, so the u16 fingerprints can be viewed in place.
pub(crate) const SECTION_ALIGN: usize = 8;
pub(crate) const DIR_SIZE: usize = 12;
pub(crate) const V4_ENTRY_SIZE: usize = 12;
pub(crate) const V6_ENTRY_SIZE: usize = 24;
pub(crate) const AUX_SIZE: usize = 16;
/// xorf's 20-byte descriptor (seed u64, segment length, mask, segment count length as u32).
pub(crate) const FILTER_DESCRIPTOR_LEN: usize = 20;

/// "No string" in a string reference.
pub(crate) const NONE: u32 = u32::MAX;

pub(crate) const FLAG_SUBDOMAINS_ONLY: u8 = 1;
pub(crate) const FLAG_ALLOW: u8 = 2;

/// Seed of the confirming hash; any constant other than XXH3's default seed 0 works, it is
/// part of the file format.
const CONFIRM_SEED: u64 = 0x6e6a_696e_7465_6c32;

/// Key of the empty name, the seed the rightmost label is hashed with.
pub(crate) const ROOT_KEY: u64 = 0x6e6a_696e_7465_6c33;

/// The key of `label.parent` from the key of `parent`: XXH3-64 of the label seeded with the
/// parent's key. Keys chain label by label from the right, so a lookup that walks a name's
/// suffixes shortest first hashes every byte once and can stop at the first suffix the filter
/// rules out without hashing the rest.
#[inline]
pub(crate) fn label_key(parent: u64, label: &[u8]) -> u64 {
    xxh3_64_with_seed(label, parent)
}

/// A name's sorted key and fuse-filter key: [`label_key`] chained over its labels from the
/// right. The confirming half ([`name_confirm`]) is only computed when the filter says "maybe".
#[cfg(test)]
pub(crate) fn name_key(name: &[u8]) -> u64 {
    suffix_keys(name, |_, _| ())
}

/// [`name_key`], also handing every proper suffix's key and label count to `each` (shortest
/// first); returns the whole name's key.
pub(crate) fn suffix_keys(name: &[u8], mut each: impl FnMut(u64, usize)) -> u64 {
    let mut key = ROOT_KEY;
    let mut labels = name.rsplit(|&c| c == b'.').peekable();
    let mut count = 0usize;
    while let Some(label) = labels.next() {
        key = label_key(key, label);
        count += 1;
        if labels.peek().is_some() {
            each(key, count);
        }
    }
    key
}

/// The second, independently seeded 64-bit hash that confirms a key match, so two names are
/// only confused when both 64-bit hashes collide.
pub(crate) fn name_confirm(name: &[u8]) -> u64 {
    xxh3_64_with_seed(name, CONFIRM_SEED)
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let end = off.checked_add(4)?;
    Some(u32::from_le_bytes(b.get(off..end)?.try_into().ok()?))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let end = off.checked_add(8)?;
    Some(u64::from_le_bytes(b.get(off..end)?.try_into().ok()?))
}

pub(crate) fn u128_at(b: &[u8], off: usize) -> Option<u128> {
    let end = off.checked_add(16)?;
    Some(u128::from_le_bytes(b.get(off..end)?.try_into().ok()?))
}

/// Record `idx` of `size` bytes in `section`.
pub(crate) fn record(section: &[u8], idx: usize, size: usize) -> Option<&[u8]> {
    let start = idx.checked_mul(size)?;
    section.get(start..start.checked_add(size)?)
}

/// Asks the CPU to start loading the cache line of `bytes` without waiting for it: a table
/// record that a lookup may read after its filter probes, so the DRAM miss overlaps them. A
/// prefetch never faults and changes no result; elsewhere than x86-64 (no safe intrinsic on
/// stable Rust) it does nothing and the read simply waits.
#[inline(always)]
pub(crate) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = bytes.first() {
        safe_arch::prefetch_t0(b);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A string from the strings section: u32 length then UTF-8 bytes.
pub(crate) fn string_at(strings: &[u8], off: u32) -> Option<&str> {
    if off == NONE {
        return None;
    }
    let off = usize::try_from(off).ok()?;
    let len = usize::try_from(u32_at(strings, off)?).ok()?;
    let start = off.checked_add(4)?;
    std::str::from_utf8(strings.get(start..start.checked_add(len)?)?).ok()
}

/// One indicator's shared fields, as stored in the metas section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Meta {
    pub(crate) feed: u32,
    pub(crate) category: u32,
    pub(crate) family: u32,
    pub(crate) stix_id: u32,
    pub(crate) name: u32,
    pub(crate) severity: u8,
    pub(crate) flags: u8,
    pub(crate) kind: u8,
    pub(crate) valid_from_us: u64,
    pub(crate) valid_until_us: u64,
}

impl Meta {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for v in [
            self.feed,
            self.category,
            self.family,
            self.stix_id,
            self.name,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&[self.severity, self.flags, self.kind, 0]);
        out.extend_from_slice(&self.valid_from_us.to_le_bytes());
        out.extend_from_slice(&self.valid_until_us.to_le_bytes());
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Meta> {
        Some(Meta {
            feed: u32_at(b, 0)?,
            category: u32_at(b, 4)?,
            family: u32_at(b, 8)?,
            stix_id: u32_at(b, 12)?,
            name: u32_at(b, 16)?,
            severity: *b.get(20)?,
            flags: *b.get(21)?,
            kind: *b.get(22)?,
            valid_from_us: u64_at(b, 24)?,
            valid_until_us: u64_at(b, 32)?,
        })
    }

    pub(crate) fn valid_at(&self, now_us: u64) -> bool {
        self.valid_from_us <= now_us && now_us <= self.valid_until_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips() {
        let m = Meta {
            feed: 1,
            category: 2,
            family: NONE,
            stix_id: 4,
            name: 5,
            severity: 3,
            flags: FLAG_ALLOW,
            kind: 1,
            valid_from_us: 7,
            valid_until_us: u64::MAX,
        };
        let mut b = Vec::new();
        m.encode(&mut b);
        assert_eq!(b.len(), META_SIZE);
        assert_eq!(Meta::decode(&b), Some(m));
        assert_eq!(Meta::decode(b.get(..39).unwrap()), None);
    }

    #[test]
    fn keys_chain_label_by_label() {
        let mut seen = Vec::new();
        let whole = suffix_keys(b"a.b.example.org", |k, n| seen.push((k, n)));
        assert_eq!(whole, name_key(b"a.b.example.org"));
        assert_eq!(
            seen,
            [
                (name_key(b"org"), 1),
                (name_key(b"example.org"), 2),
                (name_key(b"b.example.org"), 3)
            ]
        );
        assert_eq!(
            label_key(name_key(b"example.org"), b"b"),
            name_key(b"b.example.org")
        );
        // Label boundaries are part of the key.
        assert_ne!(name_key(b"ab.c"), name_key(b"a.bc"));
        assert_ne!(name_key(b"abc"), name_key(b"a.bc"));
    }

    #[test]
    fn readers_never_read_past_the_end() {
        let b = [1u8, 0, 0, 0, 9];
        assert_eq!(u32_at(&b, 0), Some(1));
        assert_eq!(u32_at(&b, 2), None);
        assert_eq!(u32_at(&b, usize::MAX), None);
        assert_eq!(u64_at(&b, 0), None);
        assert_eq!(record(&b, usize::MAX, 8), None);
        assert_eq!(string_at(&[3, 0, 0, 0, b'a', b'b'], 0), None);
        assert_eq!(string_at(&[2, 0, 0, 0, b'a', b'b'], 0), Some("ab"));
    }
}

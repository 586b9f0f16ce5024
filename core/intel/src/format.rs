//! The on-disk layout of a compiled index (all integers little-endian). See the crate docs for
//! the prose description; this module holds the constants and the bounds-checked readers.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub(crate) const MAGIC: [u8; 8] = *b"NJINTEL\0";
/// Version 1 (BinaryFuse8, separate key and payload arrays, XXH3-128 keys) is refused: its keys
/// are hashed differently, so reading it with this layout would answer wrongly.
pub(crate) const VERSION: u32 = 2;

/// Sections, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Strings = 0,
    Feeds,
    Metas,
    Filter,
    Domains,
    DomainParams,
    DomainBuckets,
    V4Dir,
    V4Entries,
    V6Dir,
    V6Entries,
    Aux,
}

pub(crate) const SECTIONS: usize = 12;
/// magic, version, section count, built_at, body checksum, table, header checksum.
pub(crate) const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + SECTIONS * 16 + 8;
pub(crate) const TABLE_OFFSET: usize = 32;

pub(crate) const FEED_SIZE: usize = 12;
pub(crate) const META_SIZE: usize = 40;
/// h1 u64, h2 u64, meta u32, line u32: key and payload side by side, so a hit reads one cache
/// line instead of one in a key array and another in a payload array.
pub(crate) const DOMAIN_RECORD_SIZE: usize = 24;
/// Smallest label count of any listed domain (u32), bucket bits (u32).
pub(crate) const DOMAIN_PARAMS_SIZE: usize = 8;
/// Average domain records per bucket the compiler aims for: a hit reads the bucket's start, then
/// about this many records (a few cache lines on one page).
pub(crate) const RECORDS_PER_BUCKET: usize = 8;
/// Caps the bucket table at 2^24 + 1 entries (64 MiB, for more than 100 million names).
pub(crate) const MAX_BUCKET_BITS: u32 = 24;

/// Bucket bits for `n` domain records: about [`RECORDS_PER_BUCKET`] records per bucket.
pub(crate) fn bucket_bits(n: usize) -> u32 {
    (n / RECORDS_PER_BUCKET)
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .min(MAX_BUCKET_BITS)
}

/// The bucket of key `h1`: its top `bits` bits.
pub(crate) fn bucket_of(h1: u64, bits: u32) -> u64 {
    h1.checked_shr(64 - bits).unwrap_or(0)
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

/// A name's sorted key and fuse-filter key. Every suffix of every query is hashed with it, so
/// it is the plain 64-bit XXH3; the confirming half ([`name_confirm`]) is only computed when
/// the filter says "maybe".
pub(crate) fn name_key(name: &[u8]) -> u64 {
    xxh3_64(name)
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

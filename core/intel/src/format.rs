//! The on-disk layout of a compiled index (all integers little-endian). See the crate docs for
//! the prose description; this module holds the constants and the bounds-checked readers.

use xxhash_rust::xxh3::xxh3_128;

pub(crate) const MAGIC: [u8; 8] = *b"NJINTEL\0";
pub(crate) const VERSION: u32 = 1;

/// Sections, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Strings = 0,
    Feeds,
    Metas,
    Filter,
    DomainKeys,
    DomainPayload,
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
pub(crate) const KEY_SIZE: usize = 8;
pub(crate) const DOMAIN_PAYLOAD_SIZE: usize = 16;
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

/// The two 64-bit halves of a name's 128-bit XXH3 hash: the first is the sorted key (and the
/// fuse-filter key), the second confirms a hit.
pub(crate) fn name_key(name: &[u8]) -> (u64, u64) {
    let h = xxh3_128(name);
    (h as u64, (h >> 64) as u64)
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

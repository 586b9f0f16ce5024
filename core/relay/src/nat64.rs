//! NAT64 (RFC 6052 address synthesis, RFC 7050 prefix discovery): on an
//! uplink with only IPv6, a device's IPv4 destination is dialled at the
//! IPv6 address the network's NAT64 translates back to it. The device-side
//! flow keeps its IPv4 5-tuple; only the outbound socket changes family.

use core::net::{Ipv4Addr, Ipv6Addr};

/// The well-known IPv4 addresses `ipv4only.arpa` resolves to (RFC 7050 §2.2).
const WELL_KNOWN: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];

/// Prefix lengths RFC 6052 §2.2 allows, longest (most common) first.
const LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// A NAT64 prefix (RFC 6052): its bits and length (32, 40, 48, 56, 64 or 96).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat64Prefix {
    bits: [u8; 16],
    len: u8,
}

/// Where the four IPv4 bytes sit in an address with a `len`-bit prefix:
/// straight after the prefix, skipping byte 8 (bits 64..71 stay zero).
fn v4_positions(len: u8) -> [usize; 4] {
    let mut out = [0; 4];
    let mut at = usize::from(len / 8);
    for slot in &mut out {
        if at == 8 {
            at += 1;
        }
        *slot = at;
        at += 1;
    }
    out
}

impl Nat64Prefix {
    /// `prefix`/`len`, or None if `len` is not one RFC 6052 allows.
    pub fn new(prefix: Ipv6Addr, len: u8) -> Option<Self> {
        if !LENGTHS.contains(&len) {
            return None;
        }
        let mut bits = [0u8; 16];
        let n = usize::from(len / 8);
        for (dst, src) in bits.iter_mut().zip(prefix.octets()).take(n) {
            *dst = src;
        }
        Some(Nat64Prefix { bits, len })
    }

    /// The well-known prefix `64:ff9b::/96` (RFC 6052 §2.1).
    pub fn well_known() -> Self {
        let mut bits = [0u8; 16];
        bits[1] = 0x64;
        bits[2] = 0xff;
        bits[3] = 0x9b;
        Nat64Prefix { bits, len: 96 }
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The IPv6 address the NAT64 translates to `v4`.
    pub fn synthesize(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut bits = self.bits;
        for (pos, byte) in v4_positions(self.len).into_iter().zip(v4.octets()) {
            if let Some(b) = bits.get_mut(pos) {
                *b = byte;
            }
        }
        Ipv6Addr::from(bits)
    }

    /// RFC 7050 §3: the prefix from the AAAA answers to `ipv4only.arpa`, the
    /// first answer that embeds a well-known address at an allowed length.
    pub fn from_ipv4only_answers(answers: &[Ipv6Addr]) -> Option<Self> {
        answers.iter().find_map(|a| {
            let o = a.octets();
            LENGTHS.into_iter().find_map(|len| {
                let p = v4_positions(len);
                let v4 = Ipv4Addr::new(*o.get(p[0])?, *o.get(p[1])?, *o.get(p[2])?, *o.get(p[3])?);
                if !WELL_KNOWN.contains(&v4) || (len < 96 && o.get(8) != Some(&0)) {
                    return None;
                }
                Nat64Prefix::new(*a, len)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6052_examples_synthesize() {
        // RFC 6052 §2.4, the table for 192.0.2.33.
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        for (prefix, len, want) in [
            ("2001:db8::", 32, "2001:db8:c000:221::"),
            ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
            ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ] {
            let p = Nat64Prefix::new(prefix.parse().unwrap(), len).unwrap();
            assert_eq!(
                p.synthesize(v4),
                want.parse::<Ipv6Addr>().unwrap(),
                "/{len}"
            );
        }
        assert_eq!(
            Nat64Prefix::well_known().synthesize(v4),
            "64:ff9b::192.0.2.33".parse::<Ipv6Addr>().unwrap()
        );
        assert!(Nat64Prefix::new(Ipv6Addr::UNSPECIFIED, 80).is_none());
    }

    #[test]
    fn rfc7050_discovery_finds_the_prefix_and_its_length() {
        for len in LENGTHS {
            let p = Nat64Prefix::new("2001:db8:122:344::".parse().unwrap(), len).unwrap();
            let answer = p.synthesize(Ipv4Addr::new(192, 0, 0, 171));
            let found =
                Nat64Prefix::from_ipv4only_answers(&["2001:db8::1".parse().unwrap(), answer]);
            assert_eq!(found, Some(p), "/{len}");
        }
        assert_eq!(
            Nat64Prefix::from_ipv4only_answers(&["64:ff9b::c000:aa".parse().unwrap()]),
            Some(Nat64Prefix::well_known())
        );
        assert_eq!(
            Nat64Prefix::from_ipv4only_answers(&["2001:db8::c000:2a".parse().unwrap()]),
            None,
            "no well-known address inside"
        );
    }
}

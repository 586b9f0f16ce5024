//! JA4 TLS client fingerprint (FoxIO, BSD-3-Clause spec `technical_details/JA4.md`).
//!
//! `t13d1516h2_8daaf6152771_e5627efa2ab1`: transport, version, SNI or IP,
//! cipher and extension counts, ALPN ends, then truncated SHA-256 of the sorted
//! cipher list and of the sorted extensions plus signature algorithms. GREASE
//! is ignored everywhere.

use core::fmt::Write as _;

use crate::tls::{ClientHello, ext, is_grease};

/// Transport the ClientHello travelled on (the first JA4 character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// TLS over TCP (`t`).
    Tcp,
    /// QUIC (`q`).
    Quic,
    /// DTLS (`d`).
    Dtls,
}

/// JA4 and its raw / original-order variants for one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4 {
    /// The `ja4` fingerprint (sorted lists, hashed).
    pub ja4: String,
    /// `ja4_r`: sorted lists in clear text.
    pub ja4_r: String,
    /// `ja4_o`: wire-order lists (SNI and ALPN kept), hashed.
    pub ja4_o: String,
    /// `ja4_ro`: wire-order lists in clear text.
    pub ja4_ro: String,
}

/// The JA4 fingerprint of `hello` (the common case; see [`ja4_all`] for variants).
pub fn ja4(hello: &ClientHello<'_>, transport: Transport) -> String {
    let ciphers = ciphers(hello);
    let mut exts = sorted_extensions(hello);
    let sigs = sig_algs(hello);
    let mut out = prefix(hello, transport);
    out.push('_');
    push_hash(&mut out, &sorted(ciphers), &[]);
    out.push('_');
    exts.sort_unstable();
    push_hash(&mut out, &exts, &sigs);
    out
}

/// All four JA4 variants.
pub fn ja4_all(hello: &ClientHello<'_>, transport: Transport) -> Ja4 {
    let a = prefix(hello, transport);
    let wire_ciphers = ciphers(hello);
    let sorted_ciphers = sorted(wire_ciphers.clone());
    let wire_exts: Vec<u16> = hello
        .extensions()
        .map(|(t, _)| t)
        .filter(|t| !is_grease(*t))
        .collect();
    let mut sorted_exts = sorted_extensions(hello);
    sorted_exts.sort_unstable();
    let sigs = sig_algs(hello);

    let hashed = |c: &[u16], e: &[u16]| {
        let mut s = a.clone();
        s.push('_');
        push_hash(&mut s, c, &[]);
        s.push('_');
        push_hash(&mut s, e, &sigs);
        s
    };
    let raw = |c: &[u16], e: &[u16]| {
        let mut s = a.clone();
        s.push('_');
        s.push_str(&hex_list(c));
        s.push('_');
        s.push_str(&hex_list(e));
        if !sigs.is_empty() {
            s.push('_');
            s.push_str(&hex_list(&sigs));
        }
        s
    };
    Ja4 {
        ja4: hashed(&sorted_ciphers, &sorted_exts),
        ja4_r: raw(&sorted_ciphers, &sorted_exts),
        ja4_o: hashed(&wire_ciphers, &wire_exts),
        ja4_ro: raw(&wire_ciphers, &wire_exts),
    }
}

fn ciphers(hello: &ClientHello<'_>) -> Vec<u16> {
    hello.cipher_suites().filter(|c| !is_grease(*c)).collect()
}

fn sorted(mut v: Vec<u16>) -> Vec<u16> {
    v.sort_unstable();
    v
}

/// Extensions without GREASE, SNI and ALPN (the latter two are already in part a).
fn sorted_extensions(hello: &ClientHello<'_>) -> Vec<u16> {
    hello
        .extensions()
        .map(|(t, _)| t)
        .filter(|&t| !is_grease(t) && t != ext::SERVER_NAME && t != ext::ALPN)
        .collect()
}

fn sig_algs(hello: &ClientHello<'_>) -> Vec<u16> {
    hello
        .signature_algorithms()
        .filter(|s| !is_grease(*s))
        .collect()
}

/// Part a: `t13d1516h2`.
fn prefix(hello: &ClientHello<'_>, transport: Transport) -> String {
    let mut s = String::with_capacity(10);
    s.push(match transport {
        Transport::Tcp => 't',
        Transport::Quic => 'q',
        Transport::Dtls => 'd',
    });
    s.push_str(version_code(hello.max_version()));
    s.push(if hello.extension(ext::SERVER_NAME).is_some() {
        'd'
    } else {
        'i'
    });
    let n_ciphers = hello.cipher_suites().filter(|c| !is_grease(*c)).count();
    let n_exts = hello.extensions().filter(|(t, _)| !is_grease(*t)).count();
    let _ = write!(s, "{:02}{:02}", n_ciphers.min(99), n_exts.min(99));
    let (first, last) = alpn_chars(hello.alpn().next().unwrap_or_default());
    s.push(first);
    s.push(last);
    s
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last characters of the first ALPN value, hex nibbles if not alphanumeric.
fn alpn_chars(first: &[u8]) -> (char, char) {
    let (Some(&a), Some(&b)) = (first.first(), first.last()) else {
        return ('0', '0');
    };
    if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() {
        (char::from(a), char::from(b))
    } else {
        (nibble(a >> 4), nibble(b & 0x0f))
    }
}

fn nibble(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

fn hex_list(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

/// Appends the 12-hex-char truncated SHA-256 of `list[_sigs]`, or twelve zeros if `list` is empty.
fn push_hash(out: &mut String, list: &[u16], sigs: &[u16]) {
    if list.is_empty() {
        out.push_str("000000000000");
        return;
    }
    let mut text = hex_list(list);
    if !sigs.is_empty() {
        text.push('_');
        text.push_str(&hex_list(sigs));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    for b in digest.as_ref().iter().take(6) {
        let _ = write!(out, "{b:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::build::*;

    /// The example hello of the JA4 spec (JA4.md "Raw Output"), rebuilt from its
    /// wire-order lists with GREASE values added where Chrome puts them.
    fn spec_example() -> Vec<u8> {
        let ciphers = [
            0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
            0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let order = [
            0x2a2a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
            0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0x3a3a,
        ];
        let extensions = order
            .iter()
            .map(|&t| match t {
                0x0000 => sni_ext("example.com"),
                0x0010 => alpn_ext(&[b"h2", b"http/1.1"]),
                0x000d => u16_list_ext(0x000d, &sigs),
                0x002b => versions_ext(&[0x5a5a, 0x0304, 0x0303]),
                other => (other, vec![0; 2]),
            })
            .collect();
        HelloSpec {
            ciphers: ciphers.to_vec(),
            extensions,
            ..HelloSpec::default()
        }
        .body()
    }

    #[test]
    fn foxio_spec_example() {
        let body = spec_example();
        let hello = ClientHello::parse(&body).unwrap();
        let all = ja4_all(&hello, Transport::Tcp);
        assert_eq!(all.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(ja4(&hello, Transport::Tcp), all.ja4);
        assert_eq!(
            all.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,\
             cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_\
             0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(
            all.ja4_ro,
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,\
             0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,\
             0015_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(all.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
        assert!(ja4(&hello, Transport::Quic).starts_with("q13d"));
    }

    #[test]
    fn spec_hash_without_signature_algorithms() {
        // JA4.md: the sorted extension list alone hashes to 6d807ffa2a79.
        let mut out = String::new();
        let exts = [
            0x0005, 0x000a, 0x000b, 0x000d, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b, 0x002d,
            0x0033, 0x4469, 0xff01,
        ];
        push_hash(&mut out, &exts, &[]);
        assert_eq!(out, "6d807ffa2a79");
    }

    #[test]
    fn alpn_rules_from_spec() {
        assert_eq!(alpn_chars(b"h2"), ('h', '2'));
        assert_eq!(alpn_chars(b"http/1.1"), ('h', '1'));
        assert_eq!(alpn_chars(b"h"), ('h', 'h'));
        assert_eq!(alpn_chars(b""), ('0', '0'));
        assert_eq!(alpn_chars(&[0xab]), ('a', 'b'));
        assert_eq!(alpn_chars(&[0xab, 0xcd]), ('a', 'd'));
        assert_eq!(alpn_chars(&[0x30, 0xab]), ('3', 'b'));
        assert_eq!(alpn_chars(&[0x30, 0x31, 0xab, 0xcd]), ('3', 'd'));
        assert_eq!(alpn_chars(&[0x30, 0xab, 0xcd, 0x31]), ('0', '1'));
    }

    #[test]
    fn bare_tls10_hello() {
        // No extensions, no SNI, no ALPN: `i`, "00", and a zero extension hash.
        let spec = HelloSpec {
            legacy_version: 0x0301,
            ciphers: vec![0x002f],
            ..HelloSpec::default()
        };
        let mut body = spec.body();
        body.truncate(body.len() - 2);
        let hello = ClientHello::parse(&body).unwrap();
        let fp = ja4(&hello, Transport::Tcp);
        assert!(fp.starts_with("t10i010000_"), "{fp}");
        assert!(fp.ends_with("_000000000000"), "{fp}");
    }
}

//! Turning what feeds write into the one form the index stores and lookups compare.
//!
//! Domains: lowercase, no trailing dot, IDN as punycode (UTS #46 via the `idna` crate), at least
//! two labels. A value that is really an address (`1.2.3.4`, `[::1]:443`) becomes an IP; a
//! scheme, userinfo, port, path, query or fragment is cut away so the host alone is matched.

use std::net::IpAddr;

/// The host part of a feed value, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A domain name in canonical form.
    Domain(String),
    /// An IP address.
    Ip(IpAddr),
}

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("empty name")]
    Empty,
    /// Longer than 253 characters in ASCII form.
    #[error("name longer than 253 characters")]
    TooLong,
    /// Two dots in a row or a leading dot.
    #[error("empty label")]
    EmptyLabel,
    /// A label longer than 63 characters.
    #[error("label longer than 63 characters")]
    LabelTooLong,
    /// A character that cannot appear in a host name.
    #[error("invalid character {0:?}")]
    InvalidChar(char),
    /// A single label (`localhost`, `com`) would match a whole TLD or nothing routable.
    #[error("single-label name")]
    SingleLabel,
    /// An all-numeric last label that is not a valid IPv4 address (`1.2.3`, `999.1.1.1`).
    #[error("numeric top-level label but not an IP address")]
    NumericTld,
    /// A port that is not a number.
    #[error("invalid port")]
    InvalidPort,
    /// IDNA (UTS #46) processing failed.
    #[error("invalid internationalised name")]
    Idna,
}

/// Longest name in presentation form without the trailing dot.
pub const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// Normalises any host-bearing feed value: a bare name, `name:port`, a URL, or an address.
pub fn normalize_host(raw: &str) -> Result<Host, NameError> {
    let mut s = raw.trim();
    if let Some((scheme, rest)) = s.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        s = rest;
    }
    // The authority ends at the first path, query or fragment delimiter.
    let end = s.find(['/', '?', '#']).unwrap_or(s.len());
    s = s.get(..end).unwrap_or(s);
    if let Some((_, host)) = s.rsplit_once('@') {
        s = host;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or(NameError::InvalidChar('['))?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return Err(NameError::InvalidPort);
        }
        return inner
            .parse::<IpAddr>()
            .map(Host::Ip)
            .map_err(|_| NameError::InvalidChar('['));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if let Some((host, port)) = s.split_once(':') {
        if port.contains(':') {
            return Err(NameError::InvalidChar(':'));
        }
        if !is_port(port) {
            return Err(NameError::InvalidPort);
        }
        s = host;
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
    }
    normalize_domain(s).map(Host::Domain)
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Normalises a bare domain name (no scheme, port or path).
pub fn normalize_domain(raw: &str) -> Result<String, NameError> {
    let s = raw.trim();
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    let ascii = if s.is_ascii() && !s.contains("xn--") {
        s.to_ascii_lowercase()
    } else {
        // UTS #46 mapping also lowercases and NFC-normalises, and validates existing punycode.
        idna::domain_to_ascii_cow(s.as_bytes(), idna::AsciiDenyList::URL)
            .map_err(|_| NameError::Idna)?
            .into_owned()
    };
    validate(&ascii)?;
    Ok(ascii)
}

/// Checks a lowercase ASCII name: length, labels, characters, not single-label, not numeric TLD.
fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        // Underscores are not valid in host names but appear in real service names
        // (`_dmarc`, SRV-style labels) that feeds do list, so they are tolerated.
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(NameError::InvalidChar(c));
        }
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err(NameError::SingleLabel);
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::NumericTld);
    }
    Ok(())
}

/// Lowercases and strips one trailing dot into `buf` without allocating, for the packet path,
/// in one branch-free pass. Returns `None` when the name is not plain ASCII, has an empty
/// label or a `:`, or does not fit; the caller then falls back to [`normalize_host`], which
/// maps, rejects or reads it as an address. ASCII `xn--` labels stay on this path: IDNA would
/// only lowercase them (or reject invalid punycode, which no listed name contains, so it can
/// never match a listed label either).
#[inline]
pub(crate) fn fast_lower<'b>(name: &str, buf: &'b mut [u8; MAX_NAME_LEN + 1]) -> Option<&'b [u8]> {
    let src = name.as_bytes();
    let src = src.strip_suffix(b".").unwrap_or(src);
    if src.is_empty() || src.len() > MAX_NAME_LEN {
        return None;
    }
    let dst = buf.get_mut(..src.len())?;
    // Separate reductions without a loop-carried state, so both loops vectorise.
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_ascii_lowercase();
    }
    let next = src.get(1..).unwrap_or_default();
    let pairs = src.iter().zip(next).fold(0u8, |acc, (&a, &b)| {
        acc | (a & 0x80) | u8::from(a == b':') | (u8::from(a == b'.') & u8::from(b == b'.'))
    });
    let (&first, &last) = (src.first()?, src.last()?);
    let ends = u8::from(first == b'.') | u8::from(last == b'.') | (last & 0x80);
    ((pairs | ends) == 0 && last != b':').then_some(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(s: &str) -> Host {
        Host::Domain(s.to_owned())
    }

    #[test]
    fn lowercases_and_strips_trailing_dot() {
        assert_eq!(
            normalize_host("WWW.Example.ORG."),
            Ok(dom("www.example.org"))
        );
    }

    #[test]
    fn idn_becomes_punycode() {
        assert_eq!(
            normalize_host("Bücher.example"),
            Ok(dom("xn--bcher-kva.example"))
        );
        assert_eq!(
            normalize_host("xn--bcher-kva.example"),
            Ok(dom("xn--bcher-kva.example"))
        );
        assert_eq!(
            normalize_host("пример.рф"),
            Ok(dom("xn--e1afmkfd.xn--p1ai"))
        );
    }

    #[test]
    fn addresses_in_domain_fields_become_ips() {
        assert_eq!(
            normalize_host("176.223.111.131"),
            Ok(Host::Ip("176.223.111.131".parse().unwrap()))
        );
        assert_eq!(
            normalize_host("2001:db8::1"),
            Ok(Host::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            normalize_host("[2001:db8::1]:443"),
            Ok(Host::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            normalize_host("51.76.129.13:443"),
            Ok(Host::Ip("51.76.129.13".parse().unwrap()))
        );
    }

    #[test]
    fn scheme_port_path_are_cut_to_host() {
        assert_eq!(
            normalize_host("fgr1w2gnsdvsb.xyz/x"),
            Ok(dom("fgr1w2gnsdvsb.xyz"))
        );
        assert_eq!(
            normalize_host("http://user@Evil.example.com:8080/a?b#c"),
            Ok(dom("evil.example.com"))
        );
        assert_eq!(
            normalize_host("http://118.167.70.214"),
            Ok(Host::Ip("118.167.70.214".parse().unwrap()))
        );
        assert_eq!(
            normalize_host("evil.example.com:8443"),
            Ok(dom("evil.example.com"))
        );
    }

    #[test]
    fn invalid_names_are_rejected_with_reason() {
        assert_eq!(normalize_host(""), Err(NameError::Empty));
        assert_eq!(normalize_host("."), Err(NameError::Empty));
        assert_eq!(normalize_host("localhost"), Err(NameError::SingleLabel));
        assert_eq!(normalize_host("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(normalize_host("1.2.3"), Err(NameError::NumericTld));
        assert_eq!(normalize_host("999.1.1.1"), Err(NameError::NumericTld));
        assert_eq!(normalize_host("a b.com"), Err(NameError::InvalidChar(' ')));
        assert_eq!(
            normalize_host("ex*ample.com"),
            Err(NameError::InvalidChar('*'))
        );
        assert_eq!(
            normalize_host("example.com:http"),
            Err(NameError::InvalidPort)
        );
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(normalize_host(&long_label), Err(NameError::LabelTooLong));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert_eq!(normalize_host(&long_name), Err(NameError::TooLong));
        assert_eq!(normalize_host("xn--zz.example"), Err(NameError::Idna));
    }

    #[test]
    fn underscores_are_tolerated() {
        assert_eq!(
            normalize_host("_dmarc.example.com"),
            Ok(dom("_dmarc.example.com"))
        );
    }

    #[test]
    fn fast_lower_matches_slow_path_for_ascii() {
        let mut buf = [0u8; MAX_NAME_LEN + 1];
        let got = fast_lower("A.B.Example.ORG.", &mut buf).unwrap();
        assert_eq!(got, b"a.b.example.org");
        assert!(fast_lower("bücher.example", &mut buf).is_none());
        assert!(fast_lower("", &mut buf).is_none());
        for slow in [
            ".",
            "..",
            ".a.example",
            "a..example",
            "a.example..",
            "::1",
            "[::1]:443",
            "host:80",
        ] {
            assert!(fast_lower(slow, &mut buf).is_none(), "{slow}");
        }
        // Over-long labels cannot be listed, but their parents can: they stay on the fast path.
        assert!(fast_lower(&format!("{}.com", "a".repeat(64)), &mut buf).is_some());
        let ok_label = format!("{}.com", "A".repeat(63));
        assert_eq!(
            fast_lower(&ok_label, &mut buf).unwrap(),
            format!("{}.com", "a".repeat(63)).as_bytes()
        );
        // Punycode labels are only lowercased, as IDNA would.
        assert_eq!(
            fast_lower("Shop.XN--bcher-kva.example", &mut buf).unwrap(),
            b"shop.xn--bcher-kva.example"
        );
        // Every name the fast path accepts normalises to the same bytes on the slow path,
        // or is one the slow path rejects (those can never be listed).
        for q in [
            "Www.Example.Org",
            "a-b_c.example",
            "x.y.z.example.",
            "1x.example",
            "XN--BCHER-KVA.example",
        ] {
            let fast = fast_lower(q, &mut buf).unwrap().to_vec();
            assert_eq!(
                Ok(Host::Domain(String::from_utf8(fast).unwrap())),
                normalize_host(q)
            );
        }
    }
}

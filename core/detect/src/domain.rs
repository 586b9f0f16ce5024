//! Domain-name normalisation and the registrable domain (eTLD+1).
//!
//! We use the `psl` crate rather than `publicsuffix`: `psl` compiles the Public
//! Suffix List into a match tree at build time, so finding a suffix allocates
//! nothing, reads no file and needs no list to be loaded or kept in memory at run
//! time — which is what a sans-IO packet path inside a mobile VPN wants.
//! `publicsuffix` parses the list text at start-up (I/O or a large embedded
//! string plus a heap-allocated trie). The cost is that a list update needs a
//! crate update; both detectors that use it (DGA scoring and "previously unseen
//! registrable domain") tolerate a slightly stale list.

use std::borrow::Cow;

/// Longest DNS name in presentation form (RFC 1035 limits names to 255 octets on
/// the wire, 253 characters in text).
pub const MAX_NAME_LEN: usize = 253;

/// Lowercases `name`, strips one trailing dot and surrounding whitespace.
///
/// Returns `None` when the result is empty, longer than [`MAX_NAME_LEN`], or not
/// ASCII (names are expected in their A-label/punycode form). Borrows when the
/// name is already lowercase, which DNS names on the wire usually are.
pub fn normalize(name: &str) -> Option<Cow<'_, str>> {
    let trimmed = name.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() || trimmed.len() > MAX_NAME_LEN || !trimmed.is_ascii() {
        return None;
    }
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(Cow::Owned(trimmed.to_ascii_lowercase()))
    } else {
        Some(Cow::Borrowed(trimmed))
    }
}

/// The registrable domain (public suffix plus one label) of an already
/// normalised name, e.g. `www.example.co.uk` → `example.co.uk`.
///
/// Returns `None` for a bare public suffix (`co.uk`) or a name with an empty
/// label. Unknown TLDs follow the PSL default rule (`*`): the last label is the
/// suffix.
pub fn registrable(normalized: &str) -> Option<&str> {
    if normalized.split('.').any(str::is_empty) {
        return None;
    }
    psl::domain_str(normalized)
}

/// The label that identifies the owner of a name: the registrable domain minus
/// its public suffix (`www.example.co.uk` → `example`). Falls back to the
/// leftmost label when the name has no registrable domain.
pub fn owner_label(normalized: &str) -> &str {
    match registrable(normalized) {
        Some(reg) => reg.split('.').next().unwrap_or(reg),
        None => normalized.split('.').next().unwrap_or(normalized),
    }
}

/// Whether normalised `name` is `parent` or one of its subdomains, on a label
/// boundary (`a.example.org` is within `example.org`; `badexample.org` is not).
pub fn is_within(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent)
        .is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_is_on_label_boundaries() {
        assert!(is_within("example.org", "example.org"));
        assert!(is_within("a.b.example.org", "example.org"));
        assert!(!is_within("badexample.org", "example.org"));
        assert!(!is_within("example.org", "a.example.org"));
    }

    #[test]
    fn normalizes_case_and_trailing_dot() {
        assert_eq!(
            normalize(" WWW.Example.COM. ").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("."), None);
        assert_eq!(normalize("bücher.de"), None);
        assert_eq!(normalize(&"a".repeat(254)), None);
    }

    #[test]
    fn registrable_domain_respects_multi_label_suffixes() {
        assert_eq!(registrable("www.example.co.uk"), Some("example.co.uk"));
        assert_eq!(registrable("a.b.example.com"), Some("example.com"));
        assert_eq!(registrable("example.com"), Some("example.com"));
        assert_eq!(registrable("co.uk"), None);
        assert_eq!(registrable("a..com"), None);
        // Private-section suffixes: each blogspot subdomain is its own owner.
        assert_eq!(registrable("x.foo.blogspot.com"), Some("foo.blogspot.com"));
    }

    #[test]
    fn owner_label_strips_suffix() {
        assert_eq!(owner_label("mail.google.co.uk"), "google");
        assert_eq!(owner_label("qwxkzjvbtr.net"), "qwxkzjvbtr");
        assert_eq!(owner_label("localhost"), "localhost");
    }
}

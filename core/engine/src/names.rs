//! The name a flow is known by, and where it came from.

use std::sync::Arc;

/// Which evidence named a flow. Stronger sources replace weaker ones:
/// the TLS or QUIC SNI the app sent, then the HTTP Host it asked for, then a
/// DNS answer that resolved to the flow's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    /// The most recent DNS answer for the responder's address.
    Dns,
    /// The HTTP Host header (or CONNECT target).
    HttpHost,
    /// The SNI of a QUIC Initial's ClientHello.
    QuicSni,
    /// The SNI of a TLS ClientHello.
    Sni,
}

impl NameSource {
    /// The spelling used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Dns => "dns",
            NameSource::HttpHost => "http_host",
            NameSource::QuicSni => "quic_sni",
            NameSource::Sni => "sni",
        }
    }

    fn rank(self) -> u8 {
        match self {
            NameSource::Dns => 1,
            NameSource::HttpHost => 2,
            NameSource::QuicSni | NameSource::Sni => 3,
        }
    }
}

/// A flow's best name so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlowName {
    pub(crate) name: Option<(Arc<str>, NameSource)>,
    /// The ClientHello carried an ECH extension: the SNI is the outer one.
    pub(crate) ech: bool,
}

impl FlowName {
    /// Offer a name; it replaces the current one only if its source is at
    /// least as strong (a later SNI beats an earlier DNS guess, never the reverse).
    pub(crate) fn offer(&mut self, name: &str, source: NameSource) {
        let name = name.trim_end_matches('.');
        if name.is_empty() {
            return;
        }
        let replace = match &self.name {
            Some((_, current)) => source.rank() > current.rank(),
            None => true,
        };
        if replace {
            self.name = Some((Arc::from(name.to_ascii_lowercase()), source));
        }
    }

    pub(crate) fn offer_arc(&mut self, name: Arc<str>, source: NameSource) {
        let replace = match &self.name {
            Some((_, current)) => source.rank() > current.rank(),
            None => true,
        };
        if replace && !name.is_empty() {
            self.name = Some((name, source));
        }
    }

    /// Whether only DNS (or nothing) has named the flow so far.
    pub(crate) fn weak(&self) -> bool {
        self.name
            .as_ref()
            .is_none_or(|(_, s)| *s == NameSource::Dns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let mut n = FlowName::default();
        n.offer("cdn.example.net", NameSource::Dns);
        assert!(n.weak());
        n.offer("Example.org.", NameSource::HttpHost);
        assert_eq!(n.name.as_ref().unwrap().0.as_ref(), "example.org");
        n.offer("api.example.org", NameSource::Sni);
        n.offer("other.example", NameSource::HttpHost);
        n.offer("late.example", NameSource::Dns);
        assert_eq!(
            n.name.as_ref().unwrap(),
            &(Arc::from("api.example.org"), NameSource::Sni)
        );
        assert!(!n.weak());
        assert!(NameSource::Sni > NameSource::Dns);
    }
}

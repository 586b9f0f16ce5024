//! The hooks through which detection decides what the relay lets through.

use core::net::SocketAddr;

/// What to do with a DNS query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsDecision {
    /// Forward it upstream.
    Forward,
    /// Answer NXDOMAIN.
    NxDomain,
    /// Answer 0.0.0.0 (A) or :: (AAAA); other types get an empty answer.
    Sinkhole,
}

/// Decides DNS queries. `app` is the querying app's id, when the host knows it.
pub trait DnsPolicy: core::fmt::Debug + Send {
    /// The decision for a query for `qname` (lower case, no trailing dot).
    fn decide(&self, qname: &str, app: Option<u32>) -> DnsDecision;
}

/// What to do with a new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDecision {
    /// Relay it.
    Allow,
    /// Refuse it: TCP RST, ICMP port unreachable for UDP.
    Block,
}

/// Decides new TCP connections and UDP flows.
pub trait FlowPolicy: core::fmt::Debug + Send {
    /// The decision for a flow to `dst`, named `name` if a DNS answer relayed
    /// earlier gave `dst`'s address.
    fn decide(&self, dst: SocketAddr, name: Option<&str>, app: Option<u32>) -> FlowDecision;
}

/// Lets everything through.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl DnsPolicy for AllowAll {
    fn decide(&self, _qname: &str, _app: Option<u32>) -> DnsDecision {
        DnsDecision::Forward
    }
}

impl FlowPolicy for AllowAll {
    fn decide(&self, _dst: SocketAddr, _name: Option<&str>, _app: Option<u32>) -> FlowDecision {
        FlowDecision::Allow
    }
}

/// A fixed list of names, each matching itself and its subdomains, with the
/// decision to apply on a match. Meant for harnesses and tests; the product
/// plugs the intel index in instead.
#[derive(Debug, Clone)]
pub struct NameList {
    names: Vec<String>,
    dns: DnsDecision,
}

impl NameList {
    /// A list answering `dns` for DNS queries that match; flows to a match
    /// are blocked.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I, dns: DnsDecision) -> Self {
        NameList {
            names: names
                .into_iter()
                .map(|n| n.as_ref().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            dns,
        }
    }

    /// Whether `name` or one of its parents is on the list.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.');
        self.names.iter().any(|n| {
            name.eq_ignore_ascii_case(n)
                || (name.len() > n.len()
                    && name
                        .get(name.len() - n.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(n))
                    && name
                        .get(..name.len() - n.len())
                        .is_some_and(|h| h.ends_with('.')))
        })
    }
}

impl DnsPolicy for NameList {
    fn decide(&self, qname: &str, _app: Option<u32>) -> DnsDecision {
        if self.matches(qname) {
            self.dns
        } else {
            DnsDecision::Forward
        }
    }
}

impl FlowPolicy for NameList {
    fn decide(&self, _dst: SocketAddr, name: Option<&str>, _app: Option<u32>) -> FlowDecision {
        match name {
            Some(n) if self.matches(n) => FlowDecision::Block,
            _ => FlowDecision::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_list_matches_name_and_subdomains_only() {
        let list = NameList::new(["Tracker.example."], DnsDecision::NxDomain);
        assert!(list.matches("tracker.example"));
        assert!(list.matches("a.b.TRACKER.example."));
        assert!(!list.matches("nottracker.example"));
        assert!(!list.matches("example"));
        assert_eq!(
            DnsPolicy::decide(&list, "x.tracker.example", None),
            DnsDecision::NxDomain
        );
        assert_eq!(
            DnsPolicy::decide(&list, "other.example", None),
            DnsDecision::Forward
        );
        let dst: SocketAddr = "192.0.2.1:443".parse().unwrap();
        assert_eq!(
            FlowPolicy::decide(&list, dst, Some("tracker.example"), None),
            FlowDecision::Block
        );
        assert_eq!(
            FlowPolicy::decide(&list, dst, None, None),
            FlowDecision::Allow
        );
    }
}

//! Address and network lists: one IPv4/IPv6 address or CIDR per line, with `#` or `;` comments.
//! Networks with host bits set (`10.1.2.3/8`) are truncated to the network, as firewalls do.

use ipnet::IpNet;
use std::net::IpAddr;

use crate::indicator::{Indicator, IndicatorId, Target};
use crate::lines::{Sink, significant};
use crate::report::SkipReason;

pub(crate) fn parse(text: &str, sink: &mut Sink) {
    for (no, line) in significant(text, &['#', ';']) {
        let value = line
            .split([' ', '\t', ';', '#'])
            .next()
            .unwrap_or(line)
            .trim();
        match parse_net(value) {
            Some(net) => sink.accept(Indicator::new(Target::Net(net), IndicatorId::Line(no))),
            None => sink.skip(no, SkipReason::InvalidIp),
        }
    }
}

/// An address (as a host prefix) or a network.
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    s.parse::<IpNet>().ok().map(|n| n.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks() {
        let mut s = Sink::new("t");
        parse(
            "# c\n1.2.3.4\n10.1.2.3/8 ; SBL1\n2001:db8::/32\n::2\n1.2.3.4-1.2.3.9\n300.1.1.1\n",
            &mut s,
        );
        let got: Vec<String> = s
            .indicators
            .iter()
            .map(|i| match &i.target {
                Target::Net(n) => n.to_string(),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(
            got,
            ["1.2.3.4/32", "10.0.0.0/8", "2001:db8::/32", "::2/128"]
        );
        let lines: Vec<_> = s
            .report
            .skipped
            .iter()
            .map(|k| (k.line, k.reason.clone()))
            .collect();
        assert_eq!(
            lines,
            [(6, SkipReason::InvalidIp), (7, SkipReason::InvalidIp)]
        );
    }
}

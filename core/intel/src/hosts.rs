//! hosts files (`0.0.0.0 a.example b.example # note`), plain domain lists and `*.domain`
//! wildcard lists. A line without a leading address is a list entry; the sink address of a hosts
//! line is ignored because every address (0.0.0.0, 127.0.0.1, ::) means "block".

use std::net::IpAddr;

use crate::lines::{Sink, significant};
use crate::report::SkipReason;

/// Names every stock hosts file maps to loopback; listing them blocks nothing.
const BOILERPLATE: [&str; 12] = [
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

pub(crate) fn parse(text: &str, sink: &mut Sink) {
    for (no, line) in significant(text, &['#']) {
        let line = line.split_once('#').map_or(line, |(l, _)| l).trim();
        let mut tokens = line.split_whitespace();
        let Some(first) = tokens.next() else {
            continue;
        };
        if first.parse::<IpAddr>().is_ok() && line.contains(char::is_whitespace) {
            for name in tokens {
                if BOILERPLATE.contains(&name.to_ascii_lowercase().as_str()) {
                    sink.report.ignored += 1;
                } else {
                    entry(sink, no, name);
                }
            }
        } else if tokens.next().is_some() {
            sink.skip(no, SkipReason::Unrecognised);
        } else {
            entry(sink, no, first);
        }
    }
}

fn entry(sink: &mut Sink, no: u32, name: &str) {
    match name.strip_prefix("*.") {
        Some(rest) => sink.host(no, rest, true),
        None => sink.host(no, name, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{IndicatorId, Target};

    fn run(t: &str) -> Sink {
        let mut s = Sink::new("t");
        parse(t, &mut s);
        s
    }

    fn names(s: &Sink) -> Vec<String> {
        s.indicators
            .iter()
            .map(|i| match &i.target {
                Target::Domain {
                    name,
                    subdomains_only: true,
                } => format!("*.{name}"),
                Target::Domain { name, .. } => name.clone(),
                Target::Net(n) => n.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn hosts_lines_with_several_names_and_comments() {
        let s = run(
            "# header\n127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n0.0.0.0 A.example.com b.example.net # trailing\n127.0.0.1\tc.example.org\n",
        );
        assert_eq!(
            names(&s),
            ["a.example.com", "b.example.net", "c.example.org"]
        );
        assert_eq!(s.report.ignored, 3);
        assert_eq!(s.report.skipped_total, 0);
        assert_eq!(s.indicators[0].id, IndicatorId::Line(4));
        assert_eq!(s.indicators[2].id, IndicatorId::Line(5));
    }

    #[test]
    fn plain_and_wildcard_lists_with_ips() {
        let s = run("example.com\n*.wild.example\n1.2.3.4\n*.5.6.7.8\nbad name here\nsingle\n");
        assert_eq!(
            names(&s),
            ["example.com", "*.wild.example", "1.2.3.4/32", "5.6.7.8/32"]
        );
        assert_eq!(s.report.skipped_total, 2);
        assert_eq!(s.report.skipped[0].line, 5);
        assert_eq!(s.report.skipped[0].reason, SkipReason::Unrecognised);
        assert!(matches!(
            s.report.skipped[1].reason,
            SkipReason::InvalidName(_)
        ));
    }
}

//! dnsmasq configuration lines: `address=/d1/d2/0.0.0.0` and `address=/d/` sinkhole a domain and
//! its subdomains; `server=/d/` (no upstream) and `local=/d/` answer NXDOMAIN for them. A
//! `server=/d/1.2.3.4` line only forwards and blocks nothing, so it is skipped.

use crate::lines::{Sink, significant};
use crate::report::SkipReason;

pub(crate) fn parse(text: &str, sink: &mut Sink) {
    for (no, line) in significant(text, &['#']) {
        let Some((directive, value)) = line.split_once('=') else {
            sink.skip(no, SkipReason::Unrecognised);
            continue;
        };
        let directive = directive.trim();
        if !matches!(directive, "address" | "server" | "local") {
            sink.skip(
                no,
                SkipReason::Dnsmasq("not an address/server/local directive"),
            );
            continue;
        }
        let Some(rest) = value.trim().strip_prefix('/') else {
            sink.skip(no, SkipReason::Unrecognised);
            continue;
        };
        let Some((domains, target)) = rest.rsplit_once('/') else {
            sink.skip(no, SkipReason::Unrecognised);
            continue;
        };
        if directive == "server" && !target.trim().is_empty() && target.trim() != "#" {
            sink.skip(no, SkipReason::Dnsmasq("forwards to an upstream server"));
            continue;
        }
        for d in domains.split('/') {
            if d == "#" {
                sink.skip(no, SkipReason::Dnsmasq("`#` matches every domain"));
            } else {
                sink.host(no, d, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Target;

    #[test]
    fn address_server_local_block() {
        let mut s = Sink::new("t");
        parse(
            "# c\naddress=/a.example.com/0.0.0.0\naddress=/b.example.com/c.example.net/::\nserver=/d.example.org/\nlocal=/e.example.org/\nserver=/fwd.example/9.9.9.9\naddress=/#/0.0.0.0\nconf-file=/x\n",
            &mut s,
        );
        let names: Vec<_> = s
            .indicators
            .iter()
            .map(|i| match &i.target {
                Target::Domain { name, .. } => name.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(
            names,
            [
                "a.example.com",
                "b.example.com",
                "c.example.net",
                "d.example.org",
                "e.example.org"
            ]
        );
        let lines: Vec<_> = s.report.skipped.iter().map(|k| k.line).collect();
        assert_eq!(lines, [6, 7, 8]);
    }
}

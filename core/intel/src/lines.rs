//! Line iteration shared by the text feed formats, and the version found in their headers.

use crate::indicator::{Indicator, IndicatorId, Target};
use crate::normalize::{Host, normalize_host};
use crate::report::{LoadReport, SkipReason};

/// Significant lines: 1-based line number and trimmed text, blank lines and lines starting with
/// one of `comment` dropped.
pub(crate) fn significant<'t>(
    text: &'t str,
    comment: &'static [char],
) -> impl Iterator<Item = (u32, &'t str)> + 't {
    text.lines().enumerate().filter_map(move |(i, l)| {
        let t = l.trim();
        if t.is_empty() || t.starts_with(comment) {
            None
        } else {
            Some((u32::try_from(i + 1).unwrap_or(u32::MAX), t))
        }
    })
}

/// Header keys that carry a list's version or date, most specific first.
const VERSION_KEYS: [&str; 5] = [
    "version",
    "last modified",
    "last updated",
    "updated",
    "timeupdated",
];

/// The version or date announced in the leading comment block (`# Version: …`,
/// `! Last modified: …`, `# Updated: …`).
pub(crate) fn header_version(text: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in text.lines().take(64) {
        let t = line.trim();
        let Some(body) = t.strip_prefix(['#', '!']) else {
            if t.is_empty() {
                continue;
            }
            break;
        };
        let Some((key, value)) = body.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if let Some(rank) = VERSION_KEYS.iter().position(|k| *k == key)
            && best.as_ref().is_none_or(|(r, _)| rank < *r)
        {
            best = Some((rank, value.chars().take(64).collect()));
        }
    }
    best.map(|(_, v)| v)
}

/// Collects what a parser produced.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) indicators: Vec<Indicator>,
    pub(crate) report: LoadReport,
}

impl Sink {
    pub(crate) fn new(file: &str) -> Sink {
        Sink {
            indicators: Vec::new(),
            report: LoadReport::new(file),
        }
    }

    pub(crate) fn accept(&mut self, ind: Indicator) {
        self.report.accepted += 1;
        self.indicators.push(ind);
    }

    pub(crate) fn skip(&mut self, line: u32, reason: SkipReason) {
        self.report.skip(line, None, reason);
    }

    /// Normalises `value` as a host and accepts it as a domain or IP indicator.
    pub(crate) fn host(&mut self, line: u32, value: &str, subdomains_only: bool) {
        // A CIDR in a domain or hosts list is a network, not a host with a path.
        if value.contains('/')
            && let Ok(net) = value.parse::<ipnet::IpNet>()
        {
            self.accept(Indicator::new(
                Target::Net(net.trunc()),
                IndicatorId::Line(line),
            ));
            return;
        }
        match normalize_host(value) {
            Ok(Host::Domain(name)) => self.accept(Indicator::new(
                Target::Domain {
                    name,
                    subdomains_only,
                },
                IndicatorId::Line(line),
            )),
            // `*.1.2.3.4` in wildcard lists is an address, which has no subdomains: the
            // address itself is what the list means to block.
            Ok(Host::Ip(ip)) => self.accept(Indicator::new(
                Target::Net(ip.into()),
                IndicatorId::Line(line),
            )),
            Err(e) => self.skip(line, SkipReason::InvalidName(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_version_in_header() {
        let t = "# Title: X\n# Version: 2024.1\n# Last modified: yesterday\n\na.com\n";
        assert_eq!(header_version(t).as_deref(), Some("2024.1"));
        let t = "! Title: X\n! Last modified: 2026-07-06 00:40:31 UTC\n||a.com^\n";
        assert_eq!(
            header_version(t).as_deref(),
            Some("2026-07-06 00:40:31 UTC")
        );
        let t = "# Updated: 2025-07-19T12:11:28Z\na.com\n# Version: late\n";
        assert_eq!(header_version(t).as_deref(), Some("2025-07-19T12:11:28Z"));
        assert_eq!(header_version("a.com\n"), None);
    }

    #[test]
    fn significant_lines_keep_numbers() {
        let got: Vec<_> = significant("# c\n\n a.com \n!x\nb.com", &['#']).collect();
        assert_eq!(got, vec![(3, "a.com"), (4, "!x"), (5, "b.com")]);
    }
}

//! A loaded feed: its format (given or detected), provenance and indicators.

use std::path::Path;

use crate::error::IntelError;
use crate::indicator::{Indicator, ListKind, Severity};
use crate::lines::{Sink, header_version};
use crate::report::LoadReport;
use crate::{abp, dnsmasq, hosts, iplist, maltrail, stix};

/// The feed formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FeedFormat {
    /// STIX 2.1 JSON bundle.
    Stix,
    /// hosts file, plain domain list or `*.domain` wildcard list.
    Hosts,
    /// AdGuard / Adblock Plus / uBlock Origin filter list.
    Abp,
    /// dnsmasq `address=/…/` / `server=/…/` lines.
    Dnsmasq,
    /// maltrail trail file.
    Maltrail,
    /// IP address / CIDR list.
    IpList,
}

/// How to load one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedOptions {
    /// Feed name for provenance (the CLI defaults it to the file stem).
    pub name: String,
    /// Version or date; when `None` the file header (`# Version:`, `! Last modified:`, …) is used.
    pub version: Option<String>,
    /// Block or allow list.
    pub list: ListKind,
    /// Format; `None` detects it.
    pub format: Option<FeedFormat>,
    /// Severity of indicators that do not carry their own; `None` uses the format's default.
    pub default_severity: Option<Severity>,
    /// Category of indicators that do not carry their own.
    pub category: Option<String>,
}

impl FeedOptions {
    /// A blocklist named `name`, format detected, version from the header.
    pub fn new(name: &str) -> FeedOptions {
        FeedOptions {
            name: name.to_owned(),
            version: None,
            list: ListKind::Block,
            format: None,
            default_severity: None,
            category: None,
        }
    }
}

/// A parsed feed, ready for [`crate::IndexBuilder::add_feed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// Feed name.
    pub name: String,
    /// Version or date, if known.
    pub version: Option<String>,
    /// The file it was read from (for `file:line` provenance).
    pub file: String,
    /// The format it was read as.
    pub format: FeedFormat,
    /// Block or allow list.
    pub list: ListKind,
    /// Severity for indicators without their own.
    pub default_severity: Severity,
    /// The indicators, in file order.
    pub indicators: Vec<Indicator>,
    /// What was accepted and what was skipped.
    pub report: LoadReport,
}

/// Guesses a feed's format from its file name and first lines.
pub fn detect_format(file: &str, text: &str) -> Option<FeedFormat> {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".stix2") || lower.ends_with(".json") || text.trim_start().starts_with('{') {
        return Some(FeedFormat::Stix);
    }
    if text
        .lines()
        .take(8)
        .any(|l| l.starts_with('#') && l.contains("Maltrail"))
    {
        return Some(FeedFormat::Maltrail);
    }
    let (mut abp, mut dnsmasq, mut hosts, mut ip, mut trail, mut plain, mut total) =
        (0u32, 0u32, 0u32, 0u32, 0u32, 0u32, 0u32);
    let mut bang_comments = false;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2000)
    {
        if line.starts_with('!') {
            bang_comments = true;
            continue;
        }
        if line.starts_with('#') && !line.contains("##") {
            continue;
        }
        total += 1;
        let first = line.split_whitespace().next().unwrap_or("");
        if line.starts_with("||") || line.starts_with("@@") || line.contains("##") {
            abp += 1;
        } else if ["address=/", "server=/", "local=/"]
            .iter()
            .any(|p| line.starts_with(p))
        {
            dnsmasq += 1;
        } else if first.parse::<std::net::IpAddr>().is_ok()
            && line.split_whitespace().nth(1).is_some()
        {
            hosts += 1;
        } else if iplist::parse_net(first).is_some() {
            ip += 1;
        } else if line.contains("://")
            || line.starts_with('/')
            || first
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        {
            trail += 1;
        } else if !line.contains(char::is_whitespace) && line.contains('.') && !line.contains(',') {
            plain += 1;
        }
    }
    if total == 0 {
        return None;
    }
    let majority = |n: u32| n * 2 > total;
    // `!` comments only exist in filter lists; hosts and domain lists use `#`.
    if bang_comments || abp > 0 && majority(abp + plain + ip) {
        Some(FeedFormat::Abp)
    } else if majority(dnsmasq) {
        Some(FeedFormat::Dnsmasq)
    } else if majority(ip) && plain == 0 {
        Some(FeedFormat::IpList)
    } else if trail > 0 && majority(trail + plain + ip) {
        Some(FeedFormat::Maltrail)
    } else if majority(hosts + plain + ip) {
        Some(FeedFormat::Hosts)
    } else {
        None
    }
}

/// Parses feed text. `file` names it in reports and provenance.
pub fn parse_feed(file: &str, text: &str, opts: &FeedOptions) -> Result<Feed, IntelError> {
    let format = match opts.format {
        Some(f) => f,
        None => detect_format(file, text).ok_or_else(|| IntelError::UnrecognisedFormat {
            file: file.to_owned(),
        })?,
    };
    let mut sink = Sink::new(file);
    let mut family = None;
    match format {
        FeedFormat::Stix => stix::parse(text, &mut sink)?,
        FeedFormat::Hosts => hosts::parse(text, &mut sink),
        FeedFormat::Abp => abp::parse(text, &mut sink),
        FeedFormat::Dnsmasq => dnsmasq::parse(text, &mut sink),
        FeedFormat::Maltrail => {
            family = maltrail::aliases(text);
            maltrail::parse(text, &mut sink);
        }
        FeedFormat::IpList => iplist::parse(text, &mut sink),
    }
    let report = sink.report;
    if report.is_mostly_garbage() {
        return Err(IntelError::MostlyGarbage {
            file: file.to_owned(),
            format,
            rejected: report.skipped_total,
            lines: report.accepted + report.skipped_total,
        });
    }
    if report.accepted == 0 && report.skipped_total > 0 {
        return Err(IntelError::UnrecognisedFormat {
            file: file.to_owned(),
        });
    }
    let mut indicators = sink.indicators;
    for ind in &mut indicators {
        if opts.list == ListKind::Allow {
            ind.list = ListKind::Allow;
        }
        if ind.category.is_none() {
            ind.category.clone_from(&opts.category);
        }
        if ind.family.is_none() {
            ind.family.clone_from(&family);
        }
    }
    let default_severity = opts.default_severity.unwrap_or(match format {
        // Curated spyware / malware infrastructure.
        FeedFormat::Stix | FeedFormat::Maltrail => Severity::High,
        _ => Severity::Medium,
    });
    Ok(Feed {
        name: opts.name.clone(),
        version: opts.version.clone().or_else(|| header_version(text)),
        file: file.to_owned(),
        format,
        list: opts.list,
        default_severity,
        indicators,
        report,
    })
}

/// Reads and parses a feed file (an edge: this is the crate's only feed file I/O).
pub fn load_feed(path: &Path, opts: &FeedOptions) -> Result<Feed, IntelError> {
    let bytes = std::fs::read(path).map_err(|source| IntelError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    parse_feed(&file, &text, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_every_format() {
        assert_eq!(detect_format("a.stix2", "{}"), Some(FeedFormat::Stix));
        assert_eq!(
            detect_format("x", "  {\"type\":\"bundle\"}"),
            Some(FeedFormat::Stix)
        );
        assert_eq!(
            detect_format(
                "x",
                "# Copyright (c) 2014-2026 Maltrail developers\nevil.com\n"
            ),
            Some(FeedFormat::Maltrail)
        );
        assert_eq!(
            detect_format("x", "# t\n0.0.0.0 a.com\n0.0.0.0 b.com\n"),
            Some(FeedFormat::Hosts)
        );
        assert_eq!(
            detect_format("x", "a.com\nb.com\n1.2.3.4\n"),
            Some(FeedFormat::Hosts)
        );
        assert_eq!(
            detect_format("x", "*.a.com\n*.b.com\n"),
            Some(FeedFormat::Hosts)
        );
        assert_eq!(
            detect_format("x", "! t\n||a.com^\n||b.com^\n"),
            Some(FeedFormat::Abp)
        );
        assert_eq!(
            detect_format("x", "! t\na.com\n||b.com/path^$all\n"),
            Some(FeedFormat::Abp)
        );
        assert_eq!(
            detect_format("x", "address=/a.com/0.0.0.0\nserver=/b.com/\n"),
            Some(FeedFormat::Dnsmasq)
        );
        assert_eq!(
            detect_format("x", "# c\n1.2.3.4\n10.0.0.0/8\n::1\n"),
            Some(FeedFormat::IpList)
        );
        assert_eq!(
            detect_format("x", "evil.com\n1.2.3.4:80\nhttp://x.com/a\n/p.apk\n"),
            Some(FeedFormat::Maltrail)
        );
        assert_eq!(
            detect_format("x", "type,indicator,app\nthis is prose\nmore prose here\n"),
            None
        );
        assert_eq!(detect_format("x", "# only comments\n"), None);
    }

    #[test]
    fn header_version_and_caller_version() {
        let text = "# Title: t\n# Last modified: 2026-07-06\n0.0.0.0 a.example.com\n";
        let f = parse_feed("t.txt", text, &FeedOptions::new("t")).unwrap();
        assert_eq!(f.version.as_deref(), Some("2026-07-06"));
        assert_eq!(f.format, FeedFormat::Hosts);
        let mut o = FeedOptions::new("t");
        o.version = Some("v9".into());
        assert_eq!(
            parse_feed("t.txt", text, &o).unwrap().version.as_deref(),
            Some("v9")
        );
    }

    #[test]
    fn mostly_garbage_feed_is_refused_but_partly_bad_feed_loads() {
        let mut text = String::from("# hosts\n");
        for i in 0..15 {
            text.push_str(&format!("0.0.0.0 good{i}.example.com\n"));
        }
        for i in 0..10 {
            text.push_str(&format!("0.0.0.0 bad{i}..example.com\n"));
        }
        let f = parse_feed("h", &text, &FeedOptions::new("h")).unwrap();
        assert_eq!(f.indicators.len(), 15);
        assert_eq!(f.report.skipped_total, 10);
        assert_eq!(f.report.skipped[0].line, 17);
        for i in 0..10 {
            text.push_str(&format!("0.0.0.0 worse{i}..example.com\n"));
        }
        let err = parse_feed("h", &text, &FeedOptions::new("h")).unwrap_err();
        assert!(
            matches!(
                err,
                IntelError::MostlyGarbage {
                    rejected: 20,
                    lines: 35,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn unrecognisable_feed_is_refused() {
        let err = parse_feed(
            "x.csv",
            "type,indicator,app\nfoo bar baz\n",
            &FeedOptions::new("x"),
        )
        .unwrap_err();
        assert!(matches!(err, IntelError::UnrecognisedFormat { .. }));
    }

    #[test]
    fn allowlist_feed_marks_every_entry_allowed() {
        let mut o = FeedOptions::new("allow");
        o.list = ListKind::Allow;
        let f = parse_feed("a", "good.example\n", &o).unwrap();
        assert_eq!(f.indicators[0].list, ListKind::Allow);
    }
}

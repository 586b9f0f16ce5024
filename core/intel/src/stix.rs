//! STIX 2.1 bundles as the Mobile Verification Toolkit reads them.
//!
//! Each `indicator` with `pattern_type` `stix` is read for simple comparisons joined by `OR`
//! (`[domain-name:value = 'a'] OR [ipv4-addr:value = '1.2.3.4']`). Network observables become
//! domain or IP indicators (an address written as a `domain-name`, or a domain with a path, is
//! normalised like any other host); `app:id` becomes an app indicator, `file:hashes.*` a file
//! hash, anything else an `Other` indicator, so the host app can still use them. Patterns with
//! `AND`, `FOLLOWEDBY`, qualifiers or operators other than `=` cannot be decided from one
//! connection and are skipped. The family comes from the `malware` (or intrusion-set, campaign,
//! threat-actor, tool) object an `indicates` relationship points at, else from a `report` that
//! lists the indicator.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use serde::Deserialize;

use crate::error::IntelError;
use crate::indicator::{Indicator, IndicatorId, Severity, Target};
use crate::iplist::parse_net;
use crate::lines::Sink;
use crate::normalize::{Host, normalize_host};
use crate::report::SkipReason;

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    objects: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct StixIndicator {
    id: String,
    pattern: String,
    #[serde(default)]
    pattern_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    indicator_types: Vec<String>,
    #[serde(default)]
    confidence: Option<u8>,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_until: Option<String>,
    #[serde(default)]
    revoked: bool,
}

#[derive(Deserialize)]
struct Relationship {
    relationship_type: String,
    source_ref: String,
    target_ref: String,
}

#[derive(Deserialize)]
struct Named {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    object_refs: Vec<String>,
}

const FAMILY_TYPES: [&str; 5] = [
    "malware",
    "intrusion-set",
    "campaign",
    "threat-actor",
    "tool",
];

pub(crate) fn parse(text: &str, sink: &mut Sink) -> Result<(), IntelError> {
    let bundle: Bundle = serde_json::from_str(text).map_err(|e| IntelError::InvalidStix {
        file: sink.report.file.clone(),
        reason: e.to_string(),
    })?;
    if bundle.kind != "bundle" {
        return Err(IntelError::InvalidStix {
            file: sink.report.file.clone(),
            reason: format!("top-level type is {:?}, not \"bundle\"", bundle.kind),
        });
    }
    let type_of = |o: &serde_json::Value| {
        o.get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_owned()
    };

    let mut names: HashMap<String, String> = HashMap::new();
    let mut report_of: HashMap<String, String> = HashMap::new();
    for o in &bundle.objects {
        let t = type_of(o);
        if FAMILY_TYPES.contains(&t.as_str()) || t == "report" {
            let Ok(n) = Named::deserialize(o) else {
                continue;
            };
            let Some(name) = n.name else { continue };
            if t == "report" {
                for r in n.object_refs {
                    report_of.entry(r).or_insert_with(|| name.clone());
                }
            } else {
                names.insert(n.id, name);
            }
        }
    }
    let mut family_of: HashMap<String, String> = HashMap::new();
    for o in &bundle.objects {
        if type_of(o) != "relationship" {
            continue;
        }
        let Ok(r) = Relationship::deserialize(o) else {
            continue;
        };
        if r.relationship_type == "indicates"
            && let Some(name) = names.get(&r.target_ref)
        {
            family_of
                .entry(r.source_ref)
                .or_insert_with(|| name.clone());
        }
    }

    for o in &bundle.objects {
        if type_of(o) != "indicator" {
            continue;
        }
        let id = o.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let ind = match StixIndicator::deserialize(o) {
            Ok(i) => i,
            Err(e) => {
                sink.report
                    .skip(0, id.as_deref(), SkipReason::StixObject(e.to_string()));
                continue;
            }
        };
        let family = family_of
            .get(&ind.id)
            .or_else(|| report_of.get(&ind.id))
            .cloned();
        indicator(sink, ind, family);
    }
    Ok(())
}

fn indicator(sink: &mut Sink, ind: StixIndicator, family: Option<String>) {
    let obj = Some(ind.id.as_str());
    if ind.revoked {
        sink.report
            .skip(0, obj, SkipReason::StixObject("revoked".into()));
        return;
    }
    if let Some(pt) = &ind.pattern_type
        && pt != "stix"
    {
        sink.report.skip(
            0,
            obj,
            SkipReason::StixPattern(format!("pattern_type {pt}")),
        );
        return;
    }
    let (Ok(valid_from), Ok(valid_until)) = (
        time_us(ind.valid_from.as_deref()),
        time_us(ind.valid_until.as_deref()),
    ) else {
        sink.report.skip(0, obj, SkipReason::StixTime);
        return;
    };
    let comparisons = match parse_pattern(&ind.pattern) {
        Ok(c) => c,
        Err(why) => {
            sink.report.skip(0, obj, SkipReason::StixPattern(why));
            return;
        }
    };
    let severity = severity(&ind);
    let category = {
        let mut cats: Vec<&str> = ind
            .indicator_types
            .iter()
            .chain(&ind.labels)
            .map(String::as_str)
            .collect();
        cats.dedup();
        (!cats.is_empty()).then(|| cats.join(","))
    };
    for (path, value) in comparisons {
        let target = match target(&path, &value) {
            Ok(t) => t,
            Err(reason) => {
                sink.report.skip(0, obj, reason);
                continue;
            }
        };
        sink.accept(Indicator {
            target,
            id: IndicatorId::Stix(ind.id.clone()),
            list: crate::indicator::ListKind::Block,
            name: ind.name.clone(),
            category: category.clone(),
            family: family.clone(),
            severity,
            valid_from_us: valid_from,
            valid_until_us: valid_until,
        });
    }
}

fn severity(ind: &StixIndicator) -> Option<Severity> {
    if let Some(c) = ind.confidence {
        return Some(Severity::from_confidence(c.min(100)));
    }
    let has = |l: &str| {
        ind.indicator_types
            .iter()
            .chain(&ind.labels)
            .any(|x| x == l)
    };
    if has("benign") {
        Some(Severity::Info)
    } else if has("malicious-activity") || has("compromised") || has("attribution") {
        Some(Severity::High)
    } else if has("anomalous-activity") {
        Some(Severity::Medium)
    } else {
        None
    }
}

fn target(path: &str, value: &str) -> Result<Target, SkipReason> {
    match path {
        "domain-name:value" | "url:value" => match normalize_host(value)? {
            Host::Domain(name) => Ok(Target::Domain {
                name,
                subdomains_only: false,
            }),
            Host::Ip(ip) => Ok(Target::Net(ip.into())),
        },
        "ipv4-addr:value" | "ipv6-addr:value" => parse_net(value.trim())
            .map(Target::Net)
            .ok_or(SkipReason::InvalidIp),
        "app:id" => Ok(Target::App(value.to_owned())),
        _ => {
            if let Some(alg) = path.strip_prefix("file:hashes.") {
                let alg = alg.trim_matches('\'').replace('-', "").to_ascii_lowercase();
                return Ok(Target::FileHash(format!(
                    "{alg}:{}",
                    value.to_ascii_lowercase()
                )));
            }
            Ok(Target::Other {
                path: path.to_owned(),
                value: value.to_owned(),
            })
        }
    }
}

fn time_us(s: Option<&str>) -> Result<Option<u64>, ()> {
    let Some(s) = s else { return Ok(None) };
    let t = humantime::parse_rfc3339(s).map_err(|_| ())?;
    let us = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => u64::try_from(d.as_micros()).map_err(|_| ())?,
        // Before 1970: valid since forever.
        Err(_) => 0,
    };
    Ok(Some(us))
}

/// Splits a STIX pattern into `(object-path, value)` comparisons joined by `OR`.
pub(crate) fn parse_pattern(p: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = p;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '[' || c == '(');
        let (path, r) = take_path(rest)?;
        let r = r.trim_start();
        let r = r
            .strip_prefix('=')
            .ok_or_else(|| format!("operator other than = after {path}"))?;
        let (value, r) = take_quoted(r.trim_start())?;
        out.push((path.to_owned(), value));
        rest = r.trim_start_matches(|c: char| c.is_whitespace() || c == ']' || c == ')');
        if rest.is_empty() {
            return Ok(out);
        }
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if word != "OR" {
            return Err(if word.is_empty() {
                "unexpected text".to_owned()
            } else {
                word
            });
        }
        rest = rest.get(2..).unwrap_or("");
    }
}

fn take_path(s: &str) -> Result<(&str, &str), String> {
    let mut in_quote = false;
    let mut end = s.len();
    for (i, c) in s.char_indices() {
        if c == '\'' {
            in_quote = !in_quote;
        } else if !in_quote && (c.is_whitespace() || matches!(c, '=' | '!' | '<' | '>')) {
            end = i;
            break;
        }
    }
    let (path, rest) = s.split_at_checked(end).ok_or("bad path")?;
    if !path.contains(':') || path.starts_with(':') {
        return Err("missing object path".to_owned());
    }
    Ok((path, rest))
}

fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let body = s.strip_prefix('\'').ok_or("value is not a quoted string")?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            '\'' => return Ok((out, body.get(i + 1..).unwrap_or(""))),
            c => out.push(c),
        }
    }
    Err("unterminated string".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::IndicatorKind;

    fn bundle(indicators: &str) -> String {
        format!(
            r#"{{"type":"bundle","id":"bundle--1","objects":[
            {{"type":"malware","id":"malware--m","name":"EvilFamily","is_family":true}},
            {{"type":"report","id":"report--r","name":"Report R","object_refs":["indicator--x2"]}},
            {{"type":"relationship","id":"relationship--1","relationship_type":"indicates","source_ref":"indicator--x1","target_ref":"malware--m"}},
            {indicators}]}}"#
        )
    }

    fn run(text: &str) -> Sink {
        let mut s = Sink::new("b.stix2");
        parse(text, &mut s).unwrap();
        s
    }

    #[test]
    fn patterns_of_every_kind() {
        let text = bundle(
            r#"{"type":"indicator","id":"indicator--x1","pattern":"[domain-name:value='Evil.Example.com']","pattern_type":"stix","valid_from":"2022-06-24T13:12:26.333619Z","valid_until":"2023-01-01T00:00:00Z","confidence":90,"name":"c2","labels":["malicious-activity"]},
            {"type":"indicator","id":"indicator--x2","pattern":"[ipv4-addr:value = '1.2.3.4'] OR [ipv6-addr:value = '2001:db8::/32'] OR [url:value = 'https://u.example.net/p?q']","pattern_type":"stix","valid_from":"2022-01-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--x3","pattern":"[domain-name:value='176.223.111.131']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--x4","pattern":"[domain-name:value='fgr1w2gnsdvsb.xyz/x']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--x5","pattern":"[app:id='com.evil.app']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--x6","pattern":"[file:hashes.'SHA-256'='ABCDEF']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--x7","pattern":"[file:path='/private/var/tmp/it\\'s']","pattern_type":"stix"}"#,
        );
        let s = run(&text);
        assert_eq!(s.report.skipped_total, 0, "{:?}", s.report.skipped);
        let kinds: Vec<_> = s.indicators.iter().map(|i| i.target.kind()).collect();
        use IndicatorKind::*;
        assert_eq!(
            kinds,
            [Domain, Ip, Cidr, Domain, Ip, Domain, App, FileHash, Other]
        );
        let first = &s.indicators[0];
        assert_eq!(
            first.target,
            Target::Domain {
                name: "evil.example.com".into(),
                subdomains_only: false
            }
        );
        assert_eq!(first.family.as_deref(), Some("EvilFamily"));
        assert_eq!(first.name.as_deref(), Some("c2"));
        assert_eq!(first.category.as_deref(), Some("malicious-activity"));
        assert_eq!(first.severity, Some(Severity::High));
        assert_eq!(first.valid_from_us, Some(1_656_076_346_333_619));
        assert_eq!(first.valid_until_us, Some(1_672_531_200_000_000));
        assert_eq!(first.id, IndicatorId::Stix("indicator--x1".into()));
        assert_eq!(
            s.indicators[1].family.as_deref(),
            Some("Report R"),
            "family from a report"
        );
        assert_eq!(
            s.indicators[3].target,
            Target::Domain {
                name: "u.example.net".into(),
                subdomains_only: false
            }
        );
        assert_eq!(
            s.indicators[5].target,
            Target::Domain {
                name: "fgr1w2gnsdvsb.xyz".into(),
                subdomains_only: false
            }
        );
        assert_eq!(
            s.indicators[7].target,
            Target::FileHash("sha256:abcdef".into())
        );
        assert_eq!(
            s.indicators[8].target,
            Target::Other {
                path: "file:path".into(),
                value: "/private/var/tmp/it's".into()
            }
        );
    }

    #[test]
    fn unsupported_and_broken_indicators_are_skipped() {
        let text = bundle(
            r#"{"type":"indicator","id":"indicator--a","pattern":"[domain-name:value='a.example' AND ipv4-addr:value='1.1.1.1']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--b","pattern":"[domain-name:value LIKE '%.example']","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--c","pattern":"[domain-name:value='x.example'] WITHIN 300 SECONDS","pattern_type":"stix"},
            {"type":"indicator","id":"indicator--d","pattern":"alert tcp any any","pattern_type":"snort"},
            {"type":"indicator","id":"indicator--e","pattern":"[domain-name:value='ok.example']","valid_from":"yesterday"},
            {"type":"indicator","id":"indicator--f"},
            {"type":"indicator","id":"indicator--g","pattern":"[domain-name:value='bad..example']"},
            {"type":"indicator","id":"indicator--h","pattern":"[domain-name:value='unterminated]"},
            {"type":"indicator","id":"indicator--i","pattern":"[domain-name:value='revoked.example']","revoked":true}"#,
        );
        let s = run(&text);
        assert!(s.indicators.is_empty());
        let objects: Vec<_> = s
            .report
            .skipped
            .iter()
            .map(|k| k.object.clone().unwrap())
            .collect();
        assert_eq!(objects.len(), 9);
        assert!(matches!(s.report.skipped[0].reason, SkipReason::StixPattern(ref w) if w == "AND"));
        assert!(matches!(s.report.skipped[4].reason, SkipReason::StixTime));
        assert!(matches!(
            s.report.skipped[5].reason,
            SkipReason::StixObject(_)
        ));
        assert!(matches!(
            s.report.skipped[6].reason,
            SkipReason::InvalidName(_)
        ));
    }

    #[test]
    fn not_a_bundle_is_an_error() {
        let mut s = Sink::new("x");
        assert!(matches!(
            parse("{\"type\":\"indicator\"}", &mut s),
            Err(IntelError::InvalidStix { .. })
        ));
        assert!(matches!(
            parse("[1,2", &mut s),
            Err(IntelError::InvalidStix { .. })
        ));
    }
}

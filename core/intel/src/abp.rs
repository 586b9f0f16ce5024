//! AdGuard / Adblock Plus / uBlock Origin filter lists, reduced to what a DNS-level matcher can
//! honour: `||domain^` blocks the domain and its subdomains, `@@||domain^` allows them, and a
//! bare hostname line is a domain rule (uBO semantics). Modifiers: `$important` and `$all` keep
//! the rule (they do not narrow it); any other modifier narrows the rule to some requests, which
//! a DNS answer cannot tell apart, so the rule is skipped. Path, regex and cosmetic rules are
//! skipped with their line number.

use crate::indicator::ListKind;
use crate::lines::{Sink, significant};
use crate::report::SkipReason;

/// Modifiers that do not narrow a rule.
const HARMLESS_MODIFIERS: [&str; 2] = ["important", "all"];

/// Cosmetic / scriptlet separators.
const COSMETIC: [&str; 6] = ["##", "#@#", "#?#", "#$#", "#%#", "#@$#"];

pub(crate) fn parse(text: &str, sink: &mut Sink) {
    for (no, line) in significant(text, &['!']) {
        if line.starts_with('[') && line.ends_with(']') {
            // `[Adblock Plus 2.0]` header.
            sink.report.ignored += 1;
            continue;
        }
        if COSMETIC.iter().any(|c| line.contains(c)) {
            sink.skip(no, SkipReason::CosmeticRule);
            continue;
        }
        if line.starts_with('#') {
            // hosts-style comments are common in AdGuard Home lists too.
            sink.report.ignored += 1;
            continue;
        }
        let (list, rule) = match line.strip_prefix("@@") {
            Some(r) => (ListKind::Allow, r),
            None => (ListKind::Block, line),
        };
        if rule.len() > 1 && rule.starts_with('/') && rule.ends_with('/') {
            sink.skip(no, SkipReason::RegexRule);
            continue;
        }
        match domain_rule(rule) {
            Ok(host) => {
                let before = sink.indicators.len();
                sink.host(no, host, false);
                if let Some(ind) = sink.indicators.get_mut(before) {
                    ind.list = list;
                }
            }
            Err(reason) => sink.skip(no, reason),
        }
    }
}

/// The host of a domain-level rule, or why the rule is not one.
fn domain_rule(rule: &str) -> Result<&str, SkipReason> {
    let Some(body) = rule.strip_prefix("||") else {
        // A bare hostname (uBO) is a domain rule; anything else is a URL-substring rule.
        if !rule.is_empty()
            && rule
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            && rule.contains('.')
        {
            return Ok(rule);
        }
        if rule.contains('/') {
            return Err(SkipReason::PathRule);
        }
        return Err(SkipReason::NotDomainRule);
    };
    let (pattern, modifiers) = match body.split_once('$') {
        Some((p, m)) => (p, Some(m)),
        None => (body, None),
    };
    if let Some(m) = modifiers {
        for modifier in m.split(',') {
            let name = modifier.trim();
            if !HARMLESS_MODIFIERS.contains(&name) {
                return Err(SkipReason::Modifier(name.chars().take(32).collect()));
            }
        }
    }
    let Some((host, tail)) = pattern.split_once('^') else {
        if pattern.contains('/') {
            return Err(SkipReason::PathRule);
        }
        // `||example.org` without `^` also matches `example.org.evil.test`.
        return Err(SkipReason::NotDomainRule);
    };
    if host.contains('/') {
        return Err(SkipReason::PathRule);
    }
    if !(tail.is_empty() || tail == "|") {
        return Err(SkipReason::PathRule);
    }
    if host.contains(['*', '|', '^', '?', '=']) {
        return Err(SkipReason::NotDomainRule);
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Target;

    fn run(t: &str) -> Sink {
        let mut s = Sink::new("t");
        parse(t, &mut s);
        s
    }

    #[test]
    fn domain_rules_block_and_allow() {
        let s = run(
            "! Title: t\n[Adblock Plus 2.0]\n||ads.example.com^\n@@||good.example.com^\n||imp.example^$important\nplain.example.net\n||upper.EXAMPLE.org^|\n",
        );
        let got: Vec<_> = s
            .indicators
            .iter()
            .map(|i| match &i.target {
                Target::Domain { name, .. } => (name.as_str(), i.list),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ads.example.com", ListKind::Block),
                ("good.example.com", ListKind::Allow),
                ("imp.example", ListKind::Block),
                ("plain.example.net", ListKind::Block),
                ("upper.example.org", ListKind::Block),
            ]
        );
        assert_eq!(s.report.skipped_total, 0);
        assert_eq!(s.report.ignored, 1);
    }

    #[test]
    fn other_rules_are_skipped_with_line_and_reason() {
        let s = run(
            "||host.example/path.apk^$all\nexample.com##.banner\n/ads[0-9]+/\n||t.example^$third-party\n||noseparator.example\n||*.wild.example^\n-ad-banner-\n@@||ok.example^$domain=x.com\n||1.2.3.4^\n",
        );
        let reasons: Vec<_> = s
            .report
            .skipped
            .iter()
            .map(|k| (k.line, k.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            [
                (1, SkipReason::PathRule),
                (2, SkipReason::CosmeticRule),
                (3, SkipReason::RegexRule),
                (4, SkipReason::Modifier("third-party".into())),
                (5, SkipReason::NotDomainRule),
                (6, SkipReason::NotDomainRule),
                (7, SkipReason::NotDomainRule),
                (8, SkipReason::Modifier("domain=x.com".into())),
            ]
        );
        assert_eq!(s.indicators.len(), 1, "||1.2.3.4^ is an IP rule");
        assert!(matches!(s.indicators[0].target, Target::Net(_)));
    }
}

//! maltrail trail files: one trail per line — a domain, an IP, `ip:port`, or a URL
//! (`http://host/…`, `host/path`) — with `#` comments and `# Reference:` blocks. URLs are matched
//! on their host (the rule for domains with a path); a trail that is only a path
//! (`/malware.apk`) has no host and is skipped.

use crate::lines::{Sink, significant};
use crate::report::SkipReason;

pub(crate) fn parse(text: &str, sink: &mut Sink) {
    for (no, line) in significant(text, &['#']) {
        let trail = line.split_once(" #").map_or(line, |(t, _)| t).trim();
        if trail.starts_with('/') {
            sink.skip(no, SkipReason::PathOnly);
            continue;
        }
        sink.host(no, trail, false);
    }
}

/// The `# Aliases:` header, used as the family name of every trail in the file.
pub(crate) fn aliases(text: &str) -> Option<String> {
    text.lines()
        .take(32)
        .find_map(|l| l.trim().strip_prefix("# Aliases:"))
        .map(|a| a.trim().chars().take(128).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Target;

    #[test]
    fn trails_of_every_shape() {
        let text = "# Copyright (c) Maltrail developers\n# Aliases: KingsPawn\n\n# Reference: https://x\n\nevil.example.com\n/Debugging/process.php\n193.161.193.99:27229\nhttp://118.167.70.214\nhttps://cdn.Example.net/a/b.apk\nbad..name\n";
        let mut s = Sink::new("t");
        parse(text, &mut s);
        let got: Vec<String> = s
            .indicators
            .iter()
            .map(|i| match &i.target {
                Target::Domain { name, .. } => name.clone(),
                Target::Net(n) => n.to_string(),
                _ => "?".into(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "evil.example.com",
                "193.161.193.99/32",
                "118.167.70.214/32",
                "cdn.example.net"
            ]
        );
        let skipped: Vec<_> = s
            .report
            .skipped
            .iter()
            .map(|k| (k.line, k.reason.clone()))
            .collect();
        assert_eq!(skipped[0], (7, SkipReason::PathOnly));
        assert_eq!(skipped[1].0, 11);
        assert_eq!(aliases(text).as_deref(), Some("KingsPawn"));
    }
}

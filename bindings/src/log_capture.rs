//! Unit tests' logger: keeps every record (level and formatted text) so tests can check what
//! reached the log, in particular that no domain name or address appears above `debug`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};

/// Records kept at most; older ones are dropped.
const CAP: usize = 100_000;

struct Capture {
    lines: Mutex<Vec<(log::Level, String)>>,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() >= CAP {
            lines.remove(0);
        }
        lines.push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();

/// Installs the capture logger (once per process) and lets everything through.
pub(crate) fn install() {
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
        }));
        // Err: another logger won the race; `lines_*` then sees nothing and the tests say so.
        let _ = log::set_logger(c);
        log::set_max_level(log::LevelFilter::Trace);
        c
    });
}

/// Every captured line at `level` or more severe.
pub(crate) fn lines_at_or_above(level: log::Level) -> Vec<String> {
    let c = CAPTURE.get().expect("log_capture::install() first");
    c.lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(l, _)| *l <= level)
        .map(|(_, s)| s.clone())
        .collect()
}

/// The first word of `line` that is an IP address (or socket address) or looks like a domain
/// name (two or more dot-separated labels of letters, digits and hyphens ending in a letter
/// label: `example.org`, not `v1.2`), if any.
pub(crate) fn leak(line: &str) -> Option<String> {
    let words = line
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']')));
    for w in words {
        let w = w.trim_matches(|c: char| matches!(c, '.' | ':' | '-'));
        if w.parse::<IpAddr>().is_ok() || w.parse::<SocketAddr>().is_ok() {
            return Some(w.to_owned());
        }
        let labels: Vec<&str> = w.split('.').collect();
        let domain_like = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if domain_like {
            return Some(w.to_owned());
        }
    }
    None
}

#[test]
fn the_leak_detector_finds_names_and_addresses() {
    assert_eq!(
        leak("dial tcp 93.184.216.34:443: refused").as_deref(),
        Some("93.184.216.34:443")
    );
    assert_eq!(
        leak("flow to www.example.org ended").as_deref(),
        Some("www.example.org")
    );
    assert_eq!(
        leak("resolver 2001:db8::1 timed out").as_deref(),
        Some("2001:db8::1")
    );
    assert_eq!(
        leak("store commit failed (DiskFull): database or disk is full"),
        None
    );
    assert_eq!(leak("intel index not loaded (Corrupt); v0.1.0"), None);
}

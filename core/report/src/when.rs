//! Times as the page shows them: UTC, to the second.

use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-11-01 09:00:03 UTC`; the raw microseconds when out of range.
pub fn datetime(us: u64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{us} µs"))
}

/// `09:00:03`, for axis labels and table cells within one period.
pub fn clock(us: u64) -> String {
    let fmt = format_description!("[hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{us} µs"))
}

/// A duration: `45 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`.
pub fn span(us: u64) -> String {
    let s = us / 1_000_000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min {} s", s / 60, s % 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// `12.3 MB`-style byte counts.
#[allow(clippy::cast_precision_loss)]
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = "B";
    for u in UNITS.iter().skip(1) {
        if v < 1_000.0 {
            break;
        }
        v /= 1_000.0;
        unit = u;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(datetime(1_700_000_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(clock(1_700_000_000_000_000), "22:13:20");
        assert_eq!(span(200_000_000), "3 min 20 s");
        assert_eq!(span(7_500_000_000), "2 h 5 min");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
    }
}

//! Shared helpers for the integration tests: where the third-party fixtures
//! are, and parsers for the independent expected outputs stored beside them
//! (tshark conversation tables, Zeek baselines).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The fixtures directory: `$NIGHTJAR_FIXTURES`, else `../shared/fixtures`
/// beside the repository. `None` (and a visible SKIPPED line naming `test`)
/// when it is absent, so the suite still runs on a machine without it.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("fixtures")
        });
    if dir.join("pcap").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: fixtures not found at {} (set NIGHTJAR_FIXTURES)",
            dir.display()
        );
        None
    }
}

/// Every capture file below `dir`, sorted, with its path relative to `root`.
pub fn captures(root: &Path, dir: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if name.ends_with(".pcap")
                    || name.ends_with(".pcapng")
                    || name.ends_with(".pcap.gz")
                {
                    let rel = p
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    out.push((rel, p));
                }
            }
        }
    }
    out.sort();
    out
}

/// The tshark output stored for capture `rel` (e.g. `pcap/zeek/dns/traces/dns53.pcap`).
pub fn tshark_file(root: &Path, rel: &str, suffix: &str) -> PathBuf {
    root.join("tshark")
        .join(format!("{}{suffix}", rel.replace('/', "_")))
}

/// A byte count as tshark prints it: exact below 10 kB, rounded above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {
    /// "6419 bytes".
    Exact(u64),
    /// "15 kB", "3 MB": a value in units of `unit` bytes.
    Rounded {
        /// The printed number.
        value: u64,
        /// 1,000 for kB, 1,000,000 for MB.
        unit: u64,
    },
}

impl Bytes {
    /// Whether `actual` prints as this.
    pub fn matches(self, actual: u64) -> bool {
        match self {
            Bytes::Exact(n) => n == actual,
            // tshark rounds to the nearest unit; allow a whole unit either way
            // rather than depend on its exact rounding rule.
            Bytes::Rounded { value, unit } => actual.abs_diff(value * unit) < unit,
        }
    }

    /// Add two counts (rounded counts stay rounded).
    pub fn plus(self, other: Bytes) -> Bytes {
        match (self, other) {
            (Bytes::Exact(a), Bytes::Exact(b)) => Bytes::Exact(a + b),
            (Bytes::Rounded { value, unit }, Bytes::Exact(b))
            | (Bytes::Exact(b), Bytes::Rounded { value, unit }) => Bytes::Rounded {
                value: value + b.div_ceil(unit),
                unit,
            },
            (Bytes::Rounded { value: a, unit: ua }, Bytes::Rounded { value: b, unit: ub }) => {
                let unit = ua.min(ub);
                Bytes::Rounded {
                    value: a * (ua / unit) + b * (ub / unit),
                    unit,
                }
            }
        }
    }
}

/// One row of `tshark -z conv,tcp` or `-z conv,udp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// 6 or 17.
    pub protocol: u8,
    /// Address A.
    pub a: SocketAddr,
    /// Address B.
    pub b: SocketAddr,
    /// Frames and bytes from A to B ("->" column).
    pub a_to_b: (u64, Bytes),
    /// Frames and bytes from B to A ("<-" column).
    pub b_to_a: (u64, Bytes),
}

fn parse_endpoint(s: &str) -> SocketAddr {
    let (ip, port) = s.rsplit_once(':').unwrap();
    SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap())
}

fn parse_bytes(n: &str, unit: &str) -> Bytes {
    let n: u64 = n.parse().unwrap();
    match unit {
        "bytes" => Bytes::Exact(n),
        "kB" => Bytes::Rounded {
            value: n,
            unit: 1_000,
        },
        "MB" => Bytes::Rounded {
            value: n,
            unit: 1_000_000,
        },
        other => panic!("unknown unit {other}"),
    }
}

/// Parse a `.conv.txt` file.
pub fn parse_conversations(text: &str) -> Vec<Conversation> {
    let mut protocol = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            protocol = 6;
        } else if line.starts_with("UDP Conversations") {
            protocol = 17;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 13 || t[1] != "<->" {
            continue;
        }
        out.push(Conversation {
            protocol,
            a: parse_endpoint(t[0]),
            b: parse_endpoint(t[2]),
            b_to_a: (t[3].parse().unwrap(), parse_bytes(t[4], t[5])),
            a_to_b: (t[6].parse().unwrap(), parse_bytes(t[7], t[8])),
        });
    }
    out
}

/// One line of Zeek's `community_id` baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeekCommunityId {
    /// Originator.
    pub orig: SocketAddr,
    /// Responder.
    pub resp: SocketAddr,
    /// Protocol number.
    pub protocol: u8,
    /// The Community ID string.
    pub id: String,
}

/// Parse `bifs.community_id.run-pcaps/*.out`.
pub fn parse_community_ids(text: &str) -> Vec<ZeekCommunityId> {
    let field = |line: &str, name: &str| -> String {
        let start = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        let rest = &line[start..];
        rest[..rest.find([',', ']']).unwrap()].to_string()
    };
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let port = |s: String| -> u16 { s.split('/').next().unwrap().parse().unwrap() };
            let orig = SocketAddr::new(
                field(l, "orig_h").parse().unwrap(),
                port(field(l, "orig_p")),
            );
            let resp = SocketAddr::new(
                field(l, "resp_h").parse().unwrap(),
                port(field(l, "resp_p")),
            );
            ZeekCommunityId {
                orig,
                resp,
                protocol: field(l, "proto").parse().unwrap(),
                id: l.rsplit_once(", ").unwrap().1.trim().to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_rows() {
        let text = "TCP Conversations\n\
            192.168.1.10:36922         <-> 216.58.208.164:80                9 15 kB          11 829 bytes      20 16 kB         0.000000000         0.4306\n\
            2001:db8:1234::1:45226     <-> 2ed5:9050:81e9:4b68:248:1893:25c8:1946:443       0 0 bytes        25 3488 bytes      25 3488 bytes    70.480695000         1.7047\n";
        let c = parse_conversations(text);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].a, "192.168.1.10:36922".parse().unwrap());
        assert_eq!(c[0].a_to_b, (11, Bytes::Exact(829)));
        assert_eq!(
            c[0].b_to_a,
            (
                9,
                Bytes::Rounded {
                    value: 15,
                    unit: 1_000
                }
            )
        );
        assert!(c[0].b_to_a.1.matches(15_321));
        assert!(!c[0].b_to_a.1.matches(16_001));
        assert_eq!(c[1].b.port(), 443);
        assert_eq!(c[1].a_to_b.0, 25);
    }

    #[test]
    fn community_id_rows() {
        let text = "### header\n[orig_h=128.232.110.120, orig_p=34855/tcp, resp_h=66.35.250.204, resp_p=80/tcp, proto=6, ctx=[]], 1:LQU9qZlK+B5F3KDmev6m5PMibrg=\n";
        let c = parse_community_ids(text);
        assert_eq!(c[0].orig, "128.232.110.120:34855".parse().unwrap());
        assert_eq!(c[0].protocol, 6);
        assert_eq!(c[0].id, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    }
}

/// One row of a tshark-oracle TSV (see `shared/tools/tshark-oracle`), by column name.
#[derive(Debug, Clone)]
pub struct TsharkRow(std::collections::HashMap<String, String>);

impl TsharkRow {
    /// A column's value ("" when empty or absent).
    pub fn get(&self, column: &str) -> &str {
        self.0.get(column).map_or("", String::as_str)
    }

    /// Protocol and endpoints (source first), when the row is plain TCP or UDP
    /// over one IP header. Tunnelled rows (several IP headers) give `None`.
    pub fn tuple(&self) -> Option<(u8, SocketAddr, SocketAddr)> {
        let src = [self.get("ip.src"), self.get("ipv6.src")].concat();
        let dst = [self.get("ip.dst"), self.get("ipv6.dst")].concat();
        if src.contains(',') || dst.contains(',') || src.is_empty() {
            return None;
        }
        let (proto, sp, dp) = if !self.get("tcp.srcport").is_empty() {
            (6, self.get("tcp.srcport"), self.get("tcp.dstport"))
        } else if !self.get("udp.srcport").is_empty() {
            (17, self.get("udp.srcport"), self.get("udp.dstport"))
        } else {
            return None;
        };
        if sp.contains(',') || dp.contains(',') {
            return None;
        }
        Some((
            proto,
            SocketAddr::new(src.parse().ok()?, sp.parse().ok()?),
            SocketAddr::new(dst.parse().ok()?, dp.parse().ok()?),
        ))
    }
}

/// Parse a tshark-oracle `.tsv` file.
pub fn parse_tsv(text: &str) -> Vec<TsharkRow> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split('\t').collect();
    lines
        .map(|l| {
            TsharkRow(
                names
                    .iter()
                    .zip(l.split('\t'))
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| ((*n).to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// An unordered flow key: protocol and the two endpoints, lower first.
pub fn unordered(protocol: u8, a: SocketAddr, b: SocketAddr) -> (u8, SocketAddr, SocketAddr) {
    if a <= b {
        (protocol, a, b)
    } else {
        (protocol, b, a)
    }
}

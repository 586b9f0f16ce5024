//! Reads every third-party capture under `$NIGHTJAR_FIXTURES/pcap` and checks it against
//! tshark's view of the same file (`$NIGHTJAR_FIXTURES/tshark/*.tsv`).
// Helpers outside `#[test]` functions are test code too; a failed fixture lookup should panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use nightjar_capture::CaptureReader;

fn fixtures_dir() -> PathBuf {
    std::env::var_os("NIGHTJAR_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
        PathBuf::from,
    )
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            captures(&path, out);
        } else if name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz")
        {
            out.push(path);
        }
    }
}

/// One tshark row: the frame number, its time in µs and the outermost source addresses.
struct TsharkRow {
    frame: u64,
    ts_micros: u64,
    ip_src: Option<Ipv4Addr>,
    ipv6_src: Option<Ipv6Addr>,
}

/// tshark prints `secs.nanos` with nine digits; keep the first six, as the reader truncates.
fn epoch_to_micros(text: &str) -> u64 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    secs.parse::<u64>().unwrap() * 1_000_000 + frac.parse::<u64>().unwrap()
}

fn tshark_rows(tsv: &Path) -> Vec<TsharkRow> {
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (frame, time, ip_src, ipv6_src) = (
        col("frame.number"),
        col("frame.time_epoch"),
        col("ip.src"),
        col("ipv6.src"),
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            // With `-E occurrence=a` tunnelled packets list every header; the first is outermost.
            let first = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.split(',').next())
                    .filter(|f| !f.is_empty())
            };
            TsharkRow {
                frame: fields[frame].parse().unwrap(),
                ts_micros: epoch_to_micros(fields[time]),
                ip_src: first(ip_src).map(|a| a.parse().unwrap()),
                ipv6_src: first(ipv6_src).map(|a| a.parse().unwrap()),
            }
        })
        .collect()
}

/// What the reader saw of one frame, kept for comparison with tshark.
struct Seen {
    ts_micros: u64,
    ip: Option<Vec<u8>>,
}

#[test]
fn every_fixture_capture_reads_and_matches_tshark() {
    let root = fixtures_dir();
    if !root.join("pcap").is_dir() {
        eprintln!("SKIPPED: fixtures not found at {}", root.display());
        return;
    }
    let mut files = Vec::new();
    captures(&root.join("pcap"), &mut files);
    assert!(files.len() >= 50, "only {} captures found", files.len());

    let mut rows_checked = 0usize;
    for path in &files {
        let mut reader = CaptureReader::open(path).unwrap();
        let mut seen = Vec::new();
        while let Some(frame) = reader.next_frame() {
            let frame = frame.unwrap_or_else(|e| panic!("{e}"));
            seen.push(Seen {
                ts_micros: frame.ts_micros,
                ip: frame.ip.ok().map(<[u8]>::to_vec),
            });
        }
        let rel = path.strip_prefix(&root).unwrap();
        let shown = rel.display();
        assert_eq!(reader.frames_read(), seen.len() as u64);
        assert_eq!(
            reader.bytes_read(),
            reader.total_bytes().unwrap(),
            "{shown}: not read to the end"
        );
        assert!(seen.iter().any(|s| s.ip.is_some()), "{shown}: no IP frame");

        if rel.starts_with("pcap/pcapdroid") {
            for (i, s) in seen.iter().enumerate() {
                assert!(s.ip.is_some(), "{shown}: frame {} is not IP", i + 1);
            }
        }

        let tsv = root
            .join("tshark")
            .join(format!("{}.tsv", rel.to_string_lossy().replace('/', "_")));
        let rows = tshark_rows(&tsv);
        rows_checked += rows.len();
        for row in rows {
            let s = usize::try_from(row.frame)
                .ok()
                .and_then(|n| seen.get(n - 1))
                .unwrap_or_else(|| {
                    panic!(
                        "{shown}: tshark has frame {}, we read {}",
                        row.frame,
                        seen.len()
                    )
                });
            assert_eq!(
                s.ts_micros, row.ts_micros,
                "{shown}: frame {} time",
                row.frame
            );
            let ip = s
                .ip
                .as_deref()
                .unwrap_or_else(|| panic!("{shown}: tshark frame {} has no IP for us", row.frame));
            match ip.first().map(|b| b >> 4) {
                Some(4) => {
                    let src: [u8; 4] = ip[12..16].try_into().unwrap();
                    assert_eq!(
                        Some(Ipv4Addr::from(src)),
                        row.ip_src,
                        "{shown}: frame {}",
                        row.frame
                    );
                }
                Some(6) => {
                    let src: [u8; 16] = ip[8..24].try_into().unwrap();
                    assert_eq!(
                        Some(Ipv6Addr::from(src)),
                        row.ipv6_src,
                        "{shown}: frame {}",
                        row.frame
                    );
                }
                other => panic!("{shown}: frame {} has IP version {other:?}", row.frame),
            }
        }
    }
    eprintln!(
        "{} captures read, {rows_checked} tshark rows matched",
        files.len()
    );
    assert!(
        rows_checked > 0,
        "no tshark rows found under {}",
        root.join("tshark").display()
    );
}

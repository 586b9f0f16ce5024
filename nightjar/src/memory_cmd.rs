//! `nightjar memory`: peak resident memory of the engine in the situations an
//! iOS packet tunnel (killed at 50 MiB) must survive, next to the engine's own
//! accounting and caps. Each scenario runs in a fresh child process so its
//! peak (VmHWM) is its own; the 1M-domain intel index is compiled once by the
//! parent beforehand, because compiling is not what runs on the phone.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use nightjar_engine::{Direction, Engine, EngineConfig, Event};
use nightjar_synth::packet::{IpPair, TcpFlags, TcpSegment, ip_tcp, ip_udp};
use nightjar_synth::payload::{DnsAnswer, QueryType, dns_query, dns_response};
use nightjar_synth::{SynFlood, UdpFlood};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The scenarios, with their peak-RSS targets in MiB.
pub const SCENARIOS: [(&str, u64); 6] = [
    ("idle", 20),
    ("steady-1M-index-10k-flows-store", 20),
    ("syn-flood-1M", 35),
    ("udp-flood-1M", 35),
    ("dns-random-subdomain-flood-200k", 35),
    ("relay-reconnect-storm-40k", 35),
];

/// One scenario's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    /// Scenario name.
    pub scenario: String,
    /// Peak resident set (VmHWM), bytes.
    pub peak_rss: u64,
    /// Resident set at the end, bytes.
    pub rss: u64,
    /// Anonymous resident memory at the end (RssAnon), bytes: the part of RSS an iOS
    /// extension's footprint limit counts. Clean file-backed pages (code, the memory-mapped
    /// intel index) are in RSS but the kernel can drop and re-read them, so jetsam does not
    /// charge them.
    #[serde(default)]
    pub rss_anon: u64,
    /// What the engine accounts for itself at the end (name cache apart), bytes.
    pub engine: u64,
    /// The IP-to-name cache (capped in entries, not bytes), bytes.
    pub name_cache: u64,
    /// The engine's caps, bytes.
    pub engine_cap: u64,
    /// What the intel index accounts as touched by every lookup (its fuse filter), bytes.
    pub index_filter: u64,
    /// Resident pages of the index mapping at the end (from smaps), bytes.
    pub index_resident: u64,
}

impl Figures {
    /// Everything the engine and the index account for.
    pub fn accounted(&self) -> u64 {
        self.engine + self.name_cache + self.index_filter
    }
}

/// Resident bytes of the mapping of `file` (Linux smaps; 0 elsewhere).
fn mapped_rss(file: &Path) -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let name = file.to_string_lossy();
    let mut in_map = false;
    let mut total = 0;
    for line in smaps.lines() {
        let header = line.split_whitespace().next().is_some_and(|f| {
            f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        if header {
            in_map = line.ends_with(name.as_ref());
        } else if in_map && let Some(kb) = line.strip_prefix("Rss:") {
            total += kb
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
                * 1024;
        }
    }
    total
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn drain(engine: &mut Engine) {
    while engine.next_event().is_some() {}
}

fn mobile_config() -> EngineConfig {
    // The defaults a phone build uses; the memory budget is about them.
    EngineConfig::default()
}

/// Run one scenario in this process and report its figures.
pub fn run_scenario(name: &str, index: Option<&Path>, scratch: &Path) -> Result<Figures, CliError> {
    let mut engine = Engine::new(mobile_config())?;
    let apps = crate::replay::AppNames::new();
    let dev = Ipv4Addr::new(10, 0, 0, 2);
    let mut keep_index = None;
    let mut keep_store = None;
    match name {
        "idle" => {}
        "relay-reconnect-storm-40k" => {
            let (mut f, counts) = crate::memory_relay::reconnect_storm()?;
            f.scenario = name.to_string();
            f.peak_rss = status_kib("VmHWM:") * 1024;
            f.rss = status_kib("VmRSS:") * 1024;
            f.rss_anon = status_kib("RssAnon:") * 1024;
            eprintln!(
                "{name}: {} attempts, {} accepted, {} refused with RST at the cap, {} evicted",
                counts.attempts, counts.accepted, counts.refused, counts.evicted
            );
            return Ok(f);
        }
        "steady-1M-index-10k-flows-store" => {
            if let Some(path) = index {
                keep_index = Some(nightjar_intel::Index::open(path)?);
            }
            let mut store = crate::store_sink::StoreSink::open_with(
                &scratch.join("steady.db"),
                &apps,
                0,
                nightjar_store::StoreConfig::phone(),
            )?;
            let mut now = 1_800_000_000_000_000u64;
            for i in 0..10_000u32 {
                let srv = Ipv4Addr::from(0x0a80_0000 + i);
                let pair = |a: Ipv4Addr, b: Ipv4Addr| IpPair::new(IpAddr::V4(a), IpAddr::V4(b));
                let sport = 20_000 + (i % 40_000) as u16;
                let name = format!("host{i}.example{}.com", i % 97);
                // The lookup, then a connection with a little data each way.
                let q = dns_query(i as u16, &name, QueryType::A).map_err(synth)?;
                let addrs = [IpAddr::V4(srv)];
                let r = dns_response(
                    i as u16,
                    &name,
                    QueryType::A,
                    &DnsAnswer {
                        cnames: &[],
                        addrs: &addrs,
                        ttl: 300,
                    },
                )
                .map_err(synth)?;
                let resolver = Ipv4Addr::new(10, 0, 0, 1);
                let pkts = [
                    (
                        Direction::Outbound,
                        ip_udp(pair(dev, resolver).map_err(synth)?, sport, 53, &q)
                            .map_err(synth)?,
                    ),
                    (
                        Direction::Inbound,
                        ip_udp(pair(resolver, dev).map_err(synth)?, 53, sport, &r)
                            .map_err(synth)?,
                    ),
                    (
                        Direction::Outbound,
                        ip_tcp(
                            pair(dev, srv).map_err(synth)?,
                            &TcpSegment::new(sport, 443, TcpFlags::Syn, 1, 0),
                        )
                        .map_err(synth)?,
                    ),
                    (
                        Direction::Inbound,
                        ip_tcp(
                            pair(srv, dev).map_err(synth)?,
                            &TcpSegment::new(443, sport, TcpFlags::SynAck, 9, 2),
                        )
                        .map_err(synth)?,
                    ),
                    (
                        Direction::Outbound,
                        ip_tcp(
                            pair(dev, srv).map_err(synth)?,
                            &TcpSegment::new(sport, 443, TcpFlags::PshAck, 2, 10)
                                .with_payload(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                        )
                        .map_err(synth)?,
                    ),
                ];
                for (dir, p) in &pkts {
                    now += 50;
                    engine.on_packet(now, *dir, p);
                }
                if let Some(idx) = &keep_index {
                    let _ = idx.lookup_domain(&name, now);
                }
                while let Some(e) = engine.next_event() {
                    if let Event::Dns(tx) = e {
                        crate::replay::RecordSink::dns(&mut store, &tx)?;
                    }
                }
            }
            keep_store = Some(store);
        }
        "syn-flood-1M" => {
            let mut flood = SynFlood::new(1);
            let mut buf = Vec::new();
            for _ in 0..1_000_000 {
                let (ts, dir) = flood.next_into(&mut buf).map_err(synth)?;
                engine.on_packet(ts, dir, &buf);
                drain(&mut engine);
            }
        }
        "udp-flood-1M" => {
            let mut flood = UdpFlood::new(2);
            let mut buf = Vec::new();
            for _ in 0..1_000_000 {
                let (ts, dir) = flood.next_into(&mut buf).map_err(synth)?;
                engine.on_packet(ts, dir, &buf);
                drain(&mut engine);
            }
        }
        "dns-random-subdomain-flood-200k" => {
            let resolver = Ipv4Addr::new(10, 0, 0, 1);
            let mut now = 1_800_000_000_000_000u64;
            for i in 0..200_000u32 {
                let name = format!(
                    "{:08x}{:08x}.tunnel.example.net",
                    i.wrapping_mul(2_654_435_761),
                    i
                );
                let q = dns_query(i as u16, &name, QueryType::A).map_err(synth)?;
                let addrs = [IpAddr::V4(Ipv4Addr::from(0xc633_6400 + (i & 0xff)))];
                let r = dns_response(
                    i as u16,
                    &name,
                    QueryType::A,
                    &DnsAnswer {
                        cnames: &[],
                        addrs: &addrs,
                        ttl: 60,
                    },
                )
                .map_err(synth)?;
                let sport = 1024 + (i % 60_000) as u16;
                now += 100;
                let up = IpPair::new(IpAddr::V4(dev), IpAddr::V4(resolver)).map_err(synth)?;
                engine.on_packet(
                    now,
                    Direction::Outbound,
                    &ip_udp(up, sport, 53, &q).map_err(synth)?,
                );
                let down = IpPair::new(IpAddr::V4(resolver), IpAddr::V4(dev)).map_err(synth)?;
                engine.on_packet(
                    now + 20,
                    Direction::Inbound,
                    &ip_udp(down, 53, sport, &r).map_err(synth)?,
                );
                drain(&mut engine);
            }
        }
        other => return Err(CliError::Synth(format!("unknown scenario {other}"))),
    }
    let m = engine.memory();
    let (index_filter, index_resident) = match (&keep_index, index) {
        (Some(idx), Some(path)) => (idx.stats().filter_bytes, mapped_rss(path)),
        _ => (0, 0),
    };
    let figures = Figures {
        scenario: name.to_string(),
        peak_rss: status_kib("VmHWM:") * 1024,
        rss: status_kib("VmRSS:") * 1024,
        rss_anon: status_kib("RssAnon:") * 1024,
        engine: (m.total() - m.name_cache) as u64,
        name_cache: m.name_cache as u64,
        engine_cap: m.total_cap() as u64,
        index_filter,
        index_resident,
    };
    if let Some(s) = keep_store {
        s.finish();
    }
    drop(keep_index);
    Ok(figures)
}

fn synth(e: nightjar_synth::BuildError) -> CliError {
    CliError::Synth(e.to_string())
}

/// Compile a 1M-domain index into `dir` (in this process, before the children run).
pub fn build_index(dir: &Path) -> Result<PathBuf, CliError> {
    let feed = dir.join("generated-1M.txt");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&feed).map_err(CliError::io(&feed))?);
    for i in 0..1_000_000u32 {
        writeln!(
            w,
            "0.0.0.0 m{:x}.bad{}.example",
            i.wrapping_mul(2_654_435_761),
            i % 1000
        )
        .map_err(CliError::io(&feed))?;
    }
    w.flush().map_err(CliError::io(&feed))?;
    drop(w);
    let out = dir.join("index-1M.nji");
    nightjar_intel::compile_feeds(&[feed], &[], &out, crate::intel_cmd::now_us())?;
    Ok(out)
}

/// Run every scenario in a child process and print the table.
pub fn run_all(out: &mut impl Write) -> Result<bool, CliError> {
    let scratch = std::env::temp_dir().join(format!("nightjar-memory-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(CliError::io(&scratch))?;
    let index = build_index(&scratch)?;
    let exe = std::env::current_exe().map_err(CliError::io("current executable"))?;
    writeln!(
        out,
        "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "scenario",
        "peak RSS",
        "anon end",
        "accounted",
        "engine",
        "name cache",
        "index",
        "index RSS",
        "eng. cap",
        "unaccnted",
        "target"
    )
    .map_err(CliError::Stdout)?;
    let mut all_ok = true;
    for (name, target_mib) in SCENARIOS {
        let output = Command::new(&exe)
            .args(["memory", "--scenario", name, "--index"])
            .arg(&index)
            .arg("--scratch")
            .arg(&scratch)
            .output()
            .map_err(CliError::io(&exe))?;
        let f: Figures = serde_json::from_slice(&output.stdout).map_err(|e| {
            CliError::Synth(format!(
                "{name}: {e}: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        })?;
        let mib = |b: u64| b as f64 / 1_048_576.0;
        let ok = f.peak_rss <= target_mib * 1_048_576 && f.engine <= f.engine_cap;
        all_ok &= ok;
        // What RSS holds beyond the accounting: the idle process (code, libc, stacks) and, in
        // the steady scenario, the store (writer queue, batch, SQLite page caches).
        writeln!(
            out,
            "{:<36} {:>5.1} MiB {:>5.1} MiB {:>5.1} MiB {:>5.1} MiB {:>6.1} MiB {:>5.1} MiB {:>5.1} MiB {:>5.1} MiB {:>5.1} MiB {:>2} MiB {}",
            name,
            mib(f.peak_rss),
            mib(f.rss_anon),
            mib(f.accounted()),
            mib(f.engine),
            mib(f.name_cache),
            mib(f.index_filter),
            mib(f.index_resident),
            mib(f.engine_cap),
            mib(f.peak_rss.saturating_sub(f.accounted())),
            target_mib,
            if ok { "ok" } else { "OVER" }
        )
        .map_err(CliError::Stdout)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(all_ok)
}

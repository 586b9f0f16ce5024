//! Scale run: `cargo run --release -p nightjar-intel --example scale -- 10000000`.
//! Prints compile time, file size, open time, lookup cost and peak RSS (VmHWM).
//! A second argument `miss` or `hit` runs only that kind of lookup (1M borrowing lookups), for
//! instruction counts: `valgrind --tool=callgrind --toggle-collect='*lookup_domain_ref*'
//! target/release/examples/scale 1000000 miss`.
// A measurement harness, never on the packet path: failing loudly is the right behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use nightjar_intel::{Index, IndexBuilder, Indicator, IndicatorId, ListKind, Severity, Target};

const TLDS: [&str; 8] = ["com", "net", "org", "ru", "top", "xyz", "info", "cn"];

fn name(i: u64) -> String {
    let mut x = i
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let len = 6 + (x % 10) as usize;
    let mut s = String::with_capacity(len + 5);
    for _ in 0..len {
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        s.push((b'a' + (x % 26) as u8) as char);
    }
    s.push_str(&format!("{i}."));
    s.push_str(TLDS[(i % 8) as usize]);
    s
}

fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l.trim_start_matches(key).trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".into())
}

/// On-CPU time of this thread in ns (Linux schedstat), so lookup costs are not inflated by
/// time spent waiting for a CPU on a shared machine; 0 where unavailable.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident bytes of the index mapping (from /proc/self/smaps), in kB.
fn mapped_rss_kb(file: &str) -> String {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return "n/a".into();
    };
    let mut in_map = false;
    for line in smaps.lines() {
        if line.contains(" /")
            || line.ends_with(']')
            || line.split_whitespace().count() == 5 && line.contains('-')
        {
            in_map = line.ends_with(file);
        } else if in_map && line.starts_with("Rss:") {
            return line.trim_start_matches("Rss:").trim().to_owned();
        }
    }
    "n/a".into()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let only = std::env::args().nth(2);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scale.idx");

    let t = Instant::now();
    let mut b = IndexBuilder::new();
    let h = b.begin_feed(
        "generated",
        None,
        "generated.txt",
        ListKind::Block,
        Severity::Medium,
    )?;
    for i in 0..n {
        let t = Target::Domain {
            name: name(i),
            subdomains_only: false,
        };
        b.push(h, &Indicator::new(t, IndicatorId::Line(i as u32 + 1)))?;
    }
    let stats = b.write_to(&path, 0)?;
    drop(b);
    println!("domains            {n}");
    println!(
        "compile (incl. generation, write, fsync) {:.2?}",
        t.elapsed()
    );
    println!(
        "file size          {} bytes ({:.1} MiB), filter {} bytes",
        stats.file_bytes,
        stats.file_bytes as f64 / 1048576.0,
        stats.filter_bytes
    );
    println!(
        "RSS after compile  VmHWM {} / VmRSS {}",
        status("VmHWM:"),
        status("VmRSS:")
    );

    // Drop the freshly written file from the page cache (coreutils `dd iflag=nocache count=0`
    // calls posix_fadvise DONTNEED), so lookups fault single pages in as a device would
    // (mapping is MADV_RANDOM: no readahead) instead of mapping whole large folios the writer
    // left cached, which would make the mapping's RSS measure the kernel, not the lookups.
    let dropped = std::process::Command::new("dd")
        .arg(format!("if={}", path.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .status()
        .is_ok_and(|s| s.success());
    println!("page cache dropped {dropped}");

    // The rest measures the packet-path side in a fresh process view: report RSS deltas.
    let rss_before = status("VmRSS:");
    let t = Instant::now();
    let idx = Index::open(&path)?;
    println!("open               {:.2?}", t.elapsed());

    // 100k distinct queries of each kind, cycled 10 times: 1M lookups each.
    let distinct = 100_000u64;
    let queries = distinct * 10;
    let misses: Vec<String> = (0..distinct)
        .map(|i| format!("cdn{i}.static.{}", name(n + i)))
        .collect();
    let hits: Vec<String> = (0..distinct)
        .map(|i| format!("cdn{i}.static.{}", name((i * 7919) % n)))
        .collect();
    if let Some(kind) = only.as_deref() {
        let qs = if kind == "hit" { &hits } else { &misses };
        let c = cpu_ns();
        let mut blocked = 0u64;
        for _ in 0..10 {
            for q in qs {
                blocked += u64::from(idx.lookup_domain_ref(q, 1).is_blocked());
            }
        }
        let cpu = (cpu_ns() - c) as f64 / queries as f64;
        println!("cpu ns per lookup ({kind} only): {cpu:.0}, blocked {blocked} of {queries}");
        return Ok(());
    }
    let t = Instant::now();
    let c = cpu_ns();
    let mut blocked = 0u64;
    for _ in 0..10 {
        for q in &misses {
            blocked += u64::from(idx.lookup_domain_ref(q, 1).is_blocked());
        }
    }
    let miss_ns = t.elapsed().as_nanos() as f64 / queries as f64;
    let miss_cpu = (cpu_ns() - c) as f64 / queries as f64;
    println!("cpu ns per lookup (miss): {miss_cpu:.0}");
    println!(
        "index mapping RSS after {queries} misses: {}",
        mapped_rss_kb("scale.idx")
    );
    let t = Instant::now();
    let c = cpu_ns();
    for _ in 0..10 {
        for q in &misses {
            blocked += u64::from(idx.lookup_domain(q, 1).is_blocked());
        }
    }
    let miss_owned_ns = t.elapsed().as_nanos() as f64 / queries as f64;
    let miss_owned_cpu = (cpu_ns() - c) as f64 / queries as f64;
    println!("cpu ns per lookup (miss_owned): {miss_owned_cpu:.0}");
    // Resident after a realistic number of distinct hits, before the big hit loops.
    for q in hits.iter().take(10_000) {
        blocked += u64::from(idx.lookup_domain_ref(q, 1).is_blocked());
    }
    println!(
        "index mapping RSS after 10000 distinct hits too: {}",
        mapped_rss_kb("scale.idx")
    );
    let t = Instant::now();
    let c = cpu_ns();
    for _ in 0..10 {
        for q in &hits {
            blocked += u64::from(idx.lookup_domain_ref(q, 1).is_blocked());
        }
    }
    let hit_ns = t.elapsed().as_nanos() as f64 / queries as f64;
    let hit_cpu = (cpu_ns() - c) as f64 / queries as f64;
    println!("cpu ns per lookup (hit): {hit_cpu:.0}");
    let t = Instant::now();
    let c = cpu_ns();
    for _ in 0..10 {
        for q in &hits {
            blocked += u64::from(idx.lookup_domain(q, 1).is_blocked());
        }
    }
    let hit_owned_ns = t.elapsed().as_nanos() as f64 / queries as f64;
    let hit_owned_cpu = (cpu_ns() - c) as f64 / queries as f64;
    println!("cpu ns per lookup (hit_owned): {hit_owned_cpu:.0}");
    println!(
        "index mapping RSS after {} hits too: {}",
        2 * queries,
        mapped_rss_kb("scale.idx")
    );
    println!(
        "lookup miss        {miss_ns:.0} ns lookup_domain_ref, {miss_owned_ns:.0} ns lookup_domain (4-label names, random, cold-ish cache)"
    );
    println!(
        "lookup hit         {hit_ns:.0} ns lookup_domain_ref, {hit_owned_ns:.0} ns lookup_domain (4-label names, listed parent)"
    );
    println!(
        "blocked            {blocked} of {} (expect {})",
        4 * queries + 10_000,
        2 * queries + 10_000
    );
    println!(
        "process RSS before open {rss_before}, after lookups {}",
        status("VmRSS:")
    );
    println!("peak RSS           VmHWM {}", status("VmHWM:"));
    Ok(())
}

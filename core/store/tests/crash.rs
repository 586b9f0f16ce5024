//! The acceptance test: a child process writes flows at full speed and is
//! killed with SIGKILL at random moments, 100 times. After each kill the file
//! must pass `PRAGMA integrity_check` and hold every batch the child reported
//! as committed.
//!
//! The child is this same test binary re-executed with
//! `NIGHTJAR_STORE_CRASH_CHILD=<db path>` selecting `crash_child_entry`.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use nightjar_store::{Store, StoreConfig};

const CHILD_ENV: &str = "NIGHTJAR_STORE_CRASH_CHILD";
const RUNS: usize = 100;

/// Only does something when re-executed as the child.
#[test]
fn crash_child_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cfg = StoreConfig {
        batch_rows: 512,
        commit_interval: Duration::from_millis(5),
        // Small partitions, so kills also land while one is being started.
        flow_partition_rows: 5_000,
        on_commit: Some(Arc::new(|c| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "@committed {}", c.total_rows);
            let _ = out.flush();
        })),
        ..StoreConfig::default()
    };
    let (store, writer) = Store::open(&path, cfg).unwrap();
    let start = store.max_flow_id().unwrap().map_or(0, |m| m + 1);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\n@start {start}").unwrap();
        out.flush().unwrap();
    }
    let mut n = 0u64;
    loop {
        // Only accepted rows advance the id, so "committed N" means ids
        // start..start+N are all in the file.
        if writer.flow(flow(start + n, T0 + start + n)) {
            n += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn survives_sigkill_at_random_moments() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut with_commits = 0;
    let mut total_committed = 0u64;
    for run in 0..RUNS {
        // A fresh file every 10 runs; in between, each child reopens the
        // file the previous one was killed on (hot WAL recovery).
        let path = dir.path().join(format!("crash{}.db", run / 10));
        let mut child = Command::new(&exe)
            .args([
                "crash_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = 5 + rng.next() % 146;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();

        let mut start = None;
        let mut committed = 0u64;
        for line in out.lines() {
            // libtest may print "test name ... " on the same line first.
            if let Some((_, s)) = line.split_once("@start ") {
                start = Some(s.trim().parse::<u64>().unwrap());
            } else if let Some((_, c)) = line.split_once("@committed ") {
                committed = committed.max(c.trim().parse().unwrap());
            }
        }
        if !path.exists() {
            continue; // killed before the file was created
        }
        let store = Store::open_reader(&path, Duration::from_secs(5)).unwrap();
        assert!(
            store.integrity_ok().unwrap(),
            "run {run} (seed {seed}): integrity_check failed"
        );
        if let Some(start) = start
            && committed > 0
        {
            with_commits += 1;
            total_committed += committed;
            let conn = rusqlite::Connection::open(&path).unwrap();
            let present: u64 = conn
                .query_row(
                    "SELECT count(*) FROM flows WHERE id >= ?1 AND id < ?2",
                    [start, start + committed],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                present, committed,
                "run {run} (seed {seed}, delay {delay} ms): reported {committed} committed from {start}"
            );
            let last = store.flow(start + committed - 1).unwrap().unwrap();
            assert_eq!(
                last,
                flow(start + committed - 1, T0 + start + committed - 1)
            );
        }
    }
    let last_db = dir.path().join(format!("crash{}.db", (RUNS - 1) / 10));
    let partitions: i64 = rusqlite::Connection::open(last_db)
        .unwrap()
        .query_row("SELECT count(*) FROM flow_parts", [], |r| r.get(0))
        .unwrap();
    eprintln!(
        "{with_commits}/{RUNS} runs committed before the kill, {total_committed} rows verified, \
         {partitions} flow partitions"
    );
    // The kills must also have hit a writer that was rotating partitions.
    assert!(
        partitions > 1,
        "{total_committed} rows never filled a partition"
    );
    // Kills land at 5..150 ms; most runs must have got past their first commit,
    // or the test would be checking nothing.
    assert!(
        with_commits >= RUNS / 2,
        "only {with_commits} runs committed anything"
    );
}

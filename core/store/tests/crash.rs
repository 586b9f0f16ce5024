//! The acceptance test: a child process writes flows at full speed and is
//! killed with SIGKILL at random moments, 100 times. After each kill the file
//! must pass `PRAGMA integrity_check` and hold every batch the child reported
//! as committed; a file killed before its first commit must reopen cleanly.
//! Kill moments follow what the child reported, not a fixed delay, so the test
//! means the same under qemu as natively.
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

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        flow_partition_rows: PARTITION_ROWS,
        on_commit: Some(Arc::new(|c| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "@committed {}", c.total_rows);
            let _ = out.flush();
        })),
        ..StoreConfig::default()
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\n@opening").unwrap();
        out.flush().unwrap();
    }
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

/// What the child printed, in order.
enum Report {
    Opening,
    Start(u64),
    Committed(u64),
}

/// Forwards the child's reports until its stdout closes (it was killed).
fn read_reports(stdout: std::process::ChildStdout, tx: mpsc::Sender<Report>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        // libtest may print "test name ... " on the same line first.
        let report = if line.ends_with("@opening") {
            Report::Opening
        } else if let Some((_, s)) = line.split_once("@start ") {
            Report::Start(s.trim().parse().unwrap())
        } else if let Some((_, c)) = line.split_once("@committed ") {
            Report::Committed(c.trim().parse().unwrap())
        } else {
            continue;
        };
        if tx.send(report).is_err() {
            return;
        }
    }
}

fn note(r: Report, start: &mut Option<u64>, committed: &mut u64) {
    match r {
        Report::Opening => {}
        Report::Start(s) => *start = Some(s),
        Report::Committed(c) => *committed = (*committed).max(c),
    }
}

/// Two runs in ten are killed early on purpose, at a random moment between the
/// child saying it opens the store and the time earlier runs took from there to
/// their first commit: the first run on each fresh file (so the kill lands before
/// the file exists, inside the schema's migrations or inside the first batch) and
/// one on a file with data (inside hot-WAL recovery or the first batch). The other runs are killed after the child reported a
/// random number of committed rows (up to two partitions' worth), then a random
/// pause: the moment is chosen by what the child has done, not by the clock, so
/// a slow machine or an emulator moves it the same way.
fn is_early(run: usize) -> bool {
    run.is_multiple_of(5)
}
const PARTITION_ROWS: u64 = 5_000;
/// A child that reports nothing for this long is stuck, not slow.
const STUCK: Duration = Duration::from_secs(300);

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
    let mut late_runs = 0;
    let mut early_without_commit = 0;
    // Schema versions the early kills left behind (0: none committed yet).
    let mut killed_at_version = std::collections::BTreeMap::<u32, u32>::new();
    let mut total_committed = 0u64;
    // The slowest open-to-first-commit seen so far: the window early kills land in.
    let mut first_commit = Duration::from_millis(20);
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
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || read_reports(stdout, tx));

        let mut start = None;
        let mut committed = 0u64;
        let early = is_early(run);
        let mut opened = None;
        let moment = if early {
            match rx.recv_timeout(STUCK) {
                Ok(r) => note(r, &mut start, &mut committed),
                Err(e) => panic!("run {run} (seed {seed}): the child never opened: {e:?}"),
            }
            let window = u64::try_from(first_commit.as_micros()).unwrap().max(1);
            let at = Duration::from_micros(rng.next() % window);
            std::thread::sleep(at);
            format!("{} us after opening", at.as_micros())
        } else {
            late_runs += 1;
            let rows = 1 + rng.next() % (2 * PARTITION_ROWS);
            while committed < rows {
                match rx.recv_timeout(STUCK) {
                    Ok(r) => {
                        if matches!(r, Report::Opening) {
                            opened = Some(Instant::now());
                        }
                        let first = committed == 0;
                        note(r, &mut start, &mut committed);
                        if first
                            && committed > 0
                            && let Some(at) = opened
                        {
                            first_commit = first_commit.max(at.elapsed());
                        }
                    }
                    Err(e) => panic!(
                        "run {run} (seed {seed}): child reported {committed} rows, then {e:?}"
                    ),
                }
            }
            let pause = Duration::from_micros(rng.next() % 20_000);
            std::thread::sleep(pause);
            format!("{rows}+ rows and {} us", pause.as_micros())
        };
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        for r in rx.try_iter() {
            note(r, &mut start, &mut committed);
        }

        if !path.exists() {
            assert!(
                early,
                "run {run} (seed {seed}): a committing child left no file"
            );
            early_without_commit += 1;
            continue;
        }
        if committed == 0 {
            assert!(
                early,
                "run {run} (seed {seed}): waited for a commit that never came"
            );
            early_without_commit += 1;
            // Killed before its first commit, perhaps inside the schema's own
            // migrations: the store must reopen the file as it is and finish it.
            let found: u32 = rusqlite::Connection::open(&path)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            *killed_at_version.entry(found).or_insert(0) += 1;
            let (store, writer) = Store::open(&path, StoreConfig::default())
                .unwrap_or_else(|e| panic!("run {run} (seed {seed}, {moment}): reopen: {e}"));
            writer.shutdown();
            assert_eq!(
                store.schema_version().unwrap(),
                nightjar_store::migrations::current_version(),
                "run {run} (seed {seed}, {moment}): reopen left the schema unfinished"
            );
            assert!(
                store.integrity_ok().unwrap(),
                "run {run} (seed {seed}, {moment}): integrity_check failed after reopen"
            );
            continue;
        }
        let store = Store::open_reader(&path, Duration::from_secs(5)).unwrap();
        assert!(
            store.integrity_ok().unwrap(),
            "run {run} (seed {seed}, {moment}): integrity_check failed"
        );
        let start = start.expect("a committing child printed its start id");
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
            "run {run} (seed {seed}, {moment}): reported {committed} committed from {start}"
        );
        let last = store.flow(start + committed - 1).unwrap().unwrap();
        assert_eq!(
            last,
            flow(start + committed - 1, T0 + start + committed - 1)
        );
    }
    let last_db = dir.path().join(format!("crash{}.db", (RUNS - 1) / 10));
    let partitions: i64 = rusqlite::Connection::open(last_db)
        .unwrap()
        .query_row("SELECT count(*) FROM flow_parts", [], |r| r.get(0))
        .unwrap();
    eprintln!(
        "{with_commits}/{RUNS} runs committed before the kill ({early_without_commit} early kills \
         before any commit), {total_committed} rows verified, {partitions} flow partitions, \
         first commit within {} ms; early kills with a file left schema versions \
         (version: runs) {killed_at_version:?}",
        first_commit.as_millis()
    );
    // Every late run waited for its rows, so the kills also hit a writer that
    // was rotating partitions.
    assert!(
        partitions > 1,
        "{total_committed} rows never filled a partition"
    );
    assert!(with_commits >= late_runs, "{with_commits} < {late_runs}");
    // Early kills are drawn inside the first-commit window: some must land before it,
    // or the reopen path would go untested.
    assert!(
        early_without_commit > 0,
        "no early kill landed before a commit"
    );
}

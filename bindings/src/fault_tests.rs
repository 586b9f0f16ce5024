//! Fail-open proof (issue #10, part 3): faults injected under a running engine in monitor mode.
//! Each test shows that every verdict stays `Pass` and `ingest` never errors, that the fault is
//! reported (`health()`, a `Store` error on the calls that need the database, one `warn` line
//! without names or addresses), and that the engine recovers once the fault clears.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nightjar_synth::phone_session;
use nightjar_wire::Direction;

use crate::log_capture;
use crate::records::{Action, Packet, QueryFilter};
use crate::{
    EngineSettings, Health, IntelHealth, Mode, NightjarEngine, NightjarError, StoreFault,
    StoreHealth, compile_feeds, default_memory_caps,
};

fn settings(db: Option<&Path>, intel: Option<&Path>) -> EngineSettings {
    EngineSettings {
        db_path: db.map(|p| p.display().to_string()),
        intel_index_path: intel.map(|p| p.display().to_string()),
        mode: Mode::Monitor,
        caps: default_memory_caps(),
        hash_seed: 0x0bad_cafe,
        relay: None,
        block_at: None,
    }
}

/// The packets of one generated session, shifted `offset_s` seconds later (so sessions can
/// follow each other in one engine), and its flow count.
fn session(seed: u64, offset_s: u64) -> (Vec<Packet>, usize) {
    let s = phone_session(seed);
    let packets = s
        .packets
        .iter()
        .map(|p| Packet {
            bytes: p.bytes.clone(),
            outbound: p.direction == Direction::Outbound,
            ts_us: p.ts_micros + offset_s * 1_000_000,
        })
        .collect();
    (packets, s.truth.len())
}

/// Ingests `packets` and completes their flows; every call succeeds and every verdict passes.
fn ingest_all_pass(e: &NightjarEngine, packets: &[Packet]) {
    for batch in packets.chunks(64) {
        let r = e
            .ingest(batch.to_vec())
            .expect("ingest must not fail under a fault");
        assert_eq!(r.verdicts.len(), batch.len());
        assert!(r.verdicts.iter().all(|v| v.action == Action::Pass));
    }
    let last = packets.last().map_or(0, |p| p.ts_us);
    // Long enough for every idle timeout: the flows complete and their rows are sent.
    e.poll(last + 7_200_000_000).unwrap();
}

fn wait_for(e: &NightjarEngine, what: &str, pred: impl Fn(&Health) -> bool) -> Health {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = e.health().unwrap();
        if pred(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {h:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn flow_count(e: &NightjarEngine) -> usize {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = e.query_flows(QueryFilter::default(), cursor, 500).unwrap();
        n += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return n,
        }
    }
}

/// A warn line about `kind` was logged, and no warn line names a host or an address.
fn assert_warned(kind: &str) {
    let lines = log_capture::lines_at_or_above(log::Level::Warn);
    assert!(
        lines.iter().any(|l| l.contains(kind)),
        "no warn line mentions {kind}: {lines:?}"
    );
    for l in &lines {
        assert!(log_capture::leak(l).is_none(), "warn line leaks: {l}");
    }
}

/// A tmpfs of `kib` KiB mounted on a fresh directory, unmounted on drop. None (with a visible
/// SKIPPED line) when this process may not mount.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(kib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); disk-full test not run");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn disk_full_passes_packets_reports_and_catches_up_when_space_returns() {
    log_capture::install();
    let Some(fs) = Tmpfs::mount(2048) else {
        return;
    };
    let db = fs.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db), None)).unwrap();
    let (a, flows_a) = session(11, 0);
    ingest_all_pass(&e, &a);
    assert!(e.commit(10_000).unwrap());
    assert_eq!(e.health().unwrap().store, StoreHealth::Healthy);

    let filler = fs.path().join("filler");
    fill(&filler);
    let (b, flows_b) = session(12, 4 * 3600);
    ingest_all_pass(&e, &b);
    // Nothing can be committed: the writer keeps the rows and retries.
    assert!(!e.commit(300).unwrap());
    let h = wait_for(&e, "disk full", |h| h.store == StoreHealth::Degraded);
    assert_eq!(h.store_fault, Some(StoreFault::DiskFull), "{h:?}");
    assert!(h.store_consecutive_failures > 0);
    // Queries still answer from what is on disk.
    assert_eq!(flow_count(&e), flows_a);

    std::fs::remove_file(&filler).unwrap();
    let h = wait_for(&e, "recovery", |h| h.store == StoreHealth::Healthy);
    assert!(e.commit(10_000).unwrap());
    assert_eq!(h.store_fault, None);
    assert_eq!(h.store_rows_lost, 0, "rows were held, not lost: {h:?}");
    assert_eq!(flow_count(&e), flows_a + flows_b);
    e.shutdown().unwrap();
}

#[test]
fn a_damaged_database_is_reported_and_can_be_replaced() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db), None)).unwrap();
    let (a, _) = session(21, 0);
    ingest_all_pass(&e, &a);
    assert!(e.commit(10_000).unwrap());

    e.shutdown().unwrap();
    // Garbage over the whole file, its log gone: what the app finds after the damage.
    let len = usize::try_from(std::fs::metadata(&db).unwrap().len()).unwrap();
    std::fs::write(
        &db,
        (0..len).map(|i| (i * 7 + 13) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let e = NightjarEngine::new(settings(Some(&db), None)).expect("fail open");
    let (b, _) = session(22, 4 * 3600);
    ingest_all_pass(&e, &b);
    let h = e.health().unwrap();
    assert_eq!(h.store_fault, Some(StoreFault::Corrupt), "{h:?}");
    assert_ne!(h.store, StoreHealth::Healthy);
    assert!(matches!(
        e.query_flows(QueryFilter::default(), None, 10),
        Err(NightjarError::Store { .. })
    ));
    // Reopening without discarding cannot help; the engine still passes packets.
    assert!(matches!(
        e.reopen_store(false),
        Err(NightjarError::Store { .. })
    ));
    let (c, _) = session(23, 8 * 3600);
    ingest_all_pass(&e, &c);
    assert_eq!(e.health().unwrap().store, StoreHealth::Unavailable);

    // Moving the damaged file aside starts a fresh database that records again.
    e.reopen_store(true).unwrap();
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|d| d.ok())
        .filter(|d| {
            d.file_name()
                .to_string_lossy()
                .starts_with("nj.db.damaged-")
        })
        .count();
    assert!(aside >= 1, "the damaged file is kept aside");
    let (d, flows_d) = session(24, 12 * 3600);
    ingest_all_pass(&e, &d);
    assert!(e.commit(10_000).unwrap());
    let h = e.health().unwrap();
    assert_eq!(h.store, StoreHealth::Healthy, "{h:?}");
    assert!(h.store_restarts >= 1);
    assert_eq!(flow_count(&e), flows_d);
    assert_warned("Corrupt");
    e.shutdown().unwrap();
}

#[test]
fn a_lost_writer_thread_is_noticed_and_restarted() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db), None)).unwrap();
    let (a, flows_a) = session(31, 0);
    ingest_all_pass(&e, &a);
    assert!(e.commit(10_000).unwrap());

    assert!(e.kill_store_writer_for_test().unwrap());
    let (b, _) = session(32, 4 * 3600);
    ingest_all_pass(&e, &b);
    let h = e.health().unwrap();
    assert_eq!(h.store, StoreHealth::Unavailable, "{h:?}");
    assert_eq!(h.store_fault, Some(StoreFault::WriterGone));
    assert!(
        h.store_rows_lost > 0,
        "rows sent to the dead writer are counted"
    );
    assert_warned("WriterGone");

    // The restart waits a second (then backs off), and happens on a later call.
    std::thread::sleep(crate::health::RESTART_FIRST + Duration::from_millis(100));
    e.poll(b.last().unwrap().ts_us + 7_200_000_000).unwrap();
    let h = e.health().unwrap();
    assert_eq!(h.store, StoreHealth::Healthy, "{h:?}");
    assert_eq!(h.store_restarts, 1);
    let (c, flows_c) = session(33, 8 * 3600);
    ingest_all_pass(&e, &c);
    assert!(e.commit(10_000).unwrap());
    assert_eq!(flow_count(&e), flows_a + flows_c);
    e.shutdown().unwrap();
}

#[test]
fn an_unopenable_database_does_not_stop_the_engine() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("later/nj.db");
    let e = NightjarEngine::new(settings(Some(&db), None)).unwrap();
    let h = e.health().unwrap();
    assert_eq!(h.store, StoreHealth::Unavailable);
    assert_eq!(h.store_fault, Some(StoreFault::CannotOpen), "{h:?}");
    assert!(matches!(
        e.query_flows(QueryFilter::default(), None, 10),
        Err(NightjarError::Store { .. })
    ));
    let (a, _) = session(41, 0);
    ingest_all_pass(&e, &a);
    // The fault clears (the directory appears): the engine opens it on request.
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    e.reopen_store(false).unwrap();
    let (b, flows_b) = session(42, 4 * 3600);
    ingest_all_pass(&e, &b);
    assert!(e.commit(10_000).unwrap());
    assert_eq!(e.health().unwrap().store, StoreHealth::Healthy);
    assert_eq!(flow_count(&e), flows_b);
    assert_warned("CannotOpen");
}

#[test]
fn a_missing_or_damaged_index_runs_without_intel_until_a_good_one_loads() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.nji");
    let e = NightjarEngine::new(settings(None, Some(&missing))).unwrap();
    let h = e.health().unwrap();
    assert_eq!(h.intel, IntelHealth::Missing);
    assert_eq!(h.intel_load_failures, 1);
    assert!(matches!(
        e.check_domain("example.org".into(), 0),
        Err(NightjarError::Intel { .. })
    ));
    let (a, _) = session(51, 0);
    ingest_all_pass(&e, &a);

    let garbage = dir.path().join("garbage.nji");
    std::fs::write(&garbage, vec![0x5au8; 64 * 1024]).unwrap();
    let e2 = NightjarEngine::new(settings(None, Some(&garbage))).unwrap();
    assert_eq!(e2.health().unwrap().intel, IntelHealth::Corrupt);
    ingest_all_pass(&e2, &a);

    let feed = dir.path().join("block.txt");
    std::fs::write(&feed, "0.0.0.0 c2.example.org\n").unwrap();
    let good = dir.path().join("good.nji");
    compile_feeds(
        vec![feed.display().to_string()],
        vec![],
        good.display().to_string(),
    )
    .unwrap();
    e2.reload_intel(good.display().to_string()).unwrap();
    assert_eq!(e2.health().unwrap().intel, IntelHealth::Loaded);
    // A damaged update is refused and the good index stays.
    assert!(matches!(
        e2.reload_intel(garbage.display().to_string()),
        Err(NightjarError::Intel { .. })
    ));
    let h = e2.health().unwrap();
    assert_eq!(h.intel, IntelHealth::Loaded);
    assert_eq!(h.intel_load_failures, 2);
    assert_eq!(
        e2.check_domain("x.c2.example.org".into(), 0)
            .unwrap()
            .outcome,
        crate::records::IntelOutcome::Blocked
    );
    assert_warned("Missing");
    assert_warned("Corrupt");
}

/// Issue #7: domain names and IPs never appear above `debug`. A whole session (intel index that
/// lists one of its names, so alerts fire; store; queries, exports, coverage; shutdown) is run
/// with every record captured, and no line at `info` or above names a host or an address.
#[test]
fn a_whole_session_logs_no_name_or_address_above_debug() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let s = phone_session(61);
    let listed = s
        .truth
        .iter()
        .find_map(|t| t.name.clone())
        .expect("the session names a flow");
    let feed = dir.path().join("feed.txt");
    std::fs::write(&feed, format!("0.0.0.0 {listed}\n")).unwrap();
    let index = dir.path().join("feed.nji");
    compile_feeds(
        vec![feed.display().to_string()],
        vec![],
        index.display().to_string(),
    )
    .unwrap();
    let db = dir.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db), Some(&index))).unwrap();
    let (packets, _) = session(61, 0);
    ingest_all_pass(&e, &packets);
    assert!(e.commit(10_000).unwrap());
    assert!(flow_count(&e) > 0);
    let alerts = e.query_alerts(Default::default(), None, 100).unwrap();
    assert!(
        alerts
            .items
            .iter()
            .any(|a| a.domain.as_deref() == Some(listed.as_str())),
        "the listed name raised an alert: {:?}",
        alerts.items
    );
    let _ = e.query_dns(QueryFilter::default(), None, 100).unwrap();
    let _ = e.coverage(0, u64::MAX).unwrap();
    let out = dir.path().join("conn.json");
    e.export(
        crate::records::ExportFormat::Zeek,
        crate::records::ExportTable::Flows,
        QueryFilter::default(),
        out.display().to_string(),
    )
    .unwrap();
    e.check_domain(listed.clone(), 0).unwrap();
    e.shutdown().unwrap();

    let all = log_capture::lines_at_or_above(log::Level::Trace);
    assert!(!all.is_empty(), "the capture logger saw the session");
    for l in log_capture::lines_at_or_above(log::Level::Info) {
        assert!(
            log_capture::leak(&l).is_none(),
            "a line above debug leaks: {l}"
        );
    }
}

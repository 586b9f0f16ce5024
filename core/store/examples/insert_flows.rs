//! Pushes flows through the writer and reports rows/s and bytes per row.
//! A small, repeatable workload for profiling the write path, e.g.
//! `valgrind --tool=callgrind target/release/examples/insert_flows 50000`.
//! Usage: `insert_flows [ROWS] [FLOWS_PER_PARTITION]`.
// Example harness, not packet path: a failed setup should abort loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc::TrySendError;
use std::time::Instant;

use nightjar_store::{FlowRow, Record, Store, StoreConfig};

const T0: u64 = 1_700_000_000_000_000;

/// The same row shape as the benchmark: 10k domains, 50 apps, TLS names.
fn flow(id: u64) -> FlowRow {
    let d = id % 10_000;
    let name = format!("h{}.d{d}.example", id % 7);
    FlowRow {
        id,
        uid: format!("C{id:016x}"),
        app_uid: Some(10_000 + u32::try_from(id % 50).unwrap_or(0)),
        app_name: Some(format!("com.example.app{}", id % 50)),
        proto: if id.is_multiple_of(5) { 17 } else { 6 },
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        orig_p: 30_000 + u16::try_from(id % 30_000).unwrap_or(0),
        resp_h: IpAddr::V4(Ipv4Addr::from(
            0xC000_0000u32 + u32::try_from(d).unwrap_or(0),
        )),
        resp_p: 443,
        first_us: T0 + id * 1_000,
        last_us: T0 + id * 1_000 + 2_000_000,
        orig_pkts: 12,
        resp_pkts: 20,
        orig_ip_bytes: 1_500 + id % 1_000,
        resp_ip_bytes: 30_000 + id % 7_000,
        conn_state: "SF".into(),
        community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into()),
        sni: Some(name.clone()),
        name: Some(name),
        name_source: Some("sni".into()),
        alpn: Some("h2".into()),
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        http_host: None,
        ech: false,
        end_reason: "fin".into(),
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    // Optional second argument: flows per partition (default: the config's).
    let mut config = StoreConfig::default();
    if let Some(p) = std::env::args().nth(2).and_then(|a| a.parse().ok()) {
        config.flow_partition_rows = p;
    }
    // Rows are built before the clock starts so the figure is the writer's.
    let rows: Vec<FlowRow> = (0..n).map(flow).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, writer) = Store::open(dir.path().join("f.db"), config).expect("open");
    let sender = writer.sender().expect("sender");
    let t = Instant::now();
    for row in rows {
        let mut rec = Record::Flow(Box::new(row));
        // Spin on a full queue: this measures the writer, not load shedding.
        loop {
            match sender.try_send(rec) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    rec = back;
                    std::thread::yield_now();
                }
                Err(TrySendError::Disconnected(_)) => panic!("writer stopped"),
            }
        }
    }
    drop(sender);
    let status = writer.shutdown();
    let secs = t.elapsed().as_secs_f64();
    store.checkpoint().expect("checkpoint");
    let bytes = store.db_bytes().expect("size");
    println!(
        "{} rows in {secs:.3} s = {:.0} rows/s; {} bytes on disk, {} bytes/row",
        status.committed_rows,
        status.committed_rows as f64 / secs,
        bytes,
        bytes / n.max(1)
    );
}

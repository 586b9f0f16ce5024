//! Pushes flows through the writer and reports rows/s and bytes per row.
//! A small, repeatable workload for profiling the write path, e.g.
//! `valgrind --tool=callgrind target/release/examples/insert_flows 50000`.
//! Usage: `insert_flows [ROWS] [FLOWS_PER_PARTITION]`.
// Example harness, not packet path: a failed setup should abort loudly.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::mpsc::TrySendError;
use std::time::Instant;

use nightjar_store::{FlowRow, Record, Store, StoreConfig};

// The benchmark's row shape (10k domains, 50 apps, TLS names), so a profile here explains it.
#[path = "../benches/data/mod.rs"]
mod data;
use data::flow;

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

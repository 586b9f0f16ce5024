//! The demo's alerts reach the store as the CLI's `--db --packet-ring` writes them:
//! each row keeps its app uid and the uids of its flows' rows, and the packets of
//! those flows come back out of `export_pcap` (always runs: generated data only).

use std::collections::BTreeSet;

use nightjar::demo;
use nightjar::replay::{Detections, RecordSink};
use nightjar::store_sink::StoreSink;
use nightjar_engine::{DnsTransaction, EngineConfig, FlowRecord, HelloRecord, HttpRecord};
use nightjar_store::Query;
use nightjar_store::export::PcapSelection;

/// The store plus the detectors, wired as `nightjar replay --db` wires them.
struct Recorder<'a> {
    store: StoreSink<'a>,
    detect: Detections,
}

impl Recorder<'_> {
    fn raise(&mut self) -> Result<(), nightjar::error::CliError> {
        while let Some(a) = self.detect.pipeline.next_alert() {
            self.store.alert(&a)?;
            self.detect.keep(vec![a]);
        }
        Ok(())
    }
}

impl RecordSink for Recorder<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), nightjar::error::CliError> {
        self.store.flow(r)?;
        self.detect.pipeline.on_flow(r.last_us, r);
        self.raise()
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), nightjar::error::CliError> {
        self.store.dns(tx)?;
        let t = tx.ts_us.saturating_add(tx.rtt_us.unwrap_or(0));
        self.detect.pipeline.on_dns(t, tx);
        self.raise()
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), nightjar::error::CliError> {
        self.store.hello(h)?;
        self.detect.pipeline.on_hello(h.ts_us, h);
        self.raise()
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), nightjar::error::CliError> {
        self.store.http(r)?;
        self.detect.pipeline.on_http(r.ts_us, r);
        self.raise()
    }
    fn attributed(&mut self, flow_id: u64, uid: u32) {
        self.detect.pipeline.attribute(flow_id, uid);
    }
    fn packet(&mut self, flow: u64, ts_us: u64, ip: &[u8]) {
        self.store.packet(flow, ts_us, ip);
    }
}

#[test]
fn demo_alerts_are_stored_with_their_app_flows_and_packets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let (scenario, apps) = demo::scenario(7);
    let inventory = demo::inventory(&scenario);
    let store = StoreSink::open(&db, &apps, 0)
        .unwrap()
        .with_packet_ring(4 << 20);
    let mut rec = Recorder {
        store,
        detect: Detections::new(&inventory, None).unwrap(),
    };
    demo::run(&scenario, EngineConfig::default(), &mut rec).unwrap();
    let raised = rec.detect.alerts.clone();
    assert!(
        !raised.is_empty(),
        "the demo's flashlight app raises alerts"
    );
    let ring = rec.store.ring_stats().unwrap();
    assert_eq!(rec.store.alerts_dropped(), 0);
    let (store, status) = rec.store.finish();
    assert_eq!(status.dropped_full + status.dropped_error, 0, "{status:?}");

    let alerts = store.alerts(&Query::new().limit(1000)).unwrap().items;
    assert_eq!(alerts.len(), raised.len(), "every raised alert is stored");
    let flashlight = scenario
        .apps
        .iter()
        .find(|a| a.package.contains("flashlight"))
        .unwrap()
        .uid;
    let flow_uids: BTreeSet<String> = store
        .flows(&Query::new().limit(1000))
        .unwrap()
        .items
        .into_iter()
        .map(|f| f.uid)
        .collect();
    for a in &alerts {
        assert_eq!(a.app_uid, Some(flashlight), "{a:?}");
        assert!(!a.signals.is_empty(), "every stored alert says why: {a:?}");
        assert!(a.attack.iter().any(|t| t == "DC0113"), "{a:?}");
        for uid in &a.flow_uids {
            assert!(flow_uids.contains(uid), "alert names a stored flow: {uid}");
        }
    }
    let detectors: BTreeSet<&str> = alerts.iter().map(|a| a.detector.as_str()).collect();
    assert!(
        detectors.contains("beacon"),
        "the flashlight's 60 s beacon is caught: {detectors:?}"
    );
    let expected: BTreeSet<&str> = raised.iter().map(|a| a.detector.name()).collect();
    assert_eq!(detectors, expected);

    // The ring held every packet of the alerted flows (4 MiB is more than the
    // demo), so what the export writes is what those flows carried.
    assert_eq!(ring.evicted_untaken, 0);
    let mut pcap = Vec::new();
    let out = store
        .export_pcap(PcapSelection::AllAlerts, &mut pcap)
        .unwrap();
    assert_eq!(out.packets, ring.taken, "{out:?} {ring:?}");
    assert!(out.packets > 0 && out.flows > 0, "{out:?}");
    let mut reader =
        nightjar_capture::CaptureReader::from_reader(std::io::Cursor::new(pcap), None).unwrap();
    let mut n = 0;
    while let Some(frame) = reader.next_frame() {
        assert!(frame.unwrap().ip.is_ok());
        n += 1;
    }
    assert_eq!(n, out.packets);
}

//! The `detect/pipeline_flow_completed` bench workload as a plain program, for
//! instruction counts (`valgrind --tool=callgrind`) when time is noisy, with
//! the beacon gate chosen on the command line: `beacon_cost [FLOWS] [GATE]`,
//! GATE one of peak (default), fold, coherence, off.

use std::net::SocketAddr;
use std::sync::Arc;

use nightjar_detect::{PeriodGate, Pipeline, PipelineConfig};
use nightjar_engine::{AppId, EndReason, FlowId, FlowRecord};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let flows: u64 = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let gate = match args.next().as_deref() {
        None | Some("peak") => PeriodGate::Peak,
        Some("fold") => PeriodGate::Fold,
        Some("coherence") => PeriodGate::Coherence,
        Some("off") => PeriodGate::Off,
        Some(other) => return Err(format!("unknown gate {other}").into()),
    };
    let mut config = PipelineConfig::default();
    config.beacon.gate = gate;
    let mut p = Pipeline::new(config)?;
    // As in the bench: 64 (app, destination) pairs take turns, half on a timer
    // and half at exponential gaps, so every flow is scored against a full ring.
    let names: Vec<Arc<str>> = (0..64)
        .map(|k| Arc::from(format!("api.service{k}.example")))
        .collect();
    let mut next_at: Vec<u64> = vec![1_700_000_000_000_000; 64];
    let mut x: u64 = 0x9E37_79B9;
    let mut r = FlowRecord {
        id: FlowId(1),
        protocol: 6,
        orig: "10.0.0.2:40000".parse()?,
        resp: "203.0.113.5:443".parse()?,
        app: Some(AppId(10_100)),
        first_us: 0,
        last_us: 0,
        orig_pkts: 6,
        resp_pkts: 5,
        orig_ip_bytes: 900,
        resp_ip_bytes: 4200,
        tcp: None,
        end: EndReason::Closed,
        name: None,
        name_source: None,
        ech: false,
        tunnel: None,
    };
    let mut alerts = 0u64;
    for i in 1..=flows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (i % 64) as usize;
        let gap = if k.is_multiple_of(2) {
            60_000_000 + x % 6_000_000
        } else {
            let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            (-u.ln() * 60e6) as u64 + 2_500_000
        };
        let (Some(at), Some(name)) = (next_at.get_mut(k), names.get(k)) else {
            continue;
        };
        *at += gap;
        r.id = FlowId(i);
        r.first_us = *at;
        r.last_us = *at + 300_000;
        r.resp = SocketAddr::from(([203, 0, 113, k as u8], 443));
        r.name = Some(name.clone());
        p.on_flow(r.last_us, &r);
        while p.next_alert().is_some() {
            alerts += 1;
        }
    }
    println!("{flows} flows, gate {}, {alerts} alerts", gate.name());
    Ok(())
}

//! Drives the engine from a packet source (a capture file or the demo
//! scenario) and hands completed flows to the outputs.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use nightjar_capture::{CaptureReader, DecapError};
use nightjar_engine::{
    AppId, Direction, DnsTransaction, Engine, EngineConfig, EngineStats, Event, FlowRecord,
    HelloRecord, HttpRecord, Verdict,
};
use serde::Serialize;

use nightjar_detect::{Alert, InventoryApp, Pipeline, PipelineConfig};

use crate::error::CliError;

/// Frames of a capture that never reached the engine, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkCounters {
    /// Frames that are not IP (ARP, LLDP, …).
    pub not_ip: u64,
    /// Frames too short for their link-layer header.
    pub truncated_link_header: u64,
    /// Frames on an interface whose link type is not supported.
    pub unsupported_link_type: u64,
    /// Other decapsulation failures.
    pub other: u64,
}

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplaySummary {
    /// Frames read from the source.
    pub frames: u64,
    /// Frames dropped before the engine.
    pub link: LinkCounters,
    /// The engine's counters at the end.
    pub engine: EngineStats,
    /// Flow records produced.
    pub flows: u64,
    /// First and last packet time (µs since the epoch), if any packet came.
    pub first_us: Option<u64>,
    /// Last packet time.
    pub last_us: Option<u64>,
    /// A problem that cut reading short, after the frames counted above.
    pub stopped_early: Option<String>,
}

/// Receives every record the engine produces.
pub trait RecordSink {
    /// One completed flow.
    fn flow(&mut self, record: &FlowRecord) -> Result<(), CliError>;
    /// One DNS transaction.
    fn dns(&mut self, _tx: &DnsTransaction) -> Result<(), CliError> {
        Ok(())
    }
    /// One TLS or QUIC ClientHello.
    fn hello(&mut self, _hello: &HelloRecord) -> Result<(), CliError> {
        Ok(())
    }
    /// One HTTP request head.
    fn http(&mut self, _request: &HttpRecord) -> Result<(), CliError> {
        Ok(())
    }
    /// The platform attributed a new flow to an app (before any of its records).
    fn attributed(&mut self, _flow_id: u64, _uid: u32) {}
    /// One explained alert from the detection pipeline.
    fn alert(&mut self, _alert: &Alert) -> Result<(), CliError> {
        Ok(())
    }
    /// A packet the engine placed in flow `flow` (the packet ring keeps recent
    /// ones so an alert can save its flow's packets).
    fn packet(&mut self, _flow: u64, _ts_us: u64, _ip: &[u8]) {}
}

/// The detection pipeline at the CLI's edge: records in, alerts out to a sink.
#[derive(Debug)]
pub struct Detections {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Every alert raised, for the table at the end.
    pub alerts: Vec<Alert>,
}

/// Alerts kept for the table; the rest are still written to the logs.
const MAX_TABLE_ALERTS: usize = 10_000;

impl Detections {
    /// A pipeline for a capture or the demo: no learning period (a capture has no
    /// history, so it is judged on its own; apps still get their first-run allowance), the
    /// given inventory and intel.
    pub fn new(
        inventory: &[nightjar_store::AppRow],
        intel: Option<std::sync::Arc<nightjar_intel::Index>>,
    ) -> Result<Self, CliError> {
        let mut config = PipelineConfig::default();
        config.first_seen.learning_period_us = 0;
        let mut pipeline = Pipeline::with_model(config, nightjar_detect::DgaModel::builtin()?);
        pipeline.set_intel(intel);
        let apps: Vec<InventoryApp> = inventory
            .iter()
            .map(nightjar_store::engine_rows::inventory_app)
            .collect();
        pipeline.set_inventory(&apps);
        Ok(Detections {
            pipeline,
            alerts: Vec::new(),
        })
    }

    /// Keeps alerts for the table, up to its bound.
    pub fn keep(&mut self, alerts: Vec<Alert>) {
        let room = MAX_TABLE_ALERTS.saturating_sub(self.alerts.len());
        self.alerts.extend(alerts.into_iter().take(room));
    }

    /// Hands every queued alert to `sink`.
    pub fn drain(&mut self, sink: &mut dyn RecordSink) -> Result<(), CliError> {
        while let Some(a) = self.pipeline.next_alert() {
            sink.alert(&a)?;
            if self.alerts.len() < MAX_TABLE_ALERTS {
                self.alerts.push(a);
            }
        }
        Ok(())
    }
}

/// Feeds packets to an engine and completed flows to a sink.
#[derive(Debug)]
pub struct Replay {
    engine: Engine,
    frames: u64,
    link: LinkCounters,
    flows: u64,
    first_us: Option<u64>,
    last_us: Option<u64>,
}

impl Replay {
    /// A replay with a fresh engine.
    pub fn new(config: EngineConfig) -> Result<Self, CliError> {
        Ok(Replay {
            engine: Engine::new(config)?,
            frames: 0,
            link: LinkCounters::default(),
            flows: 0,
            first_us: None,
            last_us: None,
        })
    }

    /// The engine, for callers that need its counters mid-run.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// One IP packet. `app` is the platform's attribution, applied when the
    /// packet opens a flow.
    pub fn packet(
        &mut self,
        ts_us: u64,
        direction: Direction,
        app: Option<u32>,
        ip: &[u8],
        sink: &mut dyn RecordSink,
    ) -> Result<Verdict, CliError> {
        self.frames += 1;
        self.first_us = Some(self.first_us.map_or(ts_us, |f| f.min(ts_us)));
        self.last_us = Some(self.last_us.map_or(ts_us, |l| l.max(ts_us)));
        let verdict = self.engine.on_packet(ts_us, direction, ip);
        if let Some(flow) = verdict.flow {
            sink.packet(flow.id.0, ts_us, ip);
            if let Some(uid) = app
                && flow.is_new
            {
                self.engine.attribute(flow, AppId(uid));
                sink.attributed(flow.id.0, uid);
            }
        }
        self.drain(sink)?;
        Ok(verdict)
    }

    /// One packet from a capture: no direction, no app, and possibly cut short
    /// by the snap length (`ip_orig_len` is its length on the wire).
    pub fn captured_packet(
        &mut self,
        ts_us: u64,
        ip: &[u8],
        ip_orig_len: usize,
        sink: &mut dyn RecordSink,
    ) -> Result<Verdict, CliError> {
        self.frames += 1;
        self.first_us = Some(self.first_us.map_or(ts_us, |f| f.min(ts_us)));
        self.last_us = Some(self.last_us.map_or(ts_us, |l| l.max(ts_us)));
        let verdict = self
            .engine
            .on_captured(ts_us, Direction::Unknown, ip, ip_orig_len);
        if let Some(flow) = verdict.flow {
            sink.packet(flow.id.0, ts_us, ip);
        }
        self.drain(sink)?;
        Ok(verdict)
    }

    /// A frame whose link layer could not be removed.
    pub fn link_error(&mut self, e: &DecapError) {
        self.frames += 1;
        match e {
            DecapError::NotIp { .. } => self.link.not_ip += 1,
            DecapError::Truncated => self.link.truncated_link_header += 1,
            DecapError::UnsupportedLinkType(_) => self.link.unsupported_link_type += 1,
            _ => self.link.other += 1,
        }
    }

    fn drain(&mut self, sink: &mut dyn RecordSink) -> Result<(), CliError> {
        while let Some(event) = self.engine.next_event() {
            match event {
                Event::FlowCompleted(r) => {
                    self.flows += 1;
                    sink.flow(&r)?;
                }
                Event::Dns(tx) => sink.dns(&tx)?,
                Event::Hello(h) => sink.hello(&h)?,
                Event::Http(r) => sink.http(&r)?,
                // Kinds added by later layers are not written by this version.
                _ => {}
            }
        }
        Ok(())
    }

    /// Complete every flow and return the summary.
    pub fn finish(mut self, sink: &mut dyn RecordSink) -> Result<ReplaySummary, CliError> {
        self.engine.flush();
        self.drain(sink)?;
        Ok(ReplaySummary {
            frames: self.frames,
            link: self.link,
            engine: self.engine.stats(),
            flows: self.flows,
            first_us: self.first_us,
            last_us: self.last_us,
            stopped_early: None,
        })
    }
}

/// Replay the capture at `path`. `observe` sees every frame's captured length
/// and the engine's verdict (tests use it to compare with tshark, which counts
/// link-layer bytes). A progress bar shows on large files when stderr is a
/// terminal.
pub fn replay_file(
    path: &Path,
    config: EngineConfig,
    sink: &mut dyn RecordSink,
    progress: bool,
    mut observe: impl FnMut(u32, &Verdict),
) -> Result<ReplaySummary, CliError> {
    let mut reader = CaptureReader::open(path)?;
    let mut replay = Replay::new(config)?;
    let bar = progress_bar(reader.total_bytes(), progress);
    let mut stopped_early = None;
    let mut n: u64 = 0;
    while let Some(frame) = reader.next_frame() {
        let frame = match frame {
            Ok(f) => f,
            Err(e) if e.is_recoverable() => {
                replay.link.other += 1;
                continue;
            }
            Err(e) => {
                stopped_early = Some(e.to_string());
                break;
            }
        };
        match frame.ip {
            Ok(ip) => {
                // Link-layer bytes come off the front only, so what the snap
                // length cut from the frame was cut from the IP packet.
                let link_header = frame.captured.len().saturating_sub(ip.len());
                let ip_orig = (frame.orig_len as usize).saturating_sub(link_header);
                let v = replay.captured_packet(frame.ts_micros, ip, ip_orig, sink)?;
                observe(frame.orig_len, &v);
                // A GTP-U frame is in two flows, its UDP datagram's and its inner packet's.
                if let Some(inner) = replay.engine.take_inner_verdict() {
                    observe(frame.orig_len, &inner);
                }
            }
            Err(e) => replay.link_error(&e),
        }
        n += 1;
        if n.is_multiple_of(4096) {
            bar.set_position(reader.bytes_read());
        }
    }
    bar.finish_and_clear();
    let mut summary = replay.finish(sink)?;
    summary.stopped_early = stopped_early;
    Ok(summary)
}

/// Files smaller than this replay in well under a second: no bar.
const PROGRESS_MIN_BYTES: u64 = 16 * 1024 * 1024;

fn progress_bar(total: Option<u64>, wanted: bool) -> ProgressBar {
    match total {
        Some(t) if wanted && t >= PROGRESS_MIN_BYTES => {
            let bar = ProgressBar::new(t);
            let style = ProgressStyle::with_template(
                "{spinner} replaying [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar
        }
        _ => ProgressBar::hidden(),
    }
}

/// A sink that fans out to several.
#[derive(Default)]
pub struct Sinks<'a> {
    sinks: Vec<&'a mut dyn RecordSink>,
}

impl std::fmt::Debug for Sinks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sinks({})", self.sinks.len())
    }
}

impl<'a> Sinks<'a> {
    /// Add a sink.
    pub fn push(&mut self, s: &'a mut dyn RecordSink) {
        self.sinks.push(s);
    }
}

impl RecordSink for Sinks<'_> {
    fn flow(&mut self, record: &FlowRecord) -> Result<(), CliError> {
        self.sinks.iter_mut().try_for_each(|s| s.flow(record))
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.sinks.iter_mut().try_for_each(|s| s.dns(tx))
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        self.sinks.iter_mut().try_for_each(|s| s.hello(h))
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.sinks.iter_mut().try_for_each(|s| s.http(r))
    }
    fn attributed(&mut self, flow_id: u64, uid: u32) {
        self.sinks
            .iter_mut()
            .for_each(|s| s.attributed(flow_id, uid));
    }
    fn alert(&mut self, a: &Alert) -> Result<(), CliError> {
        self.sinks.iter_mut().try_for_each(|s| s.alert(a))
    }
    fn packet(&mut self, flow: u64, ts_us: u64, ip: &[u8]) {
        self.sinks
            .iter_mut()
            .for_each(|s| s.packet(flow, ts_us, ip));
    }
}

/// Collects every record (tests, small captures).
#[derive(Debug, Default)]
pub struct Collect {
    /// Completed flows.
    pub flows: Vec<FlowRecord>,
    /// DNS transactions.
    pub dns: Vec<DnsTransaction>,
    /// ClientHellos.
    pub hellos: Vec<HelloRecord>,
    /// HTTP requests.
    pub http: Vec<HttpRecord>,
}

impl RecordSink for Collect {
    fn flow(&mut self, record: &FlowRecord) -> Result<(), CliError> {
        self.flows.push(record.clone());
        Ok(())
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.dns.push(tx.clone());
        Ok(())
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        self.hellos.push(h.clone());
        Ok(())
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.http.push(r.clone());
        Ok(())
    }
}

pub use crate::zeek_log::AppNames;

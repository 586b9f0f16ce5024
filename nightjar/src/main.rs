//! `nightjar`: replay captures through the engine, or run the built-in demo.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nightjar::output::{self, JsonSink, LogSink, TopFlows};
use nightjar::replay::{AppNames, Detections, RecordSink, ReplaySummary, Sinks, replay_file};
use nightjar::store_sink::StoreSink;
use nightjar::zeek_log::{IntelMarks, LogDir};
use nightjar::{CliError, demo, eval_cmd, intel_cmd, memory_cmd, report_cmd, store_cmd};
use nightjar_engine::{DnsTransaction, FlowRecord, HelloRecord, HttpRecord};

mod args;

use args::{
    Cli, Command, EvalCommand, ExportFormat, ExportLog, IntelCommand, OutputArgs, QueryWhat,
    parse_time,
};

/// A sink that feeds the table, the logs and the JSON output at once.
struct Outputs<'a> {
    top: TopFlows,
    store: Option<StoreSink<'a>>,
    marks: IntelMarks<'a>,
    intel_flows: u64,
    intel_dns: u64,
    logs: Option<LogSink<'a>>,
    json: Option<JsonSink<'a, std::io::StdoutLock<'static>>>,
    detect: Detections,
}

impl Outputs<'_> {
    /// Runs the detectors on one record and sends what they raise to every output.
    fn detect(
        &mut self,
        feed: impl FnOnce(&mut nightjar_detect::Pipeline),
    ) -> Result<(), CliError> {
        feed(&mut self.detect.pipeline);
        let mut raised = Vec::new();
        while let Some(a) = self.detect.pipeline.next_alert() {
            raised.push(a);
        }
        for a in &raised {
            self.all().alert(a)?;
        }
        self.detect.keep(raised);
        Ok(())
    }

    fn all(&mut self) -> Sinks<'_> {
        let mut s = Sinks::default();
        s.push(&mut self.top);
        if let Some(l) = &mut self.logs {
            s.push(l);
        }
        if let Some(j) = &mut self.json {
            s.push(j);
        }
        if let Some(d) = &mut self.store {
            s.push(d);
        }
        s
    }
}

impl RecordSink for Outputs<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        self.intel_flows += u64::from(self.marks.flow(r).is_some_and(|m| m.verdict == "blocked"));
        self.all().flow(r)?;
        self.detect(|p| p.on_flow(r.last_us, r))
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.intel_dns += u64::from(self.marks.dns(tx).is_some_and(|m| m.verdict == "blocked"));
        self.all().dns(tx)?;
        let t = tx.ts_us.saturating_add(tx.rtt_us.unwrap_or(0));
        self.detect(|p| p.on_dns(t, tx))
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        self.all().hello(h)?;
        self.detect(|p| p.on_hello(h.ts_us, h))
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.all().http(r)?;
        self.detect(|p| p.on_http(r.ts_us, r))
    }
    fn attributed(&mut self, flow_id: u64, uid: u32) {
        self.detect.pipeline.attribute(flow_id, uid);
    }
    fn packet(&mut self, flow: u64, ts_us: u64, ip: &[u8]) {
        // Only the store keeps packets (its ring); the other outputs never see them.
        if let Some(s) = &mut self.store {
            s.packet(flow, ts_us, ip);
        }
    }
}

fn run_with_outputs(
    out: &OutputArgs,
    apps: &AppNames,
    inventory: &[nightjar_store::AppRow],
    heading: &str,
    drive: impl FnOnce(&mut dyn RecordSink) -> Result<ReplaySummary, CliError>,
) -> Result<(), CliError> {
    let salt = 0;
    let index = match &out.intel {
        Some(path) => Some(std::sync::Arc::new(nightjar_intel::Index::open(path)?)),
        None => None,
    };
    let intel = IntelMarks {
        index: index.as_deref(),
    };
    let logs = match &out.logs {
        Some(dir) => Some(LogSink {
            logs: LogDir::create(dir)?,
            apps,
            salt,
            intel,
        }),
        None => None,
    };
    let json = out.json.then(|| JsonSink {
        out: std::io::stdout().lock(),
        apps,
        salt,
        intel,
    });
    let store = match &out.db {
        Some(path) => {
            let sink = StoreSink::open(path, apps, salt)?;
            Some(match out.packet_ring {
                Some(bytes) => sink.with_packet_ring(bytes),
                None => sink,
            })
        }
        None => None,
    };
    if let Some(s) = &store {
        s.apps(inventory.iter().cloned());
    }
    let mut outputs = Outputs {
        detect: Detections::new(inventory, index.clone())?,
        top: TopFlows::new(out.rows),
        store,
        marks: intel,
        intel_flows: 0,
        intel_dns: 0,
        logs,
        json,
    };
    let summary = drive(&mut outputs)?;
    if let Some(l) = outputs.logs.take() {
        l.logs.finish()?;
    }
    let ring = outputs.store.as_ref().and_then(StoreSink::ring_stats);
    let stored = outputs.store.take().map(|s| s.finish().1);
    if let Some(mut j) = outputs.json.take() {
        output::write_summary_json(&mut j.out, &summary)?;
        return j.out.flush().map_err(CliError::Stdout);
    }
    let (flows, left_out) = outputs.top.into_sorted();
    let mut stdout = std::io::stdout().lock();
    let start = summary.first_us.unwrap_or(0);
    let p = |s: &mut std::io::StdoutLock<'_>, line: &str| {
        writeln!(s, "{line}").map_err(CliError::Stdout)
    };
    p(&mut stdout, heading)?;
    if let Some(t) = summary.first_us.and_then(rfc3339) {
        p(
            &mut stdout,
            &format!("first packet at {t}; times below are relative to it"),
        )?;
    }
    p(
        &mut stdout,
        &output::flow_table(&flows, start, apps).to_string(),
    )?;
    if left_out > 0 {
        p(
            &mut stdout,
            &format!("… and {left_out} smaller flows (use --logs or --json for all)"),
        )?;
    }
    let alerts = &outputs.detect.alerts;
    if alerts.is_empty() {
        p(&mut stdout, "alerts: none")?;
    } else {
        p(
            &mut stdout,
            &format!(
                "alerts: {} (every signal and provenance in alerts.log with --logs)",
                alerts.len()
            ),
        )?;
        p(&mut stdout, &output::alert_table(alerts, start).to_string())?;
    }
    for line in output::summary_lines(&summary) {
        p(&mut stdout, &line)?;
    }
    if let Some(path) = &out.intel {
        p(
            &mut stdout,
            &format!(
                "intel ({}): {} flows and {} DNS transactions matched a blocklist (see \"intel\" in conn.log and dns.log)",
                path.display(),
                outputs.intel_flows,
                outputs.intel_dns
            ),
        )?;
    }
    if let Some(dir) = &out.logs {
        p(&mut stdout, &format!("logs written to {}", dir.display()))?;
    }
    if let (Some(path), Some(st)) = (&out.db, stored) {
        p(
            &mut stdout,
            &format!(
                "database {}: {} records committed, {} dropped (queue full), {} write errors",
                path.display(),
                st.committed_rows,
                st.dropped_full + st.dropped_error + st.dropped_closed,
                st.write_errors
            ),
        )?;
        if let Some(r) = ring {
            p(
                &mut stdout,
                &format!(
                    "packet ring: {} packets kept, {} saved with alerts, {} evicted before any alert wanted them, {} shed by the store",
                    r.pushed, r.taken, r.evicted_untaken, st.packets_shed
                ),
            )?;
        }
    }
    Ok(())
}

/// `export --format pcap`: one alert's saved packets or every alert's.
fn export_pcap(
    db: &std::path::Path,
    alert: Option<u64>,
    all_alerts: bool,
    output: Option<&std::path::Path>,
) -> Result<(), CliError> {
    use nightjar_store::export::PcapSelection;
    let selection = match (alert, all_alerts) {
        (Some(id), _) => PcapSelection::Alert(id),
        (None, true) => PcapSelection::AllAlerts,
        (None, false) => return Err(CliError::PcapNeedsAlert),
    };
    let Some(path) = output else {
        return Err(CliError::PcapNeedsOutput);
    };
    let file = std::fs::File::create(path).map_err(CliError::io(path))?;
    let mut w = std::io::BufWriter::new(file);
    let n = store_cmd::export_pcap(db, selection, &mut w)?;
    w.flush().map_err(CliError::io(path))?;
    eprintln!(
        "nightjar: wrote {} packets of {} flows ({} alerts) to {}",
        n.packets,
        n.flows,
        n.alerts,
        path.display()
    );
    Ok(())
}

fn rfc3339(us: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Replay {
            file,
            out,
            no_progress,
        } => {
            let apps = AppNames::new();
            let heading = format!("Flows in {}", file.display());
            let config = out.engine_config();
            run_with_outputs(&out, &apps, &[], &heading, |sink| {
                replay_file(&file, config, sink, !no_progress, |_, _| {})
            })
        }
        Command::Demo {
            mut out,
            seed,
            pcap,
            report,
        } => {
            let (scenario, apps) = demo::scenario(seed);
            if let Some(path) = &pcap {
                demo::write_pcap(&scenario, path)?;
            }
            let heading = format!(
                "Nightjar demo: a generated phone session ({} apps, {} packets, seed {seed})",
                scenario.apps.len(),
                scenario.packets.len()
            );
            let config = out.engine_config();
            let inventory = demo::inventory(&scenario);
            // A report needs a database: without --db, a scratch one removed afterwards.
            let scratch = match (&report, &out.db) {
                (Some(_), None) => {
                    let p = std::env::temp_dir()
                        .join(format!("nightjar-demo-{}.db", std::process::id()));
                    out.db = Some(p.clone());
                    Some(p)
                }
                _ => None,
            };
            let ran = run_with_outputs(&out, &apps, &inventory, &heading, |sink| {
                demo::run(&scenario, config, sink)
            });
            let written = match (&report, &out.db, &ran) {
                (Some(file), Some(db), Ok(())) => {
                    let options = nightjar_report::ReportOptions {
                        title: Some(format!("Nightjar demo report (seed {seed})")),
                        ..Default::default()
                    };
                    report_cmd::write(db, &options, file).map(|n| Some((file, n)))
                }
                _ => Ok(None),
            };
            if let Some(db) = scratch {
                for ext in ["", "-wal", "-shm"] {
                    let mut p = db.clone().into_os_string();
                    p.push(ext);
                    let _ = std::fs::remove_file(p);
                }
            }
            ran?;
            if let Some((file, n)) = written? {
                println!("report written to {} ({n} bytes)", file.display());
            }
            Ok(())
        }
        Command::Report {
            db,
            output,
            since,
            until,
            app,
        } => {
            let options = nightjar_report::ReportOptions {
                since_us: since.as_deref().map(parse_time).transpose()?,
                until_us: until.as_deref().map(parse_time).transpose()?,
                app,
                ..Default::default()
            };
            let n = report_cmd::write(&db, &options, &output)?;
            eprintln!(
                "nightjar: report written to {} ({n} bytes)",
                output.display()
            );
            Ok(())
        }
        Command::Query { what, filters } => {
            let what = match what {
                QueryWhat::Flows => store_cmd::Listing::Flows,
                QueryWhat::Dns => store_cmd::Listing::Dns,
                QueryWhat::Alerts => store_cmd::Listing::Alerts,
                QueryWhat::TopApps => store_cmd::Listing::TopApps,
                QueryWhat::TopDomains => store_cmd::Listing::TopDomains,
                QueryWhat::Summary => store_cmd::Listing::Summary,
            };
            let mut stdout = std::io::stdout().lock();
            store_cmd::query(&filters.db, what, &filters.filters()?, &mut stdout)
        }
        Command::Export {
            format,
            alert,
            all_alerts,
            log,
            output,
            filters,
        } => {
            let format = match format {
                ExportFormat::Zeek => store_cmd::Format::Zeek,
                ExportFormat::Ocsf => store_cmd::Format::Ocsf,
                ExportFormat::Csv => store_cmd::Format::Csv,
                ExportFormat::Pcap => {
                    return export_pcap(&filters.db, alert, all_alerts, output.as_deref());
                }
            };
            let data = match log {
                ExportLog::Conn => store_cmd::Dataset::Conn,
                ExportLog::Dns => store_cmd::Dataset::Dns,
                ExportLog::Ssl => store_cmd::Dataset::Ssl,
                ExportLog::Quic => store_cmd::Dataset::Quic,
                ExportLog::Http => store_cmd::Dataset::Http,
                ExportLog::Alerts => store_cmd::Dataset::Alerts,
            };
            let f = filters.filters()?;
            let n = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path).map_err(CliError::io(path))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n = store_cmd::export(&filters.db, format, data, &f, &mut w)?;
                    w.flush().map_err(CliError::io(path))?;
                    n
                }
                None => {
                    store_cmd::export(&filters.db, format, data, &f, &mut std::io::stdout().lock())?
                }
            };
            eprintln!("nightjar: exported {n} records");
            Ok(())
        }
        Command::Eval { command, fixtures } => {
            let text = match command {
                Some(EvalCommand::Dga {
                    positives,
                    benign,
                    model: _,
                    leave_family_out: Some(dir),
                }) => eval_cmd::dga_leave_family_out(&dir, &positives, &benign)?,
                Some(EvalCommand::Dga {
                    positives,
                    benign,
                    model,
                    leave_family_out: None,
                }) => eval_cmd::dga_with_model(&positives, &benign, model.as_deref())?,
                Some(EvalCommand::DgaInfection {
                    apps,
                    benign_days,
                    seed,
                    model,
                }) => eval_cmd::dga_infection(model.as_deref(), apps, benign_days, seed)?,
                Some(EvalCommand::Beacon { seed }) => eval_cmd::beacon(seed),
                None => {
                    let dir = fixtures
                        .or_else(|| std::env::var_os("NIGHTJAR_FIXTURES").map(PathBuf::from))
                        .unwrap_or_else(|| PathBuf::from("../shared/fixtures"));
                    format!("{}\n{}", eval_cmd::dga_fixtures(&dir)?, eval_cmd::beacon(2))
                }
            };
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{text}").map_err(CliError::Stdout)
        }
        Command::Memory {
            scenario,
            index,
            scratch,
        } => {
            let mut stdout = std::io::stdout().lock();
            match scenario {
                Some(name) => {
                    let scratch = scratch.unwrap_or_else(std::env::temp_dir);
                    let f = memory_cmd::run_scenario(&name, index.as_deref(), &scratch)?;
                    serde_json::to_writer(&mut stdout, &f).map_err(|e| CliError::Stdout(e.into()))
                }
                None => {
                    if memory_cmd::run_all(&mut stdout)? {
                        Ok(())
                    } else {
                        Err(CliError::OverBudget)
                    }
                }
            }
        }
        Command::Coverage { filters, json } => {
            let mut stdout = std::io::stdout().lock();
            store_cmd::coverage(&filters.db, &filters.filters()?, json, &mut stdout)
        }
        Command::Intel { command } => {
            let text = match command {
                IntelCommand::Compile {
                    feeds,
                    output,
                    allow,
                    db,
                } => match db {
                    None => intel_cmd::compile(&feeds, &allow, &output)?,
                    Some(db) => {
                        let (text, summary) =
                            intel_cmd::compile_with_summary(&feeds, &allow, &output)?;
                        let now = intel_cmd::now_us();
                        let rows = store_cmd::feed_rows(&summary, now);
                        let all = nightjar_store::TimeWindow::all();
                        let re = store_cmd::recheck(&db, &output, all, now, true, &rows)?;
                        format!("{text}{re}")
                    }
                },
                IntelCommand::Recheck {
                    index,
                    db,
                    since,
                    until,
                    no_progress,
                } => {
                    let window = nightjar_store::TimeWindow::new(
                        since.as_deref().map(parse_time).transpose()?.unwrap_or(0),
                        until
                            .as_deref()
                            .map(parse_time)
                            .transpose()?
                            .unwrap_or(u64::MAX),
                    );
                    let now = intel_cmd::now_us();
                    store_cmd::recheck(&db, &index, window, now, !no_progress, &[])?
                }
                IntelCommand::Lookup { index, query } => intel_cmd::lookup(&index, &query)?,
            };
            let mut stdout = std::io::stdout().lock();
            write!(stdout, "{text}").map_err(CliError::Stdout)?;
            writeln!(stdout).map_err(CliError::Stdout)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nightjar: {e}");
            ExitCode::FAILURE
        }
    }
}

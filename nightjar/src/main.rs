//! `nightjar`: replay captures through the engine, or run the built-in demo.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use nightjar::output::{self, JsonSink, LogSink, TopFlows};
use nightjar::replay::{AppNames, RecordSink, ReplaySummary, Sinks, replay_file};
use nightjar::zeek_log::{IntelMarks, LogDir};
use nightjar::{CliError, demo, intel_cmd};
use nightjar_engine::{DnsTransaction, EngineConfig, FlowRecord, HelloRecord, HttpRecord};

/// Per-app network telemetry from raw IP packets.
#[derive(Debug, Parser)]
#[command(name = "nightjar", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a pcap or pcapng capture (gzip too) and print its flows.
    Replay {
        /// The capture file.
        file: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
        /// Hide the progress bar.
        #[arg(long)]
        no_progress: bool,
    },
    /// Replay the built-in phone session (generated, no download needed).
    Demo {
        #[command(flatten)]
        out: OutputArgs,
        /// Seed of the generated session.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Also save the generated packets as a raw-IP pcap.
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
    },
    /// Threat-intelligence feeds: compile them into an index, look names up.
    Intel {
        #[command(subcommand)]
        command: IntelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum IntelCommand {
    /// Compile feeds (STIX 2.1, hosts, AdGuard, dnsmasq, maltrail, IP/CIDR lists) into one index.
    Compile {
        /// Feed files; `NAME=PATH` names a feed (default: the file stem).
        #[arg(required = true)]
        feeds: Vec<PathBuf>,
        /// The index to write (replaced atomically; a failed build keeps the old one).
        #[arg(short, long, value_name = "INDEX")]
        output: PathBuf,
        /// Allowlists: their entries win over every blocklist.
        #[arg(long, value_name = "FILE")]
        allow: Vec<PathBuf>,
    },
    /// Look a domain name or IP address up, with the provenance of any match.
    Lookup {
        /// The index.
        index: PathBuf,
        /// A domain name or an IP address.
        query: String,
    },
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Write Zeek-style JSON logs (conn.log, …) into this directory.
    #[arg(long, value_name = "DIR")]
    logs: Option<PathBuf>,
    /// Print JSON lines (one per flow, then a stats line) instead of a table.
    #[arg(long)]
    json: bool,
    /// Flow table cap.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    max_flows: usize,
    /// Rows in the printed table (flows with the most bytes).
    #[arg(long, default_value_t = 40, value_name = "N")]
    rows: usize,
    /// Mark flows and DNS transactions that match this intel index in the logs.
    #[arg(long, value_name = "INDEX")]
    intel: Option<PathBuf>,
}

impl OutputArgs {
    fn engine_config(&self) -> EngineConfig {
        let mut c = EngineConfig::default();
        c.flows.max_flows = self.max_flows;
        c
    }
}

/// A sink that feeds the table, the logs and the JSON output at once.
struct Outputs<'a> {
    top: TopFlows,
    marks: IntelMarks<'a>,
    intel_flows: u64,
    intel_dns: u64,
    logs: Option<LogSink<'a>>,
    json: Option<JsonSink<'a, std::io::StdoutLock<'static>>>,
}

impl Outputs<'_> {
    fn all(&mut self) -> Sinks<'_> {
        let mut s = Sinks::default();
        s.push(&mut self.top);
        if let Some(l) = &mut self.logs {
            s.push(l);
        }
        if let Some(j) = &mut self.json {
            s.push(j);
        }
        s
    }
}

impl RecordSink for Outputs<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        self.intel_flows += u64::from(self.marks.flow(r).is_some_and(|m| m.verdict == "blocked"));
        self.all().flow(r)
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.intel_dns += u64::from(self.marks.dns(tx).is_some_and(|m| m.verdict == "blocked"));
        self.all().dns(tx)
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        self.all().hello(h)
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.all().http(r)
    }
}

fn run_with_outputs(
    out: &OutputArgs,
    apps: &AppNames,
    heading: &str,
    drive: impl FnOnce(&mut dyn RecordSink) -> Result<ReplaySummary, CliError>,
) -> Result<(), CliError> {
    let salt = 0;
    let index = match &out.intel {
        Some(path) => Some(nightjar_intel::Index::open(path)?),
        None => None,
    };
    let intel = IntelMarks {
        index: index.as_ref(),
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
    let mut outputs = Outputs {
        top: TopFlows::new(out.rows),
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
            run_with_outputs(&out, &apps, &heading, |sink| {
                replay_file(&file, config, sink, !no_progress, |_, _| {})
            })
        }
        Command::Demo { out, seed, pcap } => {
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
            run_with_outputs(&out, &apps, &heading, |sink| {
                demo::run(&scenario, config, sink)
            })
        }
        Command::Intel { command } => {
            let text = match command {
                IntelCommand::Compile {
                    feeds,
                    output,
                    allow,
                } => intel_cmd::compile(&feeds, &allow, &output)?,
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

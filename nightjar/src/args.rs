//! The command line: every subcommand, its arguments and their help text (clap derive), and
//! the small conversions from arguments to the library's types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use nightjar::{CliError, store_cmd};
use nightjar_engine::EngineConfig;

/// Per-app network telemetry from raw IP packets.
#[derive(Debug, Parser)]
#[command(name = "nightjar", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Then write the analyst's HTML report of the session here (with --db, of that database).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Threat-intelligence feeds: compile them into an index, look names up.
    Intel {
        #[command(subcommand)]
        command: IntelCommand,
    },
    /// Page through a database written with --db: prints JSON lines, then {"next": CURSOR}.
    Query {
        /// flows, dns, alerts, top-apps, top-domains or summary.
        #[arg(value_enum)]
        what: QueryWhat,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Export a database as Zeek JSON logs, OCSF events or CSV, or the saved packets of alerted flows as pcap.
    Export {
        /// zeek, ocsf, csv or pcap.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// pcap: the alert whose flows' saved packets to write.
        #[arg(long, value_name = "ID", conflicts_with = "all_alerts")]
        alert: Option<u64>,
        /// pcap: the saved packets of every alert's flows.
        #[arg(long)]
        all_alerts: bool,
        /// conn, dns, ssl, quic, http or alerts (OCSF and CSV: conn, dns or alerts).
        #[arg(long, value_enum, default_value = "conn")]
        log: ExportLog,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Precision, recall and false-positive rates of the detectors on labelled data.
    ///
    /// With no subcommand: the DGA detector on the fixtures' families (held out of
    /// training) against their benign lists, and beaconing on generated traffic.
    Eval {
        #[command(subcommand)]
        command: Option<EvalCommand>,
        /// Fixtures directory (default: $NIGHTJAR_FIXTURES, else ../shared/fixtures).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Peak memory of the engine under floods and with a 1M-domain index, against the caps.
    Memory {
        /// Run one scenario in this process and print its figures as JSON (used by the table run).
        #[arg(long, hide = true)]
        scenario: Option<String>,
        #[arg(long, hide = true)]
        index: Option<PathBuf>,
        #[arg(long, hide = true)]
        scratch: Option<PathBuf>,
    },
    /// The analyst's report: one self-contained HTML page (summary, alerts with their
    /// reasons, per-app timeline and domains, the most relevant flows).
    Report {
        /// The database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// The HTML file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// From this time: RFC 3339 (2026-11-01T09:00:00Z) or seconds since the epoch.
        #[arg(long)]
        since: Option<String>,
        /// Until this time (exclusive).
        #[arg(long)]
        until: Option<String>,
        /// Only this app (uid).
        #[arg(long)]
        app: Option<u32>,
    },
    /// The DC0113 coverage report: attribution, naming, DNS visibility, blind spots.
    Coverage {
        #[command(flatten)]
        filters: FilterArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EvalCommand {
    /// The DGA detector on any labelled lists: recall at 1%, 0.1%, 0.01% FPR and AUC.
    Dga {
        /// DGA domain lists (one per line, `rank,domain` CSV or maltrail trails).
        #[arg(long, required = true, num_args = 1..)]
        positives: Vec<PathBuf>,
        /// Benign domain lists, same formats.
        #[arg(long, required = true, num_args = 1..)]
        benign: Vec<PathBuf>,
        /// A model file written by the trainer instead of the shipped one.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// Leave-family-out: score each list with DIR/<family>/dga.bin, a model
        /// trained without that family (core/detect/tools/leave_family_out.sh),
        /// and pool random-character, pronounceable and wordlist rows.
        #[arg(long, value_name = "DIR", conflicts_with = "model")]
        leave_family_out: Option<PathBuf>,
    },
    /// The per-app DGA infection verdict on simulated phones: recall per family
    /// (wordlist ones included) within 20 lookups, and the benign app-day FPR.
    DgaInfection {
        /// Infected apps simulated per family.
        #[arg(long, default_value_t = 200)]
        apps: usize,
        /// Benign app-days simulated.
        #[arg(long, default_value_t = 10_000)]
        benign_days: usize,
        /// PRNG seed (default: the fixed one the documented figures use).
        #[arg(long)]
        seed: Option<u64>,
        /// A model file written by the trainer instead of the shipped one.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
    },
    /// The beaconing detector on generated traffic: TPR per beacon family (jitter, skipped
    /// beats, Doze, 10 s–24 h) and FPR per irregular family, for each periodicity gate.
    Beacon {
        /// PRNG seed (default 2: the one the documented figures use; state a second one to
        /// show they are not fitted to it).
        #[arg(long, default_value_t = 2)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum QueryWhat {
    Flows,
    Dns,
    Alerts,
    TopApps,
    TopDomains,
    Summary,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    Zeek,
    Ocsf,
    Csv,
    Pcap,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportLog {
    Conn,
    Dns,
    Ssl,
    Quic,
    Http,
    Alerts,
}

#[derive(Debug, Args)]
pub(crate) struct FilterArgs {
    /// The database.
    #[arg(long, value_name = "PATH")]
    pub(crate) db: PathBuf,
    /// A domain; its subdomains are included.
    #[arg(long)]
    pub(crate) domain: Option<String>,
    /// An app uid.
    #[arg(long)]
    pub(crate) app: Option<u32>,
    /// An address, either side of the flow.
    #[arg(long)]
    pub(crate) ip: Option<std::net::IpAddr>,
    /// tcp, udp, icmp, or a protocol number.
    #[arg(long)]
    pub(crate) proto: Option<String>,
    /// From this time: RFC 3339 (2026-11-01T09:00:00Z) or seconds since the epoch.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Until this time (exclusive).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Rows per page.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: usize,
    /// Continue from the cursor the previous page printed.
    #[arg(long)]
    pub(crate) cursor: Option<String>,
}

pub(crate) fn parse_time(s: &str) -> Result<u64, CliError> {
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1e6) as u64);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| CliError::BadTime(s.to_string()))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000).map_err(|_| CliError::BadTime(s.to_string()))
}

impl FilterArgs {
    pub(crate) fn filters(&self) -> Result<store_cmd::Filters, CliError> {
        let proto = match self.proto.as_deref() {
            None => None,
            Some("tcp") => Some(6),
            Some("udp") => Some(17),
            Some("icmp") => Some(1),
            Some("icmp6") => Some(58),
            Some(n) => Some(n.parse().map_err(|_| CliError::BadProto(n.to_string()))?),
        };
        Ok(store_cmd::Filters {
            domain: self.domain.clone(),
            app: self.app,
            ip: self.ip,
            proto,
            since_us: self.since.as_deref().map(parse_time).transpose()?,
            until_us: self.until.as_deref().map(parse_time).transpose()?,
            limit: self.limit,
            cursor: self.cursor.clone(),
        })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum IntelCommand {
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
        /// Then re-check this database's flows and DNS against the new index (retroactive alerts).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
    },
    /// Re-check the flows and DNS stored in a database against an index: raises retroactive alerts.
    Recheck {
        /// The index.
        index: PathBuf,
        /// The database.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// From this time: RFC 3339 or seconds since the epoch (default: everything retained).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (exclusive).
        #[arg(long)]
        until: Option<String>,
        /// Hide the progress bar.
        #[arg(long)]
        no_progress: bool,
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
pub(crate) struct OutputArgs {
    /// Write Zeek-style JSON logs (conn.log, …) into this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: Option<PathBuf>,
    /// Print JSON lines (one per flow, then a stats line) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Flow table cap.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub(crate) max_flows: usize,
    /// Rows in the printed table (flows with the most bytes).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub(crate) rows: usize,
    /// Mark flows and DNS transactions that match this intel index in the logs.
    #[arg(long, value_name = "INDEX")]
    pub(crate) intel: Option<PathBuf>,
    /// Also record flows, DNS and alerts in this SQLite database (created if missing).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// Keep the most recent BYTES of packets (needs --db) so each alert saves the
    /// packets of its flows; `nightjar export --format pcap` writes them. Off by default.
    #[arg(long, value_name = "BYTES", requires = "db")]
    pub(crate) packet_ring: Option<usize>,
}

impl OutputArgs {
    pub(crate) fn engine_config(&self) -> EngineConfig {
        let mut c = EngineConfig::default();
        c.flows.max_flows = self.max_flows;
        c
    }
}

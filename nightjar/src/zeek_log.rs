//! Zeek-style JSON logs: one object per line with Zeek's field names, plus
//! Nightjar's own fields (`app_*`, `name_source`, `ja4`, …): conn.log, dns.log,
//! ssl.log, quic.log and http.log. Later layers add alerts.log.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use nightjar_engine::{
    AppId, DnsTransaction, EndReason, FlowId, FlowRecord, HelloRecord, HttpRecord, uid_for,
};
use serde::Serialize;

use crate::error::CliError;
use crate::intel_cmd::{IntelMark, check};

/// Marks records that match a threat-intel index (`--intel`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IntelMarks<'a> {
    /// The index, when one was given.
    pub index: Option<&'a nightjar_intel::Index>,
}

impl IntelMarks<'_> {
    /// A match for a flow: its name, else its responder address.
    pub fn flow(&self, r: &FlowRecord) -> Option<IntelMark> {
        let index = self.index?;
        let names: Vec<&str> = r.name.as_deref().into_iter().collect();
        check(index, r.first_us, &names, &[r.resp.ip()])
    }

    /// A match for a DNS transaction: its query, else an address answer.
    pub fn dns(&self, tx: &DnsTransaction) -> Option<IntelMark> {
        let index = self.index?;
        let names: Vec<&str> = tx.query.as_deref().into_iter().collect();
        let ips: Vec<std::net::IpAddr> = tx.answers.iter().filter_map(|a| a.parse().ok()).collect();
        check(index, tx.ts_us, &names, &ips)
    }
}

/// App names by id.
pub type AppNames = HashMap<u32, String>;

/// Seconds as Zeek prints them (microsecond precision).
pub fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The connection 4-tuple with Zeek's dotted names.
#[derive(Debug, Serialize)]
pub struct ConnId {
    /// Originator address.
    #[serde(rename = "id.orig_h")]
    pub orig_h: String,
    /// Originator port (ICMP: type).
    #[serde(rename = "id.orig_p")]
    pub orig_p: u16,
    /// Responder address.
    #[serde(rename = "id.resp_h")]
    pub resp_h: String,
    /// Responder port (ICMP: counterpart type or code).
    #[serde(rename = "id.resp_p")]
    pub resp_p: u16,
}

impl ConnId {
    fn new(orig: std::net::SocketAddr, resp: std::net::SocketAddr) -> Self {
        ConnId {
            orig_h: orig.ip().to_string(),
            orig_p: orig.port(),
            resp_h: resp.ip().to_string(),
            resp_p: resp.port(),
        }
    }
}

/// The app fields every Nightjar log line carries.
#[derive(Debug, Serialize)]
pub struct AppFields<'a> {
    /// The app's platform id (Android UID), when attributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<u32>,
    /// The app's package or bundle name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<&'a str>,
}

impl<'a> AppFields<'a> {
    fn new(app: Option<AppId>, apps: &'a AppNames) -> Self {
        let app_uid = app.map(|a| a.0);
        AppFields {
            app_uid,
            app_name: app_uid.and_then(|u| apps.get(&u)).map(String::as_str),
        }
    }
}

/// One conn.log line.
#[derive(Debug, Serialize)]
pub struct ConnLine<'a> {
    /// Start, seconds since the epoch.
    pub ts: f64,
    /// Connection uid.
    pub uid: String,
    /// The 4-tuple.
    #[serde(flatten)]
    pub id: ConnId,
    /// `tcp`, `udp`, `icmp`, …
    pub proto: &'static str,
    /// Seconds from first to last packet.
    pub duration: f64,
    /// Zeek connection state.
    pub conn_state: &'static str,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// IP bytes from the originator.
    pub orig_ip_bytes: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// Community ID v1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    /// The best name the device revealed for the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Where the name came from: `sni`, `quic_sni`, `http_host` or `dns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_source: Option<&'static str>,
    /// The ClientHello offered ECH (the name is the outer SNI).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ech: bool,
    /// App.
    #[serde(flatten)]
    pub app: AppFields<'a>,
    /// Why the record was written.
    pub end_reason: EndReason,
    /// Zeek's `tunnel_parents`: the uid of the outer flow that carried this one,
    /// when the tunnel packet is a flow itself (GTP-U's UDP datagrams).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tunnel_parents: Vec<String>,
    /// The tunnel the flow arrived in: its type, outer protocol and endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelField>,
    /// The threat-intel indicator the flow's name or responder matched (`--intel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intel: Option<IntelMark>,
}

/// conn.log's `tunnel` object.
#[derive(Debug, Serialize)]
pub struct TunnelField {
    /// `ip` (IPv4 inside), `ip6` (IPv6 inside), `gre` or `gtpv1`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The outer packet's IP protocol.
    pub proto: u8,
    /// The outer packet's source address (of the flow's first tunnelled packet).
    pub src_h: String,
    /// The outer packet's destination address.
    pub dst_h: String,
}

impl<'a> ConnLine<'a> {
    /// The line for `r`; `salt` keys the uid, `apps` names app ids.
    pub fn new(r: &'a FlowRecord, salt: u64, apps: &'a AppNames) -> Self {
        ConnLine {
            ts: secs(r.first_us),
            uid: r.uid(salt),
            id: ConnId::new(r.orig, r.resp),
            proto: r.proto_name(),
            duration: secs(r.duration_us()),
            conn_state: r.conn_state().as_str(),
            orig_pkts: r.orig_pkts,
            orig_ip_bytes: r.orig_ip_bytes,
            resp_pkts: r.resp_pkts,
            resp_ip_bytes: r.resp_ip_bytes,
            community_id: r.community_id(0),
            name: r.name.as_deref(),
            name_source: r.name_source.map(|s| s.as_str()),
            ech: r.ech,
            app: AppFields::new(r.app, apps),
            end_reason: r.end,
            tunnel_parents: r
                .tunnel
                .and_then(|t| t.outer_flow)
                .map(|f| uid_for(f, salt))
                .into_iter()
                .collect(),
            tunnel: r.tunnel.map(|t| TunnelField {
                kind: t.kind.name(),
                proto: t.outer_protocol,
                src_h: t.outer_src.to_string(),
                dst_h: t.outer_dst.to_string(),
            }),
            intel: None,
        }
    }
}

fn qtype_name(t: u16) -> String {
    hickory_proto::rr::RecordType::from(t).to_string()
}

/// One dns.log line.
#[derive(Debug, Serialize)]
pub struct DnsLine<'a> {
    /// Query time.
    pub ts: f64,
    /// uid of the flow that carried it.
    pub uid: String,
    /// The 4-tuple (client first).
    #[serde(flatten)]
    pub id: ConnId,
    /// `udp` or `tcp`.
    pub proto: &'static str,
    /// DNS transaction id.
    pub trans_id: u16,
    /// Seconds from query to response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<f64>,
    /// Query name, lowercased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<&'a str>,
    /// Query class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qclass: Option<u16>,
    /// `C_INTERNET`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qclass_name: Option<&'static str>,
    /// Query type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qtype: Option<u16>,
    /// `A`, `AAAA`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qtype_name: Option<String>,
    /// Response code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<u16>,
    /// `NOERROR`, `NXDOMAIN`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode_name: Option<&'static str>,
    /// Authoritative answer.
    #[serde(rename = "AA")]
    pub aa: bool,
    /// Truncated.
    #[serde(rename = "TC")]
    pub tc: bool,
    /// Recursion desired.
    #[serde(rename = "RD")]
    pub rd: bool,
    /// Recursion available.
    #[serde(rename = "RA")]
    pub ra: bool,
    /// Answers as text.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub answers: &'a [String],
    /// TTLs of the answers, seconds.
    #[serde(rename = "TTLs", skip_serializing_if = "<[u32]>::is_empty")]
    pub ttls: &'a [u32],
    /// Zeek's `rejected`.
    pub rejected: bool,
    /// The query name as the client cased it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_query: Option<&'a str>,
    /// The query name is longer than DNS allows (255 bytes); written only when set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub query_too_long: bool,
    /// The threat-intel indicator the query or an answer matched (`--intel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intel: Option<IntelMark>,
}

impl<'a> DnsLine<'a> {
    /// The line for `tx`.
    pub fn new(tx: &'a DnsTransaction, salt: u64) -> Self {
        DnsLine {
            ts: secs(tx.ts_us),
            uid: uid_for(FlowId(tx.flow_ref), salt),
            id: ConnId::new(tx.client, tx.server),
            proto: match tx.transport {
                nightjar_engine::DnsTransport::Tcp => "tcp",
                _ => "udp",
            },
            trans_id: tx.id,
            rtt: tx.rtt_us.map(secs),
            query: tx.query.as_deref(),
            qclass: tx.qclass,
            qclass_name: tx
                .qclass
                .map(|c| if c == 1 { "C_INTERNET" } else { "other" }),
            qtype: tx.qtype,
            qtype_name: tx.qtype.map(qtype_name),
            rcode: tx.rcode,
            rcode_name: tx.rcode_name(),
            aa: tx.flags.aa,
            tc: tx.flags.tc,
            rd: tx.flags.rd,
            ra: tx.flags.ra,
            answers: &tx.answers,
            ttls: &tx.ttls,
            rejected: tx.rejected,
            original_query: tx.original_query.as_deref(),
            query_too_long: tx.query_too_long,
            intel: None,
        }
    }
}

/// One ssl.log line (TLS over TCP) or quic.log line (QUIC).
#[derive(Debug, Serialize)]
pub struct HelloLine<'a> {
    /// When the hello was seen.
    pub ts: f64,
    /// Flow uid.
    pub uid: String,
    /// The 4-tuple.
    #[serde(flatten)]
    pub id: ConnId,
    /// TLS: highest version offered (`TLSv13`); QUIC: `1`, `quicv2`.
    pub version: String,
    /// SNI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<&'a str>,
    /// First ALPN protocol offered (Zeek's quic.log `client_protocol`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_protocol: Option<&'a str>,
    /// Every ALPN protocol offered.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub alpn: &'a [String],
    /// JA4 fingerprint.
    pub ja4: &'a str,
    /// ECH offered (the SNI is the outer one).
    pub ech: bool,
    /// App.
    #[serde(flatten)]
    pub app: AppFields<'a>,
}

impl<'a> HelloLine<'a> {
    /// The line for `h`.
    pub fn new(h: &'a HelloRecord, salt: u64, apps: &'a AppNames) -> Self {
        let version = match h.quic_version {
            None => h.version_name().to_owned(),
            Some(1) => "1".to_owned(),
            Some(0x6b33_43cf) => "quicv2".to_owned(),
            Some(v) => format!("unknown-{v:x}"),
        };
        HelloLine {
            ts: secs(h.ts_us),
            uid: uid_for(h.flow, salt),
            id: ConnId::new(h.orig, h.resp),
            version,
            server_name: h.server_name.as_deref(),
            client_protocol: h.alpn.first().map(String::as_str),
            alpn: &h.alpn,
            ja4: &h.ja4,
            ech: h.ech,
            app: AppFields::new(h.app, apps),
        }
    }
}

/// One http.log line.
#[derive(Debug, Serialize)]
pub struct HttpLine<'a> {
    /// When the request head was complete.
    pub ts: f64,
    /// Flow uid.
    pub uid: String,
    /// The 4-tuple.
    #[serde(flatten)]
    pub id: ConnId,
    /// Method.
    pub method: &'a str,
    /// Host, port stripped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<&'a str>,
    /// The port that came with the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// Request target.
    pub uri: &'a str,
    /// HTTP version.
    pub version: &'static str,
    /// User-Agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    /// App.
    #[serde(flatten)]
    pub app: AppFields<'a>,
}

impl<'a> HttpLine<'a> {
    /// The line for `r`.
    pub fn new(r: &'a HttpRecord, salt: u64, apps: &'a AppNames) -> Self {
        HttpLine {
            ts: secs(r.ts_us),
            uid: uid_for(r.flow, salt),
            id: ConnId::new(r.orig, r.resp),
            method: &r.method,
            host: r.host.as_deref(),
            host_port: r.host_port,
            uri: &r.uri,
            version: r.version,
            user_agent: r.user_agent.as_deref(),
            app: AppFields::new(r.app, apps),
        }
    }
}

/// The logs Nightjar writes into a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// conn.log
    Conn,
    /// dns.log
    Dns,
    /// ssl.log
    Ssl,
    /// quic.log
    Quic,
    /// http.log
    Http,
    /// alerts.log (Nightjar's own: one line per detection)
    Alerts,
}

impl Log {
    const ALL: [Log; 6] = [
        Log::Conn,
        Log::Dns,
        Log::Ssl,
        Log::Quic,
        Log::Http,
        Log::Alerts,
    ];

    /// Zeek's `_path`.
    pub fn path(self) -> &'static str {
        match self {
            Log::Conn => "conn",
            Log::Dns => "dns",
            Log::Ssl => "ssl",
            Log::Quic => "quic",
            Log::Http => "http",
            Log::Alerts => "alerts",
        }
    }
}

/// One signal of an alert line.
#[derive(Debug, Serialize)]
pub struct SignalLine<'a> {
    /// Machine name.
    pub name: &'a str,
    /// Measured value.
    pub value: f32,
    /// Contribution to the score.
    pub weight: f32,
    /// What it means.
    pub detail: &'a str,
}

/// One alerts.log line: an explained detection, Zeek-style field names where Zeek has them
/// (notice.log's `ts`, `uid`s of the flows, `note`), Nightjar's own for the rest.
#[derive(Debug, Serialize)]
pub struct AlertLine<'a> {
    /// When it was raised, seconds since the epoch.
    pub ts: f64,
    /// The pipeline's alert id.
    pub id: u64,
    /// Detector (`ioc`, `dga`, `beacon`, `first_seen`, `post_install`, …).
    pub note: &'static str,
    /// `info`, `low`, `medium`, `high`.
    pub severity: &'static str,
    /// In `[0, 1]`.
    pub score: f32,
    /// What the policy decided (`record`, `alert`, `block`).
    pub action: &'static str,
    /// App (bundle id / package), if attributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'a str>,
    /// Domain concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<&'a str>,
    /// Addresses concerned.
    pub ips: Vec<String>,
    /// conn.log `uid`s of the flows concerned.
    pub uids: Vec<String>,
    /// ATT&CK ids.
    pub attack: Vec<&'static str>,
    /// Every contributing signal.
    pub signals: Vec<SignalLine<'a>>,
    /// Feed provenance for intel hits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}

impl<'a> AlertLine<'a> {
    /// The line for `a`, flow uids salted like conn.log's.
    pub fn new(a: &'a nightjar_detect::Alert, salt: u64) -> Self {
        AlertLine {
            ts: secs(a.ts_us),
            id: a.id,
            note: a.detector.name(),
            severity: a.severity.name(),
            score: a.score,
            action: a.action.name(),
            app: a.app.as_deref(),
            domain: a.domain.as_deref(),
            ips: a.ips.iter().map(ToString::to_string).collect(),
            uids: a
                .flow_ids
                .iter()
                .map(|f| uid_for(FlowId(*f), salt))
                .collect(),
            attack: a.attack.iter().map(|r| r.id).collect(),
            signals: a
                .signals
                .iter()
                .map(|s| SignalLine {
                    name: s.name,
                    value: s.value,
                    weight: s.weight,
                    detail: &s.detail,
                })
                .collect(),
            provenance: a
                .provenance
                .as_ref()
                .map(nightjar_store::engine_rows::provenance_json),
        }
    }
}

/// The set of logs written to one directory.
#[derive(Debug)]
pub struct LogDir {
    dir: PathBuf,
    files: Vec<BufWriter<File>>,
}

impl LogDir {
    /// Create `dir` if needed and open its logs (truncating old ones).
    pub fn create(dir: &Path) -> Result<Self, CliError> {
        std::fs::create_dir_all(dir).map_err(CliError::io(dir))?;
        let files = Log::ALL
            .iter()
            .map(|l| {
                let path = dir.join(format!("{}.log", l.path()));
                File::create(&path)
                    .map(BufWriter::new)
                    .map_err(CliError::io(&path))
            })
            .collect::<Result<_, _>>()?;
        Ok(LogDir {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Append one line to `log`.
    pub fn write(&mut self, log: Log, line: &impl Serialize) -> Result<(), CliError> {
        let i = Log::ALL.iter().position(|l| *l == log).unwrap_or(0);
        let Some(f) = self.files.get_mut(i) else {
            return Ok(());
        };
        let written = serde_json::to_writer(&mut *f, line)
            .map_err(std::io::Error::from)
            .and_then(|()| f.write_all(b"\n"));
        // The path is built only for an error: this runs once per log line.
        written.map_err(|source| CliError::Io {
            path: self.dir.join(format!("{}.log", log.path())),
            source,
        })
    }

    /// Flush everything to disk.
    pub fn finish(mut self) -> Result<(), CliError> {
        for (f, l) in self.files.iter_mut().zip(Log::ALL) {
            f.flush()
                .map_err(CliError::io(self.dir.join(format!("{}.log", l.path()))))?;
        }
        Ok(())
    }
}

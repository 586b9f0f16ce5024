//! Zeek-style JSON logs: one object per line, Zeek's field names, plus
//! Nightjar's own fields (`app_*`, `end_reason`). Later layers add dns.log,
//! ssl.log, quic.log, http.log and alerts.log beside conn.log.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use nightjar_engine::{EndReason, FlowRecord};
use serde::Serialize;

use crate::error::CliError;

/// One conn.log line. Field names are Zeek's, so Zeek tooling (zq, jq
/// recipes, SIEM parsers) reads it unchanged.
#[derive(Debug, Serialize)]
pub struct ConnLine<'a> {
    /// Start, seconds since the epoch.
    pub ts: f64,
    /// Connection uid.
    pub uid: String,
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
    /// The app's platform id (Android UID), when attributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<u32>,
    /// The app's package or bundle name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<&'a str>,
    /// Why the record was written.
    pub end_reason: EndReason,
}

/// Seconds as Zeek prints them (microsecond precision).
pub fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

impl<'a> ConnLine<'a> {
    /// The line for `r`; `salt` keys the uid, `apps` names app ids.
    pub fn new(r: &FlowRecord, salt: u64, apps: &'a HashMap<u32, String>) -> Self {
        let app_uid = r.app.map(|a| a.0);
        ConnLine {
            ts: secs(r.first_us),
            uid: r.uid(salt),
            orig_h: r.orig.ip().to_string(),
            orig_p: r.orig.port(),
            resp_h: r.resp.ip().to_string(),
            resp_p: r.resp.port(),
            proto: r.proto_name(),
            duration: secs(r.duration_us()),
            conn_state: r.conn_state().as_str(),
            orig_pkts: r.orig_pkts,
            orig_ip_bytes: r.orig_ip_bytes,
            resp_pkts: r.resp_pkts,
            resp_ip_bytes: r.resp_ip_bytes,
            community_id: r.community_id(0),
            app_uid,
            app_name: app_uid.and_then(|u| apps.get(&u)).map(String::as_str),
            end_reason: r.end,
        }
    }
}

/// The set of logs written to one directory.
#[derive(Debug)]
pub struct LogDir {
    dir: PathBuf,
    conn: BufWriter<File>,
}

impl LogDir {
    /// Create `dir` if needed and open its logs (truncating old ones).
    pub fn create(dir: &Path) -> Result<Self, CliError> {
        std::fs::create_dir_all(dir).map_err(CliError::io(dir))?;
        let path = dir.join("conn.log");
        let conn = File::create(&path).map_err(CliError::io(&path))?;
        Ok(LogDir {
            dir: dir.to_path_buf(),
            conn: BufWriter::new(conn),
        })
    }

    /// Append one conn.log line.
    pub fn conn(&mut self, line: &ConnLine<'_>) -> Result<(), CliError> {
        let path = || self.dir.join("conn.log");
        serde_json::to_writer(&mut self.conn, line).map_err(|e| CliError::Io {
            path: path(),
            source: e.into(),
        })?;
        self.conn.write_all(b"\n").map_err(CliError::io(path()))
    }

    /// Flush everything to disk.
    pub fn finish(mut self) -> Result<(), CliError> {
        let path = self.dir.join("conn.log");
        self.conn.flush().map_err(CliError::io(path))
    }
}

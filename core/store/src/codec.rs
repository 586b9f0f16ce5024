//! Row <-> SQL: the insert statements and the column readers.

use std::net::{IpAddr, SocketAddr};

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection, ErrorCode, Row, Statement, params};

use crate::codes::{
    self, CONN_STATES, END_REASONS, FLAG_ECH, FLAG_HOST_IS_NAME, FLAG_SNI_IS_NAME, NAME_SOURCES,
};
use crate::error::{Result, StoreError};
use crate::flow_parts;
use crate::rows::{
    AlertAction, AlertRow, AlertState, AppRow, DnsRow, DomainSeen, FeedRow, FlowPackets, FlowRow,
    PacketRow, Record, Severity, StateBlob,
};
use crate::schema::{blob_to_ip, ip_to_blob, reverse_name};
use crate::tunnel_col;

/// Column list matching [`read_flow`].
pub const FLOW_COLS: &str = "id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p, \
     first_us, dur_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, \
     community_id, name, name_source, sni, alpn, ja4, http_host, flags, end_reason, tunnel";

/// Column list matching [`read_dns`].
pub const DNS_COLS: &str = "seq, ts_us, flow_uid, app_uid, client_h, client_p, server_h, server_p, \
     transport, msg_id, query, qtype, qclass, rcode, rcode_name, answers, ttls, rtt_us, answered, \
     query_too_long";

/// Column list matching [`read_alert`].
pub const ALERT_COLS: &str = "id, ts_us, severity, score, state, app_uid, domain, ips, flow_uids, \
     detector, attack, signals, provenance, retroactive, action, enforcement";

fn bad(column: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        Box::new(StoreError::BadColumn { column }),
    )
}

fn json_col<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
    column: &'static str,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|_| bad(column))
}

/// Inserts one record inside the caller's transaction.
pub fn insert_record(conn: &Connection, rec: &Record) -> Result<()> {
    match rec {
        Record::Flow(f) => insert_flow(conn, f),
        Record::Dns(d) => insert_dns(conn, d),
        Record::Alert(a) => insert_alert(conn, a).map(|_| ()),
        Record::App(a) => insert_app(conn, a),
        Record::Feed(f) => insert_feed(conn, f),
        Record::Domain(d) => upsert_domain(conn, d),
        Record::State(s) => insert_state(conn, s),
        Record::Packets(p) => insert_packets(conn, p).map(|_| ()),
    }
}

/// Appends the packets of one flow. Returns the bytes stored.
pub fn insert_packets(conn: &Connection, p: &FlowPackets) -> Result<u64> {
    let mut st = conn.prepare_cached(
        "INSERT INTO flow_packets (flow_uid, ts_us, orig_len, bytes, data) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut total = 0u64;
    for pkt in &p.packets {
        let len = u64::try_from(pkt.data.len()).unwrap_or(u64::MAX);
        st.execute(params![p.flow_uid, pkt.ts_us, pkt.orig_len, len, pkt.data])?;
        total = total.saturating_add(len);
    }
    Ok(total)
}

/// Deletes the oldest stored packets until at most `max_bytes` remain.
/// Returns the packets deleted.
pub fn trim_packets(conn: &Connection, max_bytes: u64) -> Result<u64> {
    let total: i64 = conn
        .prepare_cached("SELECT coalesce(sum(bytes), 0) FROM flow_packets")?
        .query_row([], |r| r.get(0))?;
    let mut excess = u64::try_from(total).unwrap_or(0).saturating_sub(max_bytes);
    if excess == 0 {
        return Ok(0);
    }
    // The newest packet to delete: walk oldest first until the excess is covered.
    let mut last_seq = None;
    {
        let mut st = conn.prepare_cached("SELECT seq, bytes FROM flow_packets ORDER BY seq")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let bytes: u64 = r.get(1)?;
            last_seq = Some(seq);
            excess = excess.saturating_sub(bytes.max(1));
            if excess == 0 {
                break;
            }
        }
    }
    let Some(last) = last_seq else { return Ok(0) };
    let n = conn
        .prepare_cached("DELETE FROM flow_packets WHERE seq <= ?1")?
        .execute(params![last])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Reads stored packets of `uids` (all stored packets when `None`), oldest first.
pub fn read_packets(
    conn: &Connection,
    uids: Option<&[String]>,
    mut f: impl FnMut(&str, PacketRow) -> Result<()>,
) -> Result<()> {
    let mut each = |r: &Row<'_>| -> Result<()> {
        let uid: String = r.get(0)?;
        let pkt = PacketRow {
            ts_us: r.get(1)?,
            orig_len: r.get(2)?,
            data: r.get(3)?,
        };
        f(&uid, pkt)
    };
    match uids {
        None => {
            let mut st = conn.prepare_cached(
                "SELECT flow_uid, ts_us, orig_len, data FROM flow_packets ORDER BY ts_us, seq",
            )?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                each(r)?;
            }
        }
        Some(uids) => {
            // json_each keeps the statement one prepared shape whatever the count.
            let list = serde_json::to_string(uids)?;
            let mut st = conn.prepare_cached(
                "SELECT flow_uid, ts_us, orig_len, data FROM flow_packets \
                 WHERE flow_uid IN (SELECT value FROM json_each(?1)) ORDER BY ts_us, seq",
            )?;
            let mut rows = st.query(params![list])?;
            while let Some(r) = rows.next()? {
                each(r)?;
            }
        }
    }
    Ok(())
}

/// The insert into partition table `table`; `verb` is `INSERT` or
/// `INSERT OR REPLACE`.
fn flow_insert_sql(verb: &str, table: &str) -> String {
    format!(
        "{verb} INTO {table} ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
         ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
        flow_parts::PART_COLUMNS
    )
}

/// An address as its network-order bytes, without a heap allocation.
struct IpBytes {
    buf: [u8; 16],
    len: usize,
}

impl IpBytes {
    fn new(ip: IpAddr) -> Self {
        let mut buf = [0u8; 16];
        let len = match ip {
            IpAddr::V4(a) => {
                let (head, _) = buf.split_at_mut(4);
                head.copy_from_slice(&a.octets());
                4
            }
            IpAddr::V6(a) => {
                buf = a.octets();
                16
            }
        };
        Self { buf, len }
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Inserts flows for the length of one transaction with one prepared
/// statement, bound column by column (no parameter slice, no address
/// `Vec`s, no second copy of the row), into the newest flow partition
/// ([`flow_parts`]), starting a new one when it is full.
///
/// A plain one-row `INSERT` is tried first: `INSERT OR REPLACE` makes SQLite
/// keep a statement journal (every touched page copied before each row, in
/// case the delete-then-insert must be undone), a quarter of the writer's
/// instructions in the profile. A re-emitted flow (same id, a longer-lived
/// flow) is rare, so it alone pays for a second, replacing statement; when
/// its id is within an older partition's id range the old row is deleted
/// there first, so an id is never stored twice.
///
/// Multi-row `VALUES` lists were measured too (v4 work, callgrind): SQLite
/// keeps a statement journal for any statement that writes several rows and
/// may stop half way, even under `OR IGNORE`, and the journal cost more
/// (12% of the writer's instructions) than the per-execution prologue saved.
pub struct FlowInserter<'c, 'r> {
    conn: &'c Connection,
    part_rows: u64,
    parts: Option<PartCursor>,
    insert: Option<CachedStatement<'c>>,
    _rows: std::marker::PhantomData<&'r FlowRow>,
}

/// Where a batch is inserting, read from the database at its first flow.
struct PartCursor {
    current: i64,
    /// Flows in `current`, counting this batch's.
    rows: u64,
    /// This batch's flows not yet added to `flow_parts.rows`.
    added: u64,
    partitions: usize,
    /// `(part, lowest id, highest id)` of the older, non-empty partitions.
    older: Vec<(i64, u64, u64)>,
    /// Highest id in any older partition: ids above it cannot be there.
    older_max: Option<u64>,
}

impl PartCursor {
    fn load(conn: &Connection) -> Result<Self> {
        let mut parts = flow_parts::list(conn)?;
        let current = match parts.pop() {
            Some(p) => p,
            None => flow_parts::Part {
                part: flow_parts::add(conn)?,
                rows: 0,
            },
        };
        let mut older = Vec::with_capacity(parts.len());
        for p in &parts {
            if let Some((lo, hi)) = flow_parts::id_range(conn, p.part)? {
                older.push((p.part, lo, hi));
            }
        }
        Ok(Self {
            current: current.part,
            rows: current.rows,
            added: 0,
            partitions: parts.len() + 1,
            older_max: older.iter().map(|o| o.2).max(),
            older,
        })
    }

    /// Closes the full partition and opens the next one.
    fn rotate(&mut self, conn: &Connection) -> Result<()> {
        flow_parts::count_rows(conn, self.current, self.added)?;
        if let Some((lo, hi)) = flow_parts::id_range(conn, self.current)? {
            self.older.push((self.current, lo, hi));
            self.older_max = Some(self.older_max.map_or(hi, |m| m.max(hi)));
        }
        self.current = flow_parts::add(conn)?;
        self.rows = 0;
        self.added = 0;
        self.partitions += 1;
        Ok(())
    }
}

impl<'c, 'r> FlowInserter<'c, 'r> {
    /// Statements are prepared on first use (a batch may hold no flows).
    /// `part_rows`: flows per partition before the next one starts.
    pub fn new(conn: &'c Connection, part_rows: u64) -> Self {
        Self {
            conn,
            part_rows: part_rows.max(1),
            parts: None,
            insert: None,
            _rows: std::marker::PhantomData,
        }
    }

    /// Inserts `f`, replacing a stored flow with the same id.
    pub fn push(&mut self, f: &'r FlowRow) -> Result<()> {
        let parts = match &mut self.parts {
            Some(p) => p,
            slot => slot.insert(PartCursor::load(self.conn)?),
        };
        if parts.rows >= self.part_rows && parts.partitions < flow_parts::MAX_PARTS {
            parts.rotate(self.conn)?;
            self.insert = None;
        }
        if parts.older_max.is_some_and(|m| f.id <= m) {
            for (part, lo, hi) in &parts.older {
                if (*lo..=*hi).contains(&f.id) {
                    let sql = format!("DELETE FROM {} WHERE id = ?1", flow_parts::table(*part));
                    self.conn.prepare_cached(&sql)?.execute(params![f.id])?;
                }
            }
        }
        let st = match &mut self.insert {
            Some(st) => st,
            slot => {
                let sql = flow_insert_sql("INSERT", &flow_parts::table(parts.current));
                slot.insert(self.conn.prepare_cached(&sql)?)
            }
        };
        bind_flow(st, 0, f)?;
        match st.raw_execute() {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                let table = flow_parts::table(parts.current);
                let mut st = self
                    .conn
                    .prepare_cached(&flow_insert_sql("INSERT OR REPLACE", &table))?;
                bind_flow(&mut st, 0, f)?;
                st.raw_execute()?;
                Ok(())
            }
            other => {
                other?;
                parts.rows += 1;
                parts.added += 1;
                Ok(())
            }
        }
    }

    /// Ends the batch: records how many flows the partition took.
    pub fn finish(self) -> Result<()> {
        if let Some(p) = &self.parts {
            flow_parts::count_rows(self.conn, p.current, p.added)?;
        }
        Ok(())
    }
}

/// Inserts or replaces one flow (outside the writer's batches), with the
/// default partition size.
pub fn insert_flow(conn: &Connection, f: &FlowRow) -> Result<()> {
    let mut ins = FlowInserter::new(conn, flow_parts::DEFAULT_PART_ROWS);
    ins.push(f)?;
    ins.finish()
}

/// Binds `f` to parameters `base + 1 ..= base + 27`.
fn bind_flow(st: &mut Statement<'_>, base: usize, f: &FlowRow) -> rusqlite::Result<()> {
    let orig_h = IpBytes::new(f.orig_h);
    let resp_h = IpBytes::new(f.resp_h);
    let dur = i64::try_from(f.last_us)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(f.first_us).unwrap_or(i64::MAX));
    let name = f.name.as_deref();
    let same = |other: Option<&str>| other.is_some() && other == name;
    let sni_is_name = same(f.sni.as_deref());
    let host_is_name = same(f.http_host.as_deref());
    let bit = |on: bool, flag: i64| if on { flag } else { 0 };
    let flags = bit(f.ech, FLAG_ECH)
        | bit(sni_is_name, FLAG_SNI_IS_NAME)
        | bit(host_is_name, FLAG_HOST_IS_NAME);
    st.raw_bind_parameter(base + 1, f.id)?;
    st.raw_bind_parameter(base + 2, f.uid.as_str())?;
    st.raw_bind_parameter(base + 3, f.app_uid)?;
    st.raw_bind_parameter(base + 4, f.app_name.as_deref())?;
    st.raw_bind_parameter(base + 5, f.proto)?;
    st.raw_bind_parameter(base + 6, orig_h.as_slice())?;
    st.raw_bind_parameter(base + 7, f.orig_p)?;
    st.raw_bind_parameter(base + 8, resp_h.as_slice())?;
    st.raw_bind_parameter(base + 9, f.resp_p)?;
    st.raw_bind_parameter(base + 10, f.first_us)?;
    st.raw_bind_parameter(base + 11, dur)?;
    st.raw_bind_parameter(base + 12, f.orig_pkts)?;
    st.raw_bind_parameter(base + 13, f.resp_pkts)?;
    st.raw_bind_parameter(base + 14, f.orig_ip_bytes)?;
    st.raw_bind_parameter(base + 15, f.resp_ip_bytes)?;
    st.raw_bind_parameter(base + 16, codes::encode(CONN_STATES, &f.conn_state))?;
    st.raw_bind_parameter(base + 17, codes::encode(END_REASONS, &f.end_reason))?;
    st.raw_bind_parameter(
        base + 18,
        f.name_source
            .as_deref()
            .map(|s| codes::encode(NAME_SOURCES, s)),
    )?;
    st.raw_bind_parameter(base + 19, flags)?;
    st.raw_bind_parameter(
        base + 20,
        f.community_id.as_deref().map(codes::encode_community_id),
    )?;
    st.raw_bind_parameter(base + 21, name)?;
    st.raw_bind_parameter(base + 22, name.map(reverse_name))?;
    st.raw_bind_parameter(base + 23, if sni_is_name { None } else { f.sni.as_deref() })?;
    st.raw_bind_parameter(base + 24, f.alpn.as_deref())?;
    st.raw_bind_parameter(base + 25, f.ja4.as_deref())?;
    st.raw_bind_parameter(
        base + 26,
        if host_is_name {
            None
        } else {
            f.http_host.as_deref()
        },
    )?;
    st.raw_bind_parameter(base + 27, f.tunnel.as_ref().map(tunnel_col::encode))?;
    Ok(())
}

/// Reads a row selected with [`FLOW_COLS`].
pub fn read_flow(r: &Row<'_>) -> rusqlite::Result<FlowRow> {
    let orig_h = blob_to_ip(r.get_ref(5)?.as_blob()?).ok_or_else(|| bad("orig_h"))?;
    let resp_h = blob_to_ip(r.get_ref(7)?.as_blob()?).ok_or_else(|| bad("resp_h"))?;
    let first_us: u64 = r.get(9)?;
    let dur: i64 = r.get(10)?;
    let flags: i64 = r.get(23)?;
    let name: Option<String> = r.get(17)?;
    let or_name = |idx: usize, bit: i64| -> rusqlite::Result<Option<String>> {
        if flags & bit != 0 {
            Ok(name.clone())
        } else {
            r.get(idx)
        }
    };
    let name_source = match r.get_ref(18)? {
        ValueRef::Null => None,
        v => Some(codes::decode(NAME_SOURCES, v).ok_or_else(|| bad("name_source"))?),
    };
    let community_id = match r.get_ref(16)? {
        ValueRef::Null => None,
        v => Some(codes::decode_community_id(v).ok_or_else(|| bad("community_id"))?),
    };
    Ok(FlowRow {
        id: r.get(0)?,
        uid: r.get(1)?,
        app_uid: r.get(2)?,
        app_name: r.get(3)?,
        proto: r.get(4)?,
        orig_h,
        orig_p: r.get(6)?,
        resp_h,
        resp_p: r.get(8)?,
        first_us,
        last_us: first_us
            .checked_add_signed(dur)
            .ok_or_else(|| bad("dur_us"))?,
        orig_pkts: r.get(11)?,
        resp_pkts: r.get(12)?,
        orig_ip_bytes: r.get(13)?,
        resp_ip_bytes: r.get(14)?,
        conn_state: codes::decode(CONN_STATES, r.get_ref(15)?).ok_or_else(|| bad("conn_state"))?,
        community_id,
        sni: or_name(19, FLAG_SNI_IS_NAME)?,
        http_host: or_name(22, FLAG_HOST_IS_NAME)?,
        name,
        name_source,
        alpn: r.get(20)?,
        ja4: r.get(21)?,
        ech: flags & FLAG_ECH != 0,
        end_reason: codes::decode(END_REASONS, r.get_ref(24)?).ok_or_else(|| bad("end_reason"))?,
        tunnel: match r.get_ref(25)? {
            ValueRef::Null => None,
            v => Some(tunnel_col::decode(v.as_str()?).ok_or_else(|| bad("tunnel"))?),
        },
    })
}

/// Appends a DNS transaction.
pub fn insert_dns(conn: &Connection, d: &DnsRow) -> Result<()> {
    let mut st = conn.prepare_cached(
        "INSERT INTO dns (ts_us, flow_uid, app_uid, client_h, client_p, server_h, server_p, \
         transport, msg_id, query, rev_query, qtype, qclass, rcode, rcode_name, answers, ttls, \
         rtt_us, answered, query_too_long) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?;
    st.execute(params![
        d.ts_us,
        d.flow_uid,
        d.app_uid,
        ip_to_blob(d.client.ip()),
        d.client.port(),
        ip_to_blob(d.server.ip()),
        d.server.port(),
        d.transport,
        d.id,
        d.query,
        reverse_name(&d.query),
        d.qtype,
        d.qclass,
        d.rcode,
        d.rcode_name,
        serde_json::to_string(&d.answers)?,
        serde_json::to_string(&d.ttls)?,
        d.rtt_us,
        d.answered,
        d.query_too_long,
    ])?;
    Ok(())
}

/// Reads a row selected with [`DNS_COLS`]; also returns the row's `seq`.
pub fn read_dns(r: &Row<'_>) -> rusqlite::Result<(i64, DnsRow)> {
    let client_h: Vec<u8> = r.get(4)?;
    let server_h: Vec<u8> = r.get(6)?;
    let client = SocketAddr::new(
        blob_to_ip(&client_h).ok_or_else(|| bad("client_h"))?,
        r.get(5)?,
    );
    let server = SocketAddr::new(
        blob_to_ip(&server_h).ok_or_else(|| bad("server_h"))?,
        r.get(7)?,
    );
    Ok((
        r.get(0)?,
        DnsRow {
            ts_us: r.get(1)?,
            flow_uid: r.get(2)?,
            app_uid: r.get(3)?,
            client,
            server,
            transport: r.get(8)?,
            id: r.get(9)?,
            query: r.get(10)?,
            qtype: r.get(11)?,
            qclass: r.get(12)?,
            rcode: r.get(13)?,
            rcode_name: r.get(14)?,
            answers: json_col(r, 15, "answers")?,
            ttls: json_col(r, 16, "ttls")?,
            rtt_us: r.get(17)?,
            answered: r.get(18)?,
            query_too_long: r.get(19)?,
        },
    ))
}

/// Inserts or replaces an alert; id 0 lets SQLite allocate one. Returns the id.
pub fn insert_alert(conn: &Connection, a: &AlertRow) -> Result<u64> {
    let mut st = conn.prepare_cached(
        "INSERT OR REPLACE INTO alerts (id, ts_us, severity, score, state, app_uid, domain, \
         rev_domain, ips, flow_uids, detector, attack, signals, provenance, retroactive, action, \
         enforcement) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    let id = (a.id != 0).then_some(a.id);
    st.execute(params![
        id,
        a.ts_us,
        a.severity.code(),
        f64::from(a.score),
        a.state.code(),
        a.app_uid,
        a.domain,
        a.domain.as_deref().map(reverse_name),
        serde_json::to_string(&a.ips)?,
        serde_json::to_string(&a.flow_uids)?,
        a.detector,
        serde_json::to_string(&a.attack)?,
        serde_json::to_string(&a.signals)?,
        serde_json::to_string(&a.provenance)?,
        a.retroactive,
        a.action.code(),
        a.enforcement,
    ])?;
    Ok(u64::try_from(conn.last_insert_rowid()).unwrap_or(0))
}

/// Reads a row selected with [`ALERT_COLS`].
pub fn read_alert(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    let score: f64 = r.get(3)?;
    Ok(AlertRow {
        id: r.get(0)?,
        ts_us: r.get(1)?,
        severity: Severity::from_code(r.get(2)?).ok_or_else(|| bad("severity"))?,
        // Scores are stored from an f32, so narrowing back is exact.
        #[allow(clippy::cast_possible_truncation)]
        score: score as f32,
        state: AlertState::from_code(r.get(4)?).ok_or_else(|| bad("state"))?,
        app_uid: r.get(5)?,
        domain: r.get(6)?,
        ips: json_col(r, 7, "ips")?,
        flow_uids: json_col(r, 8, "flow_uids")?,
        detector: r.get(9)?,
        attack: json_col(r, 10, "attack")?,
        signals: json_col(r, 11, "signals")?,
        provenance: json_col(r, 12, "provenance")?,
        retroactive: r.get(13)?,
        action: AlertAction::from_code(r.get(14)?).ok_or_else(|| bad("action"))?,
        enforcement: r.get(15)?,
    })
}

fn insert_app(conn: &Connection, a: &AppRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO apps (uid, package, label, installed_us, updated_us) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        a.uid,
        a.package,
        a.label,
        a.installed_us,
        a.updated_us
    ])?;
    Ok(())
}

pub(crate) fn insert_feed(conn: &Connection, f: &FeedRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO feeds (name, version, loaded_us, indicators) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![f.name, f.version, f.loaded_us, f.indicators])?;
    Ok(())
}

fn insert_state(conn: &Connection, s: &StateBlob) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO state (key, bytes, updated_us) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![s.key, s.bytes, s.updated_us])?;
    Ok(())
}

/// Merges a sighting into the per-app row and, for app sightings, into the
/// device-wide row too, so "first seen on this device" needs no extra record.
pub fn upsert_domain(conn: &Connection, d: &DomainSeen) -> Result<()> {
    let mut st = conn.prepare_cached(
        "INSERT INTO domains (domain, rev_domain, registrable, app_key, first_us, last_us, count) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (rev_domain, app_key) DO UPDATE SET \
           first_us = min(first_us, excluded.first_us), \
           last_us = max(last_us, excluded.last_us), \
           count = count + excluded.count",
    )?;
    let rev = reverse_name(&d.domain);
    let mut keys = vec![d.app_uid.map_or(-1, i64::from)];
    if d.app_uid.is_some() {
        keys.push(-1);
    }
    for key in keys {
        st.execute(params![
            d.domain,
            rev,
            d.registrable,
            key,
            d.first_us,
            d.last_us,
            d.count
        ])?;
    }
    Ok(())
}

/// Reads a sighting row (`domain, registrable, app_key, first_us, last_us, count`).
pub fn read_domain(r: &Row<'_>) -> rusqlite::Result<DomainSeen> {
    let key: i64 = r.get(2)?;
    Ok(DomainSeen {
        domain: r.get(0)?,
        registrable: r.get(1)?,
        app_uid: u32::try_from(key).ok(),
        first_us: r.get(3)?,
        last_us: r.get(4)?,
        count: r.get(5)?,
    })
}

/// Reads a state blob.
pub fn read_state(conn: &Connection, key: &str) -> Result<Option<StateBlob>> {
    let mut st = conn.prepare_cached("SELECT key, bytes, updated_us FROM state WHERE key = ?1")?;
    let mut rows = st.query(params![key])?;
    match rows.next()? {
        Some(r) => Ok(Some(StateBlob {
            key: r.get(0)?,
            bytes: r.get(1)?,
            updated_us: r.get(2)?,
        })),
        None => Ok(None),
    }
}

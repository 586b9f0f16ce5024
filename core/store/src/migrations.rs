//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Each step is applied once, in order, inside one transaction together with
//! the version bump, so a crash mid-migration leaves the previous version
//! intact. Steps are append-only: a released step is never edited, a change
//! is a new step.
//!
//! Index rationale (each index exists for one query in [`crate::query`] or for
//! retention; the `, first_us`/`, ts_us` suffix lets SQLite return rows already
//! in keyset order (newest first, rowid as tie-break) for equality filters):
//! - `flows_time`, `dns_time`, `alerts_time`: time-range queries, timelines,
//!   top talkers and age-based retention (`DELETE ... ORDER BY first_us`).
//! - `flows_rev_name`, `dns_rev_query`, `alerts_rev_domain`: "domain X incl.
//!   subdomains" as a range scan over reversed labels (`org.example` plus
//!   `org.example.` .. `org.example/`).
//! - `flows_resp_h`, `flows_orig_h`, `dns_server_h`: "who talked to IP X";
//!   addresses are 4/16-byte blobs so equality is a memcmp.
//! - `flows_app` (v2), `dns_app`, `alerts_app`: per-app queries and timelines.
//! - `alerts_severity`, `alerts_state`: triage lists.
//! - `domains_last`: age-based retention of the sightings table.
//! - `flow_packets_uid` (v4): the packets of the flows an alert lists, for the
//!   pcap export; `flow_packets_time`: their age-based retention.
//! - `alerts_match_key` (v4): a re-check finds the alert it raised before.
//!
//! From v6 the five flow indexes exist once per flow partition
//! ([`crate::flow_parts`]): partition 1 keeps the names above, partition `k`
//! has `flows_pk_time`, `flows_pk_rev_name`, and so on.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// v1: the initial tables.
pub const V1: &str = r#"
CREATE TABLE flows (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    app_uid INTEGER,
    app_name TEXT,
    proto INTEGER NOT NULL,
    orig_h BLOB NOT NULL,
    orig_p INTEGER NOT NULL,
    resp_h BLOB NOT NULL,
    resp_p INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    orig_pkts INTEGER NOT NULL,
    resp_pkts INTEGER NOT NULL,
    orig_ip_bytes INTEGER NOT NULL,
    resp_ip_bytes INTEGER NOT NULL,
    conn_state TEXT NOT NULL,
    community_id TEXT,
    name TEXT,
    rev_name TEXT,
    name_source TEXT,
    sni TEXT,
    alpn TEXT,
    http_host TEXT,
    end_reason TEXT NOT NULL
);
CREATE INDEX flows_time ON flows(first_us);
CREATE INDEX flows_rev_name ON flows(rev_name, first_us);
CREATE INDEX flows_resp_h ON flows(resp_h, first_us);
CREATE INDEX flows_orig_h ON flows(orig_h, first_us);

CREATE TABLE dns (
    seq INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    flow_uid TEXT,
    app_uid INTEGER,
    client_h BLOB NOT NULL,
    client_p INTEGER NOT NULL,
    server_h BLOB NOT NULL,
    server_p INTEGER NOT NULL,
    transport TEXT NOT NULL,
    msg_id INTEGER NOT NULL,
    query TEXT NOT NULL,
    rev_query TEXT NOT NULL,
    qtype INTEGER NOT NULL,
    qclass INTEGER NOT NULL,
    rcode INTEGER,
    rcode_name TEXT,
    answers TEXT NOT NULL,
    ttls TEXT NOT NULL,
    rtt_us INTEGER,
    answered INTEGER NOT NULL
);
CREATE INDEX dns_time ON dns(ts_us);
CREATE INDEX dns_rev_query ON dns(rev_query, ts_us);
CREATE INDEX dns_app ON dns(app_uid, ts_us);
CREATE INDEX dns_server_h ON dns(server_h, ts_us);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    score REAL NOT NULL,
    state INTEGER NOT NULL,
    app_uid INTEGER,
    domain TEXT,
    rev_domain TEXT,
    ips TEXT NOT NULL,
    flow_uids TEXT NOT NULL,
    detector TEXT NOT NULL,
    attack TEXT NOT NULL,
    signals TEXT NOT NULL,
    provenance TEXT NOT NULL,
    retroactive INTEGER NOT NULL,
    action INTEGER NOT NULL
);
CREATE INDEX alerts_time ON alerts(ts_us);
CREATE INDEX alerts_severity ON alerts(severity, ts_us);
CREATE INDEX alerts_state ON alerts(state, ts_us);
CREATE INDEX alerts_app ON alerts(app_uid, ts_us);
CREATE INDEX alerts_rev_domain ON alerts(rev_domain, ts_us);

CREATE TABLE domains (
    domain TEXT NOT NULL,
    rev_domain TEXT NOT NULL,
    registrable TEXT NOT NULL,
    -- -1 is the device-wide row: NULL would defeat the UNIQUE constraint.
    app_key INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (rev_domain, app_key)
);
CREATE INDEX domains_last ON domains(last_us);

CREATE TABLE apps (
    uid INTEGER PRIMARY KEY,
    package TEXT NOT NULL,
    label TEXT,
    installed_us INTEGER,
    updated_us INTEGER
);

CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    loaded_us INTEGER NOT NULL,
    indicators INTEGER NOT NULL
);

CREATE TABLE state (
    key TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    updated_us INTEGER NOT NULL
);
"#;

/// v2: TLS fingerprint and ECH columns on flows, and the per-app flow index
/// that v1 lacked (per-app timelines scanned `flows_time`).
pub const V2: &str = r#"
ALTER TABLE flows ADD COLUMN ja4 TEXT;
ALTER TABLE flows ADD COLUMN ech INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flows_app ON flows(app_uid, first_us);
"#;

/// v3: a smaller flows row (≈25% fewer bytes per flow), rebuilt in place.
///
/// - `last_us` becomes `dur_us` (`last_us - first_us`, 2-4 bytes instead of 8).
/// - `conn_state`, `end_reason`, `name_source` hold the integer codes of
///   `codes.rs` for known names and the text otherwise, so the columns
///   are declared without a type (no affinity: SQLite keeps what is bound).
/// - `flags` packs `ech` with "sni equals name" and "http_host equals name";
///   a flagged column is stored NULL instead of repeating the name.
/// - `community_id` may be the 20 raw hash bytes (new rows; v2 rows keep
///   their text, which reads back the same).
///
/// The indexes are the v2 set, recreated on the rebuilt table.
/// SQLite's ALTER TABLE cannot change a column's type, hence the copy; it
/// runs once, inside the migration transaction.
pub const V3: &str = r#"
CREATE TABLE flows_v3 (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    app_uid INTEGER,
    app_name TEXT,
    proto INTEGER NOT NULL,
    orig_h BLOB NOT NULL,
    orig_p INTEGER NOT NULL,
    resp_h BLOB NOT NULL,
    resp_p INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    dur_us INTEGER NOT NULL,
    orig_pkts INTEGER NOT NULL,
    resp_pkts INTEGER NOT NULL,
    orig_ip_bytes INTEGER NOT NULL,
    resp_ip_bytes INTEGER NOT NULL,
    conn_state NOT NULL,
    end_reason NOT NULL,
    name_source,
    flags INTEGER NOT NULL,
    community_id,
    name TEXT,
    rev_name TEXT,
    sni TEXT,
    alpn TEXT,
    ja4 TEXT,
    http_host TEXT
);
INSERT INTO flows_v3 (id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p,
    first_us, dur_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state,
    end_reason, name_source, flags, community_id, name, rev_name, sni, alpn, ja4, http_host)
SELECT id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p,
    first_us, last_us - first_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes,
    CASE conn_state WHEN 'S0' THEN 1 WHEN 'S1' THEN 2 WHEN 'SF' THEN 3 WHEN 'REJ' THEN 4
        WHEN 'S2' THEN 5 WHEN 'S3' THEN 6 WHEN 'RSTO' THEN 7 WHEN 'RSTR' THEN 8
        WHEN 'RSTOS0' THEN 9 WHEN 'RSTRH' THEN 10 WHEN 'SH' THEN 11 WHEN 'SHR' THEN 12
        WHEN 'OTH' THEN 13 ELSE conn_state END,
    CASE end_reason WHEN 'fin' THEN 1 WHEN 'rst' THEN 2 WHEN 'idle' THEN 3
        WHEN 'evicted' THEN 4 WHEN 'shutdown' THEN 5 ELSE end_reason END,
    CASE name_source WHEN 'sni' THEN 1 WHEN 'quic_sni' THEN 2 WHEN 'http_host' THEN 3
        WHEN 'dns' THEN 4 ELSE name_source END,
    (ech != 0)
        | (CASE WHEN sni IS NOT NULL AND sni IS name THEN 2 ELSE 0 END)
        | (CASE WHEN http_host IS NOT NULL AND http_host IS name THEN 4 ELSE 0 END),
    community_id, name, rev_name,
    CASE WHEN sni IS name THEN NULL ELSE sni END,
    alpn, ja4,
    CASE WHEN http_host IS name THEN NULL ELSE http_host END
FROM flows;
DROP TABLE flows;
ALTER TABLE flows_v3 RENAME TO flows;
CREATE INDEX flows_time ON flows(first_us);
CREATE INDEX flows_rev_name ON flows(rev_name, first_us);
CREATE INDEX flows_resp_h ON flows(resp_h, first_us);
CREATE INDEX flows_orig_h ON flows(orig_h, first_us);
CREATE INDEX flows_app ON flows(app_uid, first_us);
"#;

/// v4: packets of alerted flows, and a key that makes retroactive alerts
/// idempotent.
///
/// - `flow_packets`: packets a flow still had in the edge's packet ring when
///   an alert was raised for it, keyed by the flow's uid (the value alerts
///   list in `flow_uids`), bounded by the writer (oldest `seq` goes first).
/// - `alerts.match_key`: `intel|<indicator>|<app>` for alerts a re-check
///   raised, so re-checking the same history against the same (or a
///   re-published) feed finds the alert it already raised. Partial unique
///   index: live alerts leave it NULL and cost nothing.
pub const V4: &str = r#"
CREATE TABLE flow_packets (
    seq INTEGER PRIMARY KEY,
    flow_uid TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    orig_len INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX flow_packets_uid ON flow_packets(flow_uid, ts_us);
CREATE INDEX flow_packets_time ON flow_packets(ts_us);
ALTER TABLE alerts ADD COLUMN match_key TEXT;
CREATE UNIQUE INDEX alerts_match_key ON alerts(match_key) WHERE match_key IS NOT NULL;
"#;

/// v5: how a relay enforced an alert's block (`alerts.enforcement`, NULL when
/// nothing was enforced).
pub const V5: &str = r#"
ALTER TABLE alerts ADD COLUMN enforcement TEXT;
"#;

/// v6: flows move into partition tables behind a `flows` view
/// ([`crate::flow_parts`]), so the writer's index inserts stay within a
/// table small enough to be cached. The v5 table becomes partition 1 with its
/// rows and its indexes (renaming keeps them; no rebuild at upgrade); the
/// writer starts partition 2 when partition 1 is full.
pub const V6: &str = r#"
ALTER TABLE flows RENAME TO flows_p1;
CREATE TABLE flow_parts (
    part INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL
);
INSERT INTO flow_parts (part, rows) SELECT 1, count(*) FROM flows_p1;
CREATE VIEW flows AS SELECT id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h,
    resp_p, first_us, dur_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state,
    end_reason, name_source, flags, community_id, name, rev_name, sni, alpn, ja4, http_host
    FROM flows_p1;
"#;

/// v7: the tunnel a flow arrived in, and DNS names longer than the protocol
/// allows.
///
/// - `tunnel` on every flow partition: NULL for a flow seen outside any tunnel
///   (nearly all of them: one row-header byte each), else the text
///   `KIND PROTO SRC DST [PARENT_UID]` ([`crate::tunnel_col`]). One column rather
///   than five keeps the untunnelled row as small as v6's, and nothing queries by
///   outer endpoint.
/// - `dns.query_too_long`: the question name was over 255 bytes and kept anyway.
///
/// Partitions are created at run time, so this step is code: it adds the
/// column to each partition the database has and recreates the `flows` view
/// over the new column list (the view names its columns).
fn v7(conn: &Connection) -> Result<()> {
    conn.execute_batch("ALTER TABLE dns ADD COLUMN query_too_long INTEGER NOT NULL DEFAULT 0;")?;
    let parts: Vec<i64> = crate::flow_parts::list(conn)?
        .iter()
        .map(|p| p.part)
        .collect();
    for part in &parts {
        let t = crate::flow_parts::table(*part);
        conn.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN tunnel TEXT;"))?;
    }
    crate::flow_parts::rebuild_view(conn, &parts)
}

/// One migration step.
#[derive(Clone, Copy)]
pub enum Step {
    /// A fixed SQL batch.
    Sql(&'static str),
    /// A step whose statements depend on what the database holds (its flow
    /// partitions).
    Code(fn(&Connection) -> Result<()>),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Sql(_) => f.write_str("Step::Sql"),
            Step::Code(_) => f.write_str("Step::Code"),
        }
    }
}

/// All steps; step `i` takes the database from version `i` to `i + 1`.
pub const MIGRATIONS: &[Step] = &[
    Step::Sql(V1),
    Step::Sql(V2),
    Step::Sql(V3),
    Step::Sql(V4),
    Step::Sql(V5),
    Step::Sql(V6),
    Step::Code(v7),
];

/// The version a fully migrated database has.
pub fn current_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Reads `PRAGMA user_version`.
pub fn version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(u32::try_from(v).unwrap_or(0))
}

/// Applies the missing steps up to `target` (at most [`current_version`]).
/// Returns the number of steps applied.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32> {
    let supported = current_version();
    let mut applied = 0;
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two
        // processes opening a fresh file cannot both apply the same step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v = version(&tx)?;
        if v > supported {
            return Err(StoreError::SchemaTooNew {
                found: v,
                supported,
            });
        }
        if v >= target.min(supported) {
            return Ok(applied);
        }
        let step = MIGRATIONS
            .get(usize::try_from(v).unwrap_or(usize::MAX))
            .ok_or(StoreError::SchemaTooNew {
                found: v,
                supported,
            })?;
        match step {
            Step::Sql(sql) => tx.execute_batch(sql)?,
            Step::Code(run) => run(&tx)?,
        }
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
        log::info!("store schema migrated to v{}", v + 1);
        applied += 1;
    }
}

/// Applies every missing step.
pub fn migrate(conn: &mut Connection) -> Result<u32> {
    migrate_to(conn, current_version())
}

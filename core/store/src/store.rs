//! The read side: one connection for queries, exports, retention runs,
//! coverage and retroactive matching. WAL lets it read while the writer
//! thread commits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::codec::{self, read_domain};
use crate::error::Result;
use crate::retention::{self, Clock, RetentionPolicy, RetentionReport};
use crate::rows::{AlertRow, AppRow, DomainSeen, FeedRow, FlowRow, StateBlob};
use crate::schema::{open_connection, reverse_name};
use crate::writer::{StoreConfig, StoreWriter};

/// A half-open time window `[since_us, until_us)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TimeWindow {
    /// Inclusive start, µs since the epoch.
    pub since_us: u64,
    /// Exclusive end, µs since the epoch.
    pub until_us: u64,
}

impl TimeWindow {
    /// `[since_us, until_us)`.
    pub fn new(since_us: u64, until_us: u64) -> Self {
        Self { since_us, until_us }
    }

    /// Everything.
    pub fn all() -> Self {
        Self::new(0, i64::MAX.unsigned_abs())
    }

    pub(crate) fn bounds(&self) -> (i64, i64) {
        (
            i64::try_from(self.since_us).unwrap_or(i64::MAX),
            i64::try_from(self.until_us).unwrap_or(i64::MAX),
        )
    }
}

/// Read handle on a store database.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` and
    /// starts its writer thread.
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<(Store, StoreWriter)> {
        let path = path.as_ref();
        let (busy, cache) = (config.busy_timeout, config.cache_kib);
        let writer = StoreWriter::start(path, config)?;
        let store = Store {
            conn: open_connection(path, busy, cache)?,
            path: path.to_path_buf(),
        };
        Ok((store, writer))
    }

    /// Opens the database without a writer thread (inspection, tests,
    /// exports from a copied file).
    pub fn open_reader(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Store> {
        let path = path.as_ref();
        Ok(Store {
            conn: open_connection(path, busy_timeout, crate::schema::CACHE_KIB)?,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA user_version`.
    pub fn schema_version(&self) -> Result<u32> {
        crate::migrations::version(&self.conn)
    }

    /// `PRAGMA integrity_check` said `ok`.
    pub fn integrity_ok(&self) -> Result<bool> {
        let s: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(s == "ok")
    }

    /// Copies the WAL into the main file and truncates the WAL.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// `page_count * page_size`.
    pub fn db_bytes(&self) -> Result<u64> {
        retention::db_bytes(&self.conn)
    }

    /// Highest stored flow id; a restarted engine continues above it.
    pub fn max_flow_id(&self) -> Result<Option<u64>> {
        // Per partition: through the view, max() would scan every row.
        crate::flow_parts::max_id(&self.conn)
    }

    /// One flow by id.
    pub fn flow(&self, id: u64) -> Result<Option<FlowRow>> {
        let sql = format!("SELECT {} FROM flows WHERE id = ?1", codec::FLOW_COLS);
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![id])?;
        Ok(match rows.next()? {
            Some(r) => Some(codec::read_flow(r)?),
            None => None,
        })
    }

    /// Stores an alert directly (not through the writer queue); id 0
    /// allocates one. Returns the id.
    pub fn insert_alert(&self, alert: &AlertRow) -> Result<u64> {
        codec::insert_alert(&self.conn, alert)
    }

    /// One alert by id.
    pub fn alert(&self, id: u64) -> Result<Option<AlertRow>> {
        let sql = format!("SELECT {} FROM alerts WHERE id = ?1", codec::ALERT_COLS);
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![id])?;
        Ok(match rows.next()? {
            Some(r) => Some(codec::read_alert(r)?),
            None => None,
        })
    }

    /// Records a loaded intel feed (name, version, indicator count) directly,
    /// replacing an earlier row of the same name.
    pub fn record_feed(&self, feed: &FeedRow) -> Result<()> {
        codec::insert_feed(&self.conn, feed)
    }

    /// Stores packets of an alerted flow directly (not through the writer
    /// queue), then trims the oldest stored packets down to `max_bytes`.
    /// Returns the packets trimmed.
    pub fn save_packets(&self, packets: &crate::rows::FlowPackets, max_bytes: u64) -> Result<u64> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        codec::insert_packets(&tx, packets)?;
        let shed = codec::trim_packets(&tx, max_bytes)?;
        tx.commit()?;
        Ok(shed)
    }

    /// Packets stored for the flow with this uid, oldest first.
    pub fn packets(&self, flow_uid: &str) -> Result<Vec<crate::rows::PacketRow>> {
        let mut out = Vec::new();
        codec::read_packets(&self.conn, Some(&[flow_uid.to_string()]), |_, p| {
            out.push(p);
            Ok(())
        })?;
        Ok(out)
    }

    /// Sets the triage state of an alert. Returns whether it existed.
    pub fn set_alert_state(&self, id: u64, state: crate::rows::AlertState) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE alerts SET state = ?1 WHERE id = ?2",
            params![state.code(), id],
        )?;
        Ok(n > 0)
    }

    /// An app by uid.
    pub fn app(&self, uid: u32) -> Result<Option<AppRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT uid, package, label, installed_us, updated_us FROM apps WHERE uid = ?1",
        )?;
        let mut rows = st.query(params![uid])?;
        Ok(match rows.next()? {
            Some(r) => Some(AppRow {
                uid: r.get(0)?,
                package: r.get(1)?,
                label: r.get(2)?,
                installed_us: r.get(3)?,
                updated_us: r.get(4)?,
            }),
            None => None,
        })
    }

    /// Every loaded feed.
    pub fn feeds(&self) -> Result<Vec<FeedRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, version, loaded_us, indicators FROM feeds ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(FeedRow {
                name: r.get(0)?,
                version: r.get(1)?,
                loaded_us: r.get(2)?,
                indicators: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The sighting of `domain` for `app_uid` (`None` = device-wide).
    pub fn domain_seen(&self, domain: &str, app_uid: Option<u32>) -> Result<Option<DomainSeen>> {
        let mut st = self.conn.prepare_cached(
            "SELECT domain, registrable, app_key, first_us, last_us, count FROM domains \
             WHERE rev_domain = ?1 AND app_key = ?2",
        )?;
        let mut rows = st.query(params![reverse_name(domain), app_uid.map_or(-1, i64::from)])?;
        Ok(match rows.next()? {
            Some(r) => Some(read_domain(r)?),
            None => None,
        })
    }

    /// A persisted state blob.
    pub fn state(&self, key: &str) -> Result<Option<StateBlob>> {
        codec::read_state(&self.conn, key)
    }

    /// One bounded retention step at `now_us`.
    pub fn retention_step(&self, policy: &RetentionPolicy, now_us: u64) -> Result<RetentionReport> {
        retention::step(&self.conn, policy, now_us)
    }

    /// Retention steps until done (or `max_steps`); each step is its own
    /// short transaction so the writer thread interleaves.
    pub fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        clock: &dyn Clock,
        max_steps: u32,
    ) -> Result<RetentionReport> {
        retention::run(&self.conn, policy, clock, max_steps)
    }
}

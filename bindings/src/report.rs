//! The analyst's report through the bindings: the same page `nightjar report` writes, for a
//! host app to show in a `WKWebView`/`WebView` or to share, with no UI work of its own.

use nightjar_report::{ReportError, ReportOptions};

use crate::error::{NightjarError, Result};
use crate::handle::NightjarEngine;

impl From<ReportError> for NightjarError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Store(s) => s.into(),
            ReportError::EmptyPeriod { .. } => NightjarError::InvalidArgument {
                reason: e.to_string(),
            },
            other => NightjarError::Internal {
                detail: other.to_string(),
            },
        }
    }
}

#[uniffi::export]
impl NightjarEngine {
    /// One self-contained HTML page (inline CSS and SVG, a content security policy that
    /// forbids every request) telling which app talked to what, when, and why each alert
    /// fired, over `[since_us, until_us)`; `None` bounds follow the data. `app_uid` limits it
    /// to one app. Reads the database (a few seconds for a million flows): call it off the
    /// UI thread.
    pub fn report(
        &self,
        since_us: Option<u64>,
        until_us: Option<u64>,
        app_uid: Option<u32>,
    ) -> Result<String> {
        self.run(|| {
            let options = ReportOptions {
                since_us,
                until_us,
                app: app_uid,
                ..ReportOptions::default()
            };
            self.with_db(|s| Ok(nightjar_report::render(s, &options)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use nightjar_wire::Direction;

    use crate::records::Packet;
    use crate::{EngineSettings, Mode, NightjarEngine, NightjarError, default_memory_caps};

    #[test]
    fn report_of_an_ingested_session_and_a_typed_error_for_an_empty_period() {
        let dir = tempfile::tempdir().unwrap();
        let settings = EngineSettings {
            db_path: Some(dir.path().join("r.db").display().to_string()),
            intel_index_path: None,
            mode: Mode::Monitor,
            caps: default_memory_caps(),
            hash_seed: 7,
            relay: None,
            block_at: None,
        };
        let s = nightjar_synth::phone_session(7);
        let e = NightjarEngine::new(settings).unwrap();
        let packets: Vec<Packet> = s
            .packets
            .iter()
            .map(|p| Packet {
                bytes: p.bytes.clone(),
                outbound: p.direction == Direction::Outbound,
                ts_us: p.ts_micros,
            })
            .collect();
        e.ingest(packets).unwrap();
        e.shutdown().unwrap();

        let settings = EngineSettings {
            db_path: Some(dir.path().join("r.db").display().to_string()),
            intel_index_path: None,
            mode: Mode::Monitor,
            caps: default_memory_caps(),
            hash_seed: 7,
            relay: None,
            block_at: None,
        };
        let e = NightjarEngine::new(settings).unwrap();
        let html = e.report(None, None, None).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        // askama escapes the quotes of the policy in the attribute; the browser reads them back.
        assert!(
            html.replace("&#39;", "'")
                .contains("content=\"default-src 'none';")
        );
        let rows = html.matches("<tr id=\"flow-").count();
        assert!(rows > 10, "{rows} flow rows");
        assert!(matches!(
            e.report(Some(10), Some(10), None),
            Err(NightjarError::InvalidArgument { .. })
        ));
    }
}

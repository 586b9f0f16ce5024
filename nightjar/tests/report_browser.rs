//! The analyst's report in a real browser (headless Chromium): the demo's
//! report shows what the store holds and fetches nothing, and hostile names
//! stay text. Skips with a visible message where no Chromium is installed
//! (CI installs Debian's `chromium`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod browser;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nightjar_store::{
    AlertAction, AlertRow, AlertState, AppRow, FlowRow, Record, Severity, Signal, Store,
    StoreConfig, TimeWindow,
};

fn chromium(test: &str) -> Option<std::path::PathBuf> {
    let found = browser::find();
    if found.is_none() {
        eprintln!("SKIPPED {test}: no chromium on PATH (Debian: apt-get install chromium)");
    }
    found
}

fn nightjar(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_nightjar"))
        .args(args)
        .output()
        .expect("run nightjar");
    assert!(
        out.status.success(),
        "nightjar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The serialised `<details class="alert …">…</details>` blocks.
fn alert_blocks(dom: &str) -> Vec<&str> {
    dom.split("<details class=\"alert ")
        .skip(1)
        .map(|b| b.split("</details>").next().unwrap_or(b))
        .collect()
}

/// The `data-app` of every timeline row.
fn timeline_rows(dom: &str) -> Vec<String> {
    dom.split("<tr class=\"tl-row\" data-app=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next().map(str::to_owned))
        .collect()
}

#[test]
fn demo_report_in_headless_chromium() {
    let Some(bin) = chromium("demo_report_in_headless_chromium") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("demo.db");
    let page = work.path().join("report.html");
    nightjar(&[
        "demo",
        "--db",
        db.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ]);

    // What the page must show, from the store and the scenario, not from the page.
    let store = Store::open_reader(&db, Duration::from_secs(5)).unwrap();
    let alerts = store.summary(TimeWindow::all()).unwrap().alerts;
    assert!(alerts > 0, "the demo raises alerts");
    let (scenario, _) = nightjar::demo::scenario(7);
    let flashlight = scenario
        .apps
        .iter()
        .find(|a| a.package.contains("flashlight"))
        .expect("the demo has the flashlight app");

    let load = browser::load(&bin, &page, work.path(), "demo");
    assert!(load.dom.contains("</html>"), "no DOM dumped");

    let blocks = alert_blocks(&load.dom);
    assert_eq!(blocks.len() as u64, alerts.min(200), "alerts on the page");
    assert!(
        load.dom
            .contains(&format!("data-count=\"{}\"", blocks.len()))
    );
    for detector in ["beacon", "dga"] {
        let found = blocks.iter().find(|b| {
            b.contains(&format!("data-detector=\"{detector}\"")) && b.contains(&flashlight.label)
        });
        let block = found.unwrap_or_else(|| panic!("no {detector} alert of the flashlight app"));
        let reasons = block.matches("<tr class=\"reason\">").count();
        assert!(reasons >= 1, "{detector} alert without reasons");
        assert!(
            block.contains("DC0113"),
            "{detector} alert without ATT&CK ids"
        );
    }

    let rows = timeline_rows(&load.dom);
    let unique: BTreeSet<&String> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "one row per app: {rows:?}");
    for app in &scenario.apps {
        assert!(
            rows.contains(&app.uid.to_string()),
            "no timeline row for {} ({}): {rows:?}",
            app.package,
            app.uid
        );
    }
    let apps: BTreeSet<String> = scenario.apps.iter().map(|a| a.uid.to_string()).collect();
    assert!(rows.iter().all(|r| apps.contains(r) || r == "none"));

    let fetched = browser::network_urls(&load);
    assert!(fetched.is_empty(), "the page made requests: {fetched:?}");

    let shot = browser::artifact_dir().join("demo-report.png");
    let _ = std::fs::remove_file(&shot);
    browser::screenshot(&bin, &page, work.path(), &shot, (1280, 2400));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    eprintln!("screenshot: {}", shot.display());
}

fn hostile_flow(sni: &str, host: &str, name: &str, app: &str) -> FlowRow {
    FlowRow {
        id: 1,
        uid: "Chostile1".into(),
        app_uid: Some(10_123),
        app_name: Some(app.into()),
        proto: 6,
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        orig_p: 40_000,
        resp_h: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        resp_p: 443,
        first_us: 1_700_000_000_000_000,
        last_us: 1_700_000_002_000_000,
        orig_pkts: 5,
        resp_pkts: 5,
        orig_ip_bytes: 900,
        resp_ip_bytes: 4_000,
        conn_state: "SF".into(),
        community_id: None,
        name: Some(name.into()),
        name_source: Some("sni".into()),
        sni: Some(sni.into()),
        alpn: Some(sni.into()),
        ja4: None,
        http_host: Some(host.into()),
        ech: false,
        end_reason: "fin".into(),
        tunnel: None,
    }
}

/// Writes the hostile records; every string a person reads carries a payload.
fn hostile_db(db: &Path, port: u16) -> [String; 3] {
    let pwn = |what: &str| {
        format!(
            "fetch('http://127.0.0.1:{port}/{what}');document.documentElement.setAttribute('data-pwned','{what}')"
        )
    };
    let sni = format!("<script>{}</script>.evil.example", pwn("script"));
    let host = format!("\"><img src=x onerror=\"{}\">", pwn("onerror"));
    let name = format!("javascript:{}//", pwn("js"));
    let app = format!("<img src=http://127.0.0.1:{port}/app>");
    let (_store, w) = Store::open(db, StoreConfig::default()).unwrap();
    assert!(w.send(Record::App(AppRow {
        uid: 10_123,
        package: app.clone(),
        label: Some(sni.clone()),
        installed_us: Some(1_699_999_999_000_000),
        updated_us: None,
    })));
    assert!(w.flow(hostile_flow(&sni, &host, &name, &app)));
    assert!(w.alert(AlertRow {
        id: 0,
        ts_us: 1_700_000_001_000_000,
        severity: Severity::Critical,
        score: 0.99,
        state: AlertState::New,
        app_uid: Some(10_123),
        domain: Some(name.clone()),
        ips: vec![],
        flow_uids: vec!["Chostile1".into(), host.clone()],
        detector: sni.clone(),
        attack: vec![host.clone(), "DC0113".into()],
        signals: vec![Signal {
            name: host.clone(),
            value: 1.0,
            weight: 1.0,
        }],
        provenance: serde_json::json!({ "feed": sni, "indicator_id": host, "url": name }),
        retroactive: true,
        action: AlertAction::Block,
        enforcement: Some(host.clone()),
    }));
    w.shutdown();
    [sni, host, name]
}

#[test]
fn hostile_names_stay_text_in_headless_chromium() {
    let Some(bin) = chromium("hostile_names_stay_text_in_headless_chromium") else {
        return;
    };
    let catcher = browser::Catcher::start();
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("hostile.db");
    let page = work.path().join("report.html");
    let [sni, host, name] = hostile_db(&db, catcher.port);
    nightjar(&[
        "report",
        "--db",
        db.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);

    // The harness can see an attack succeed: the same payloads pasted into a page by string
    // concatenation run, fetch, and leave their mark.
    let control = work.path().join("control.html");
    std::fs::write(
        &control,
        format!("<!DOCTYPE html><html><body><p>{sni}</p><p title=\"{host}\"></p><a href=\"{name}\">x</a></body></html>"),
    )
    .unwrap();
    let bad = browser::load(&bin, &control, work.path(), "control");
    assert!(
        bad.dom.contains("data-pwned=\""),
        "control payload did not run"
    );
    assert!(
        !browser::network_urls(&bad).is_empty(),
        "control fetch not in the net-log"
    );
    let control_hits = catcher.hits();
    assert!(control_hits > 0, "control fetch did not reach the listener");

    let load = browser::load(&bin, &page, work.path(), "report");
    assert!(load.dom.contains("</html>"), "no DOM dumped");
    assert!(!load.dom.contains("data-pwned=\""), "a payload ran");
    assert!(!load.dom.contains("<img"), "a payload became an element");
    assert_eq!(
        catcher.hits(),
        control_hits,
        "the report fetched from the listener"
    );
    let fetched = browser::network_urls(&load);
    assert!(fetched.is_empty(), "the report made requests: {fetched:?}");
    // The names are there, as text.
    assert!(
        load.dom.contains("&lt;script&gt;fetch("),
        "SNI not shown as text"
    );
    assert!(
        load.dom.contains("\"&gt;&lt;img src=x onerror="),
        "Host not shown as text"
    );
    assert!(load.dom.contains("javascript:fetch("), "name not shown");
    assert!(
        !load.dom.contains("href=\"javascript:"),
        "a name became a link"
    );
    assert_eq!(alert_blocks(&load.dom).len(), 1);
}

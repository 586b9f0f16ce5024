//! What the template shows: every value already formatted as text or as a
//! chart coordinate, so the template holds layout only. askama escapes each
//! `{{ }}`; the stylesheet and the script are the only values marked safe,
//! and they are constants of this crate.

use askama::Template;

use crate::ReportError;

/// The stylesheet, inlined and allowed by its hash.
pub const STYLE: &str = include_str!("../assets/report.css");
/// The script (flow table paging, alert filter), inlined and allowed by its hash.
pub const SCRIPT: &str = include_str!("../assets/report.js");

#[derive(Debug, Template)]
#[template(path = "report.html")]
pub struct Page {
    pub csp: String,
    pub style: &'static str,
    pub script: &'static str,
    pub title: String,
    pub period: String,
    pub period_length: String,
    pub app_filter: Option<String>,
    pub counts: Vec<Count>,
    pub severities: Vec<Count>,
    pub coverage: Vec<Bar>,
    pub dns_note: String,
    pub blind_spots: Vec<String>,
    pub alerts: Vec<AlertView>,
    pub alerts_left_out: u64,
    pub timeline: Timeline,
    pub apps: Vec<AppView>,
    pub flows: Vec<FlowView>,
    pub flows_note: String,
}

#[derive(Debug)]
pub struct Count {
    pub label: String,
    pub value: String,
    pub class: &'static str,
}

/// A horizontal bar in a 0..=200 wide chart.
#[derive(Debug)]
pub struct Bar {
    pub label: String,
    pub value: String,
    pub width: u32,
    pub class: &'static str,
}

#[derive(Debug)]
pub struct AlertView {
    pub anchor: String,
    pub severity: &'static str,
    pub score: String,
    pub detector: String,
    pub detector_words: String,
    pub app: String,
    pub target: String,
    pub time: String,
    pub state: String,
    pub action: String,
    pub enforcement: Option<String>,
    pub retroactive: bool,
    pub reasons: Vec<Reason>,
    pub provenance: Vec<(String, String)>,
    pub attack: Vec<(String, String)>,
    pub flows: Vec<FlowLink>,
}

#[derive(Debug)]
pub struct Reason {
    pub name: String,
    pub words: String,
    pub value: String,
    pub contribution: String,
    /// Bar length, 0..=100.
    pub width: u32,
    pub negative: bool,
}

#[derive(Debug)]
pub struct FlowLink {
    pub anchor: String,
    pub label: String,
    pub in_table: bool,
}

#[derive(Debug)]
pub struct Timeline {
    pub ticks: Vec<Tick>,
    pub rows: Vec<TimelineRow>,
    pub bin_note: String,
}

#[derive(Debug)]
pub struct Tick {
    pub x: u32,
    pub label: String,
}

#[derive(Debug)]
pub struct TimelineRow {
    pub app_key: String,
    pub label: String,
    pub flows: String,
    pub contacts: Vec<Rect>,
    pub first_contacts: Vec<Mark>,
    pub alerts: Vec<Mark>,
    pub install: Option<Mark>,
    pub update: Option<Mark>,
}

#[derive(Debug)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub h: u32,
    pub title: String,
}

#[derive(Debug)]
pub struct Mark {
    pub x: u32,
    pub title: String,
    pub href: String,
}

#[derive(Debug)]
pub struct AppView {
    pub anchor: String,
    pub label: String,
    pub package: String,
    pub uid: String,
    pub installed: String,
    pub updated: String,
    pub domains: Vec<DomainView>,
    pub after_install: Vec<AfterInstall>,
    pub after_install_note: String,
}

#[derive(Debug)]
pub struct DomainView {
    pub domain: String,
    pub first: String,
    pub last: String,
    pub flows: u64,
    pub bytes: String,
    pub protos: String,
    pub sources: String,
}

#[derive(Debug)]
pub struct AfterInstall {
    pub domain: String,
    pub after: String,
    pub count: u64,
}

#[derive(Debug)]
pub struct FlowView {
    pub anchor: String,
    pub alerted: bool,
    pub time: String,
    pub app: String,
    pub proto: String,
    pub dst: String,
    pub name: String,
    pub source: String,
    pub sni: String,
    pub http_host: String,
    pub bytes_out: String,
    pub bytes_in: String,
    pub duration: String,
    pub state: String,
}

pub fn render(page: Page) -> Result<String, ReportError> {
    Ok(page.render()?)
}

//! Headless Chromium for the report tests: load a file, dump its DOM after
//! the scripts ran, record the network log, take a screenshot.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The browser: `$NIGHTJAR_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NIGHTJAR_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// What one page load showed.
pub struct Load {
    /// The DOM after load, serialised.
    pub dom: String,
    /// URLs of the requests the page made (from the network log).
    pub urls: Vec<String>,
}

fn base_args(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

fn run(bin: &Path, args: &[String]) -> String {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait chromium").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader")
}

/// Loads `page` in a fresh profile and returns its DOM and the network log's URLs.
pub fn load(bin: &Path, page: &Path, work: &Path, tag: &str) -> Load {
    let profile = work.join(format!("profile-{tag}"));
    let netlog = work.join(format!("netlog-{tag}.json"));
    let mut args = base_args(&profile);
    args.push(format!("--log-net-log={}", netlog.display()));
    args.push("--net-log-capture-mode=Everything".into());
    args.push("--virtual-time-budget=3000".into());
    // Fewer of the browser's own requests in the log (those are told apart anyway).
    args.push("--disable-features=NetworkTimeServiceQuerying".into());
    args.push("--dump-dom".into());
    args.push(format!("file://{}", page.display()));
    let dom = run(bin, &args);
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    assert!(
        log.contains("\"events\""),
        "chromium wrote no network log at {}",
        netlog.display()
    );
    Load {
        dom,
        urls: page_requests(&log),
    }
}

/// Writes a PNG screenshot of `page` to `out`.
pub fn screenshot(bin: &Path, page: &Path, work: &Path, out: &Path, size: (u32, u32)) {
    let mut args = base_args(&work.join("profile-shot"));
    args.push(format!("--window-size={},{}", size.0, size.1));
    args.push(format!("--screenshot={}", out.display()));
    args.push(format!("file://{}", page.display()));
    run(bin, &args);
}

/// URLs of the requests the page made. A request made by the browser for itself (network
/// time, component updates, account checks: headless Chromium makes some whatever the flags)
/// has the initiator "not an origin" and no file:// isolation key; one a `file://` page made
/// has the page's opaque origin ("null") as initiator and `file://` in its isolation key.
fn page_requests(log: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(log).expect("net-log is JSON");
    let mut urls = Vec::new();
    for e in v["events"].as_array().into_iter().flatten() {
        let p = &e["params"];
        let Some(url) = p["url"].as_str() else {
            continue;
        };
        let nik = p["network_isolation_key"].as_str().unwrap_or("");
        let initiator = p["initiator"].as_str();
        let from_page =
            nik.starts_with("file://") || initiator.is_some_and(|i| i != "not an origin");
        if from_page && !urls.iter().any(|u| u == url) {
            urls.push(url.to_string());
        }
    }
    urls
}

/// Requests the page sent anywhere but to its own file.
pub fn network_urls(load: &Load) -> Vec<String> {
    load.urls
        .iter()
        .filter(|u| !u.starts_with("file://") && !u.starts_with("data:"))
        .cloned()
        .collect()
}

/// A loopback listener that counts connections: a page that fetched anything from it
/// shows up here even if the network log missed it.
pub struct Catcher {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Catcher {
    pub fn start() -> Catcher {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: the test stops it, and it never runs past five minutes.
            let until = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Acquire) && Instant::now() < until {
                match l.accept() {
                    Ok((conn, _)) => {
                        h.fetch_add(1, Ordering::AcqRel);
                        drop(conn);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Catcher {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Acquire)
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where test artifacts (screenshots) go: under the target directory.
pub fn artifact_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&d).expect("artifact dir");
    d
}

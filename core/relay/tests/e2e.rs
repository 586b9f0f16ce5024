//! End to end through a real TUN: a "device" namespace routes everything
//! into the relay, which dials a "far side" namespace over a veth pair where
//! the test servers run. Needs root (CAP_NET_ADMIN); skipped otherwise.
// Test helpers outside #[test] functions: failing loudly is their job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const NETNS: &str = env!("CARGO_BIN_EXE_nightjar-netns");
const SERVER: &str = env!("CARGO_BIN_EXE_nightjar-testserver");
const FAR_IP: &str = "10.112.0.2";
const BLOCKED_IP: &str = "10.112.0.3";

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The far-side namespace, its veth pair and its servers; torn down on drop.
struct FarSide {
    ns: String,
    veth: String,
    server: Option<Child>,
}

impl Drop for FarSide {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        ip(&["link", "del", &self.veth]);
        ip(&["netns", "del", &self.ns]);
    }
}

/// Both tests use the same far-side subnet: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn far_side(tag: &str) -> Option<FarSide> {
    let pid = std::process::id();
    let ns = format!("njf-{tag}-{pid}");
    let veth = format!("njv{tag}{}", pid % 100_000);
    let peer = format!("{veth}p");
    if !ip(&["netns", "add", &ns]) {
        return None;
    }
    let mut far = FarSide {
        ns: ns.clone(),
        veth: veth.clone(),
        server: None,
    };
    let ok = ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])
        && ip(&["link", "set", &peer, "netns", &ns])
        && ip(&["addr", "add", "10.112.0.1/24", "dev", &veth])
        && ip(&["link", "set", &veth, "up"])
        && ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{FAR_IP}/24"),
            "dev",
            &peer,
        ])
        && ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{BLOCKED_IP}/24"),
            "dev",
            &peer,
        ])
        && ip(&["-n", &ns, "link", "set", &peer, "up"])
        && ip(&["-n", &ns, "link", "set", "lo", "up"]);
    assert!(ok, "far side setup failed");
    let mut server = Command::new("ip")
        .args(["netns", "exec", &ns, SERVER, "serve", "--bind", "0.0.0.0"])
        .args([
            "--answer",
            FAR_IP,
            "--name",
            &format!("blocked.test={BLOCKED_IP}"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start servers");
    // Wait for "ready" so the first client does not race the listeners.
    let mut line = String::new();
    let stdout = server.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    far.server = Some(server);
    Some(far)
}

fn have_net_admin() -> bool {
    let probe = format!("njprobe-{}", std::process::id());
    let ok = ip(&["netns", "add", &probe]);
    if ok {
        ip(&["netns", "del", &probe]);
    }
    ok
}

/// Run `script` inside a device namespace behind the relay.
fn behind_relay(tag: &str, extra: &[&str], script: &str) -> Output {
    let pid = std::process::id();
    let child = Command::new(NETNS)
        .args(["--ns", &format!("njd-{tag}-{pid}")])
        .args(["--tun", &format!("njt{tag}{}", pid % 100_000)])
        .args(["--dns-upstream", &format!("{FAR_IP}:53"), "--stats"])
        .args(extra)
        .args(["--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nightjar-netns");
    let out = child.wait_with_output().expect("nightjar-netns");
    eprintln!(
        "--- {tag} stdout\n{}\n--- {tag} stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stat(stderr: &str, key: &str) -> u64 {
    let pat = format!("{key}: ");
    stderr
        .split(&pat)
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in stats"))
}

#[test]
fn traffic_dns_and_policy_through_the_relay() {
    if !have_net_admin() {
        eprintln!("SKIPPED: needs root/CAP_NET_ADMIN");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_far) = far_side("a") else {
        eprintln!("SKIPPED: needs root/CAP_NET_ADMIN");
        return;
    };
    let script = format!(
        "set -e
         {SERVER} get {FAR_IP}:8080 10485760
         {SERVER} dig 10.111.0.53 www.test
         {SERVER} dig 10.111.0.53 www.test --tcp
         {SERVER} dig 10.111.0.53 missing.test
         {SERVER} dig 10.111.0.53 ads.nx.test
         {SERVER} echo {FAR_IP}:7
         {SERVER} dig 10.111.0.53 blocked.test
         {SERVER} connect {BLOCKED_IP}:8080
         {SERVER} connect {FAR_IP}:8080
         {SERVER} conns {FAR_IP}:8080 150 65536"
    );
    let out = behind_relay(
        "a",
        &["--block", "blocked.test", "--nxdomain", "nx.test"],
        &script,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "script failed");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("ok ") && lines[0].ends_with(" 10485760"),
        "10 MB intact: {}",
        lines[0]
    );
    assert_eq!(lines[1], format!("NoError {FAR_IP}"), "DNS over UDP");
    assert_eq!(lines[2], format!("NoError {FAR_IP}"), "DNS over TCP");
    assert_eq!(lines[3], "NXDomain ", "upstream NXDOMAIN relayed");
    assert_eq!(lines[4], "NXDomain ", "policy NXDOMAIN");
    assert_eq!(lines[5], "echo ok");
    assert_eq!(lines[6], format!("NoError {BLOCKED_IP}"));
    assert_eq!(lines[7], "refused", "flow to a blocked name gets RST");
    assert_eq!(lines[8], "connected", "other flows to the same server pass");
    assert_eq!(lines[9], "150/150 ok");
    assert_eq!(stat(&stderr, "tcp_blocked"), 1);
    assert_eq!(stat(&stderr, "dns_nxdomain"), 1);
    assert_eq!(stat(&stderr, "dns_forwarded"), 3, "UDP queries forwarded");
    assert!(stat(&stderr, "tcp_bytes_down") >= 10_485_760 + 150 * 65_536);
}

#[test]
fn reconnect_storm_is_refused_not_queued() {
    if !have_net_admin() {
        eprintln!("SKIPPED: needs root/CAP_NET_ADMIN");
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_far) = far_side("b") else {
        eprintln!("SKIPPED: needs root/CAP_NET_ADMIN");
        return;
    };
    // 200 simultaneous downloads against a cap of 32 sockets: some are
    // refused with RST (the client reports errors), none wait in a queue,
    // and the socket count never passes the cap.
    let script = format!("{SERVER} conns {FAR_IP}:8080 200 262144 || true; sleep 0.2");
    let out = behind_relay("b", &["--max-tcp", "32"], &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    let ok: u64 = stdout
        .split('/')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("conns output");
    let refused = stat(&stderr, "tcp_refused_cap");
    assert!(refused > 0, "the cap refused some");
    assert!(ok > 0, "and admitted others");
    assert!(stat(&stderr, "tcp_sockets") <= 32);
    assert!(stat(&stderr, "tcp_buffers") <= stat(&stderr, "tcp_buffers_cap"));
    std::thread::sleep(Duration::from_millis(10));
}

//! Runs a command in a network namespace whose only way out is a TUN device
//! served by the Nightjar relay (and engine) in the outer namespace: the
//! namespace plays the phone, this process plays the VPN app.
//!
//! `nightjar-netns [options] -- curl https://...`
//!
//! Needs CAP_NET_ADMIN. Namespace, device and resolv.conf are removed on
//! exit, on failure and on SIGINT/SIGTERM.

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{ErrorKind, Write};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;
    use std::process::{Child, Command, ExitCode, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use clap::Parser;
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token as MioToken};
    use nightjar_relay::{
        DnsConfig, DnsDecision, DnsPolicy, DnsUpstream, FlowPolicy, NameList, PipelinePolicy,
        Relay, RelayConfig, RelayEvent, SecureDnsConfig, StdDialer, Token as RelayToken,
        lock_pipeline, pem_certificates, record_relay_event,
    };
    use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
    use signal_hook_mio::v1_0::Signals;

    const TUN: MioToken = MioToken(0);
    const SIGNALS: MioToken = MioToken(1);
    const RELAY_TOKEN_BASE: usize = 16;
    /// Tunnel packets read before the relay is polled, so its input queue
    /// never fills while the tunnel has more.
    const READ_BATCH: usize = 64;

    /// Command line.
    #[derive(Debug, Parser)]
    #[command(
        name = "nightjar-netns",
        about = "Run a command behind the Nightjar relay"
    )]
    pub struct Args {
        /// Network namespace to create (the "device").
        #[arg(long, default_value = "nj-dev")]
        ns: String,
        /// TUN device name.
        #[arg(long, default_value = "njtun0")]
        tun: String,
        /// Tunnel MTU.
        #[arg(long, default_value_t = 1500)]
        mtu: u16,
        /// The device's address on the tunnel (a /24 is routed).
        #[arg(long, default_value = "10.111.0.2")]
        device_ip: Ipv4Addr,
        /// The relay's own address on the tunnel.
        #[arg(long, default_value = "10.111.0.1")]
        relay_ip: Ipv4Addr,
        /// The tunnel's DNS server address, written to the namespace's resolv.conf.
        #[arg(long, default_value = "10.111.0.53")]
        dns_ip: Ipv4Addr,
        /// Upstream resolver for the tunnel's DNS: `IP:PORT` or
        /// `udp://IP:PORT` (plain UDP/TCP), `tls://IP[:853]#NAME`
        /// (DNS-over-TLS) or `https://IP[:443][/PATH]#NAME` (DNS-over-HTTPS,
        /// path default /dns-query). NAME is the certificate's server name.
        #[arg(long, default_value = "127.0.0.53:53", value_parser = parse_upstream)]
        dns_upstream: DnsUpstream,
        /// Also trust the CA certificates in this PEM file for a TLS or
        /// HTTPS DNS upstream (besides the platform's roots). For test servers.
        #[arg(long)]
        dns_ca: Option<PathBuf>,
        /// Answer NXDOMAIN for this name and its subdomains (repeatable).
        #[arg(long)]
        nxdomain: Vec<String>,
        /// Answer 0.0.0.0 / :: for this name and its subdomains (repeatable).
        #[arg(long)]
        sinkhole: Vec<String>,
        /// Reset connections to addresses DNS gave for this name (repeatable).
        #[arg(long)]
        block: Vec<String>,
        /// TCP connections relayed at once at most.
        #[arg(long, default_value_t = 1024)]
        max_tcp: usize,
        /// Per-socket TCP buffer (each direction), bytes.
        #[arg(long, default_value_t = 256 * 1024)]
        tcp_buffer: usize,
        /// All TCP buffers together, bytes.
        #[arg(long, default_value_t = 512 * 1024 * 1024)]
        buffer_pool: usize,
        /// Packets the kernel queues on the TUN towards the relay. Linux's
        /// default of 500 is less than four streams' windows (4 x 256 KiB), so
        /// a relay that falls behind for a moment makes the kernel drop and
        /// the device retransmit; a longer queue absorbs that.
        #[arg(long, default_value_t = 4096)]
        tun_queue: u32,
        /// Threat-intel feed (any format `nightjar intel compile` reads) to run
        /// the alert pipeline against; alerts are printed to stderr (repeatable).
        #[arg(long)]
        intel_feed: Vec<PathBuf>,
        /// Block what the intel feeds list at this severity or above
        /// (low, medium, high): the pipeline's policy turns such alerts into
        /// blocks, and the relay's DNS and flow hooks ask the pipeline, so a
        /// listed name gets NXDOMAIN, a flow to a listed address or name gets
        /// RST, and the alert records how it was enforced.
        #[arg(long, value_parser = ["low", "medium", "high"], requires = "intel_feed")]
        intel_block: Option<String>,
        /// The app every flow is attributed to (the namespace is one "app").
        #[arg(long, default_value_t = 10_001)]
        app_uid: u32,
        /// The package name alerts show for that app.
        #[arg(long, default_value = "org.nightjar.netns")]
        app_id: String,
        /// Print relay statistics and peak RSS to stderr on exit.
        #[arg(long)]
        stats: bool,
        /// The command to run inside the namespace.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    }

    /// Removes what setup created, however we leave.
    struct Cleanup {
        ns: String,
        resolv_dir: PathBuf,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns])
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&self.resolv_dir);
        }
    }

    fn ip(args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn now_us() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }

    /// Both policies from the command line.
    #[derive(Debug)]
    struct Policies {
        nxdomain: NameList,
        sinkhole: NameList,
        block: NameList,
    }

    impl DnsPolicy for Policies {
        fn decide(&self, qname: &str, app: Option<u32>) -> DnsDecision {
            match DnsPolicy::decide(&self.nxdomain, qname, app) {
                DnsDecision::Forward => DnsPolicy::decide(&self.sinkhole, qname, app),
                d => d,
            }
        }
    }

    impl FlowPolicy for Policies {
        fn decide(
            &self,
            dst: SocketAddr,
            name: Option<&str>,
            app: Option<u32>,
        ) -> nightjar_relay::FlowDecision {
            FlowPolicy::decide(&self.block, dst, name, app)
        }
    }

    fn parse_upstream(v: &str) -> Result<DnsUpstream, String> {
        v.parse()
            .map_err(|e: nightjar_relay::UpstreamError| e.to_string())
    }

    fn secure_dns(args: &Args) -> Result<Option<SecureDnsConfig>, String> {
        let roots = match &args.dns_ca {
            Some(path) => std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| pem_certificates(&pem).map_err(|e| e.to_string()))
                .map_err(|e| format!("{}: {e}", path.display()))?,
            None => Vec::new(),
        };
        args.dns_upstream
            .secure_config(roots)
            .map_err(|e| format!("dns upstream: {e}"))
    }

    fn policies(args: &Args) -> Policies {
        Policies {
            nxdomain: NameList::new(&args.nxdomain, DnsDecision::NxDomain),
            sinkhole: NameList::new(&args.sinkhole, DnsDecision::Sinkhole),
            block: NameList::new(&args.block, DnsDecision::Forward),
        }
    }

    fn setup(args: &Args) -> Result<(tun_rs::SyncDevice, Cleanup), String> {
        let tun = tun_rs::DeviceBuilder::new()
            .name(&args.tun)
            .mtu(args.mtu)
            .build_sync()
            .map_err(|e| match e.kind() {
                ErrorKind::PermissionDenied => {
                    "needs root/CAP_NET_ADMIN (opening /dev/net/tun was refused)".to_owned()
                }
                _ => format!("creating TUN {}: {e}", args.tun),
            })?;
        ip(&["netns", "add", &args.ns]).map_err(|e| {
            if e.contains("Operation not permitted") {
                "needs root/CAP_NET_ADMIN (ip netns add was refused)".to_owned()
            } else {
                e
            }
        })?;
        let cleanup = Cleanup {
            ns: args.ns.clone(),
            resolv_dir: PathBuf::from("/etc/netns").join(&args.ns),
        };
        let ns = args.ns.as_str();
        let dev = args.tun.as_str();
        let mtu = args.mtu.to_string();
        let cidr = format!("{}/24", args.device_ip);
        ip(&["link", "set", dev, "netns", ns])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
        let qlen = args.tun_queue.to_string();
        ip(&[
            "-n",
            ns,
            "link",
            "set",
            dev,
            "mtu",
            &mtu,
            "txqueuelen",
            &qlen,
            "up",
        ])?;
        ip(&["-n", ns, "route", "add", "default", "dev", dev])?;
        std::fs::create_dir_all(&cleanup.resolv_dir).map_err(|e| format!("resolv.conf: {e}"))?;
        std::fs::write(
            cleanup.resolv_dir.join("resolv.conf"),
            format!("nameserver {}\n", args.dns_ip),
        )
        .map_err(|e| format!("resolv.conf: {e}"))?;
        tun.set_nonblocking(true)
            .map_err(|e| format!("tun nonblocking: {e}"))?;
        Ok((tun, cleanup))
    }

    fn status_line(key: &str) -> Option<String> {
        let s = std::fs::read_to_string("/proc/self/status").ok()?;
        s.lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.trim_start_matches(key).trim().to_owned())
    }

    fn cpu_seconds() -> Option<f64> {
        let s = std::fs::read_to_string("/proc/self/stat").ok()?;
        let rest = s.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15; after "pid (comm)" they sit at 11, 12.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// The alert pipeline over the engine's events, when a feed was given.
    /// Shared with the relay's policy hooks (same thread; the lock is never
    /// contended).
    struct Detection {
        pipeline: Arc<Mutex<nightjar_detect::Pipeline>>,
        uid: u32,
    }

    impl Detection {
        fn new(args: &Args) -> Result<Option<Self>, String> {
            if args.intel_feed.is_empty() {
                return Ok(None);
            }
            let compiled =
                std::env::temp_dir().join(format!("nightjar-netns-{}.nji", std::process::id()));
            let summary = nightjar_intel::compile_feeds(&args.intel_feed, &[], &compiled, now_us())
                .map_err(|e| format!("intel: {e}"));
            let index = summary.and_then(|_| {
                nightjar_intel::Index::open(&compiled).map_err(|e| format!("intel: {e}"))
            });
            // Mapped read-only: the open index outlives its name.
            let _ = std::fs::remove_file(&compiled);
            let mut config = nightjar_detect::PipelineConfig::default();
            if let Some(level) = &args.intel_block {
                use nightjar_detect::Action::Block;
                let p = &mut config.policy;
                p.high = Block;
                if level != "high" {
                    p.medium = Block;
                }
                if level == "low" {
                    p.low = Block;
                }
            }
            let mut pipeline =
                nightjar_detect::Pipeline::new(config).map_err(|e| format!("pipeline: {e}"))?;
            pipeline.set_intel(Some(std::sync::Arc::new(index?)));
            // Installed long ago, so only intel speaks for it.
            let installed_us = now_us().saturating_sub(30 * 86_400 * 1_000_000);
            pipeline.set_inventory(&[nightjar_detect::InventoryApp {
                uid: args.app_uid,
                id: args.app_id.clone(),
                name: args.app_id.clone(),
                installed_us,
                updated_us: installed_us,
            }]);
            Ok(Some(Detection {
                pipeline: Arc::new(Mutex::new(pipeline)),
                uid: args.app_uid,
            }))
        }

        /// What the relay did, told to the pipeline before the engine's events
        /// of the same poll (the relay decides on the request, the engine
        /// reports on the answer).
        fn on_relay_event(&mut self, now: u64, event: &RelayEvent) {
            record_relay_event(
                &mut lock_pipeline(&self.pipeline),
                now,
                Some(self.uid),
                event,
            );
        }

        fn on_event(&mut self, now: u64, event: &nightjar_engine::Event) {
            use nightjar_engine::Event;
            let flow = match event {
                Event::Dns(tx) => Some(tx.flow_ref),
                Event::Hello(h) => {
                    eprintln!(
                        "nightjar-netns hello: flow={} resp={} sni={}",
                        h.flow.0,
                        h.resp,
                        h.server_name.as_deref().unwrap_or("-")
                    );
                    Some(h.flow.0)
                }
                Event::Http(r) => Some(r.flow.0),
                Event::FlowCompleted(r) => Some(r.id.0),
                _ => None,
            };
            let mut p = lock_pipeline(&self.pipeline);
            if let Some(f) = flow {
                p.attribute(f, self.uid);
            }
            p.on_event(now, event);
            while let Some(a) = p.next_alert() {
                let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
                eprintln!(
                    "nightjar-netns alert: detector={:?} severity={:?} domain={} ips=[{}] app={} flow_ids={:?} action={} enforcement={}",
                    a.detector,
                    a.severity,
                    a.domain.as_deref().unwrap_or("-"),
                    ips.join(","),
                    a.app.as_deref().unwrap_or("-"),
                    a.flow_ids,
                    a.action.name(),
                    a.enforcement.map_or("-", |e| e.name())
                );
            }
        }
    }

    pub fn main() -> ExitCode {
        let args = Args::parse();
        let (tun, cleanup) = match setup(&args) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("nightjar-netns: {e}");
                return ExitCode::from(77);
            }
        };
        let code = match run(&args, &tun) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("nightjar-netns: {e}");
                ExitCode::from(70)
            }
        };
        drop(tun);
        drop(cleanup);
        code
    }

    fn run(args: &Args, tun: &tun_rs::SyncDevice) -> Result<ExitCode, String> {
        let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| format!("poll: {e}"))?;
        let dialer = StdDialer::new(registry, RELAY_TOKEN_BASE);
        let config = RelayConfig {
            ipv4: args.relay_ip,
            mtu: usize::from(args.mtu),
            dns: Some(DnsConfig {
                addr: IpAddr::V4(args.dns_ip),
                upstream: args.dns_upstream.addr,
                max_inflight: 256,
                timeout_us: 5_000_000,
            }),
            max_tcp: args.max_tcp,
            tcp_rx_buffer: args.tcp_buffer,
            tcp_tx_buffer: args.tcp_buffer,
            buffer_pool_bytes: args.buffer_pool,
            seed: now_us() ^ u64::from(std::process::id()),
            ..RelayConfig::default()
        };
        let mut detection = Detection::new(args)?;
        let (dns_policy, flow_policy): (Box<dyn DnsPolicy>, Box<dyn FlowPolicy>) =
            match (&detection, &args.intel_block) {
                // `--intel-block`: the relay asks the pipeline, so what it blocks and what the
                // alerts say it asked for cannot disagree.
                (Some(d), Some(_)) => {
                    let policy = PipelinePolicy::new(Arc::clone(&d.pipeline), now_us);
                    (Box::new(policy.clone()), Box::new(policy))
                }
                _ => (Box::new(policies(args)), Box::new(policies(args))),
            };
        let mut relay = Relay::new(config, Box::new(dialer), dns_policy, flow_policy, now_us())
            .map_err(|e| format!("relay: {e}"))?;
        if let Some(secure) = secure_dns(args)? {
            relay
                .set_secure_dns(secure)
                .map_err(|e| format!("relay: {e}"))?;
        }

        let fd = tun.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), TUN, Interest::READABLE)
            .map_err(|e| format!("register tun: {e}"))?;
        let mut signals =
            Signals::new([SIGINT, SIGTERM, SIGCHLD]).map_err(|e| format!("signals: {e}"))?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| format!("register signals: {e}"))?;

        let mut child: Child = Command::new("ip")
            .args(["netns", "exec", &args.ns])
            .args(&args.command)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;

        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65536];
        let mut tun_write_dropped = 0u64;
        let mut peak_relay_bytes = 0usize;
        let mut turns = 0u64;
        let mut stop: Option<ExitCode> = None;
        let mut tun_readable = true;
        while stop.is_none() {
            let now = now_us();
            let timeout = if tun_readable {
                Some(Duration::ZERO)
            } else {
                relay
                    .next_deadline(now)
                    .map(|d| Duration::from_micros(d.saturating_sub(now)))
            };
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            for ev in events.iter() {
                match ev.token() {
                    TUN => tun_readable = true,
                    SIGNALS => {
                        for sig in signals.pending() {
                            if sig == SIGINT || sig == SIGTERM {
                                let _ = child.kill();
                            }
                        }
                        if let Ok(Some(status)) = child.try_wait() {
                            let code = status.code().unwrap_or(1);
                            stop = Some(ExitCode::from(u8::try_from(code).unwrap_or(1)));
                        }
                    }
                    t => {
                        if let Some(rt) =
                            t.0.checked_sub(RELAY_TOKEN_BASE)
                                .map(|t| RelayToken(t as u64))
                        {
                            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                                relay.on_outbound_readable(rt);
                            }
                            if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                                relay.on_outbound_writable(rt);
                            }
                        }
                    }
                }
            }
            // Edge-triggered: read the tunnel dry, a batch at a time.
            if tun_readable {
                let now = now_us();
                for _ in 0..READ_BATCH {
                    match tun.recv(&mut buf) {
                        Ok(n) => relay.on_tun_packet(now, buf.get(..n).unwrap_or_default()),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            tun_readable = false;
                            break;
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(format!("tun read: {e}")),
                    }
                }
            }
            relay.poll_with(now_us(), |packet| {
                if tun.send(packet).is_err() {
                    tun_write_dropped += 1;
                }
            });
            while let Some(ev) = relay.next_event() {
                log::info!("{ev:?}");
                if let Some(d) = detection.as_mut() {
                    d.on_relay_event(now_us(), &ev);
                }
            }
            while let Some(ev) = relay.engine_mut().next_event() {
                if let Some(d) = detection.as_mut() {
                    d.on_event(now_us(), &ev);
                }
            }
            // The memory report walks the engine's tables too: sample it.
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(64) {
                peak_relay_bytes = peak_relay_bytes.max(relay.memory().relay_total());
            }
        }
        // Flows still open complete now, so their alerts are not lost.
        relay.engine_mut().flush();
        while let Some(ev) = relay.engine_mut().next_event() {
            if let Some(d) = detection.as_mut() {
                d.on_event(now_us(), &ev);
            }
        }
        if args.stats {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "nightjar-netns stats: {:?}", relay.stats());
            let _ = writeln!(err, "nightjar-netns memory: {:?}", relay.memory());
            let _ = writeln!(
                err,
                "nightjar-netns peak_relay_bytes={peak_relay_bytes} tun_write_dropped={tun_write_dropped} \
                 peak_rss={} cpu_seconds={:.2}",
                status_line("VmHWM:").unwrap_or_default(),
                cpu_seconds().unwrap_or(0.0)
            );
        }
        Ok(stop.unwrap_or(ExitCode::FAILURE))
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("nightjar-netns runs on Linux only");
}

//! The built-in demo: fifteen minutes of a phone with six apps, and its ground truth.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::BTreeSet;

use nightjar_wire::Direction;

use crate::BuildError;
use crate::payload::{ClientHelloSpec, DnsAnswer, QueryType, ntp_request, ntp_response};
use crate::rng::SplitMix64;
use crate::session::{
    AppExchange, DnsOutcome, FlowSpec, SynthPacket, TlsPlan, dns_tcp, dns_udp, http_connection,
    icmp_ping, tls_connection, udp_exchange,
};

/// 2026-11-01T09:00:00Z, when the demo starts.
pub const START_MICROS: u64 = 1_793_523_600_000_000;
/// How long the demo's activity lasts.
pub const DURATION_MICROS: u64 = 15 * 60 * SECOND;
/// The device's tunnel IPv4 address.
pub const DEVICE_V4: Ipv4Addr = Ipv4Addr::new(10, 111, 222, 2);
/// The device's tunnel IPv6 address.
pub const DEVICE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// The tunnel's DNS resolver, which every lookup goes to.
pub const RESOLVER_V4: Ipv4Addr = Ipv4Addr::new(10, 111, 222, 1);
/// The domain the flashlight app beacons to: feed it to a demo threat list to see a
/// malicious-contact alert.
pub const SUSPICIOUS_DOMAIN: &str = "sync.brightbeam-cdn.example";
/// The browser's uid.
pub const UID_BROWSER: u32 = 10_112;
/// The messenger's uid.
pub const UID_MESSENGER: u32 = 10_140;
/// The weather app's uid.
pub const UID_WEATHER: u32 = 10_157;
/// The news app's uid.
pub const UID_NEWS: u32 = 10_163;
/// The flashlight app's uid.
pub const UID_FLASHLIGHT: u32 = 10_201;
/// Android's `system` uid, owner of NTP and the system update check.
pub const UID_SYSTEM: u32 = 1000;

const SECOND: u64 = 1_000_000;
const MILLI: u64 = 1_000;
const DAY: u64 = 86_400 * SECOND;
/// Every flow ends before this, teardown included.
const END_MICROS: u64 = START_MICROS + DURATION_MICROS;

/// An installed app, as the platform's package manager would report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// Linux uid the platform gives the app.
    pub uid: u32,
    /// Package name.
    pub package: String,
    /// Human-readable name.
    pub label: String,
    /// Install time, microseconds since the Unix epoch.
    pub installed_micros: u64,
    /// Last update time, microseconds since the Unix epoch.
    pub updated_micros: u64,
}

/// The ground truth for one transport flow the scenario generated.
///
/// ICMP flows have port 0 on both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTruth {
    /// The owning app; `None` for traffic the platform cannot attribute.
    pub app_uid: Option<u32>,
    /// IP protocol number (1, 6, 17 or 58).
    pub proto: u8,
    /// The device's end.
    pub device: SocketAddr,
    /// The network's end.
    pub remote: SocketAddr,
    /// The name the flow belongs to: the queried name for DNS, the looked-up name otherwise.
    pub name: Option<String>,
    /// Packets from the device.
    pub packets_out: u64,
    /// Packets to the device.
    pub packets_in: u64,
    /// IP bytes (headers included) from the device.
    pub ip_bytes_out: u64,
    /// IP bytes (headers included) to the device.
    pub ip_bytes_in: u64,
    /// Time of the flow's first packet.
    pub first_micros: u64,
    /// Time of the flow's last packet.
    pub last_micros: u64,
}

/// A generated session: the apps, every packet in time order, and the truth per flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scenario {
    /// When the scenario starts.
    pub start_micros: u64,
    /// Apps installed on the phone.
    pub apps: Vec<AppInfo>,
    /// Packets, sorted by time.
    pub packets: Vec<SynthPacket>,
    /// One entry per transport flow, sorted by first packet.
    pub truth: Vec<FlowTruth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// A server the apps talk to.
struct Site {
    name: &'static str,
    cnames: &'static [&'static str],
    v4: Ipv4Addr,
    v6: Option<Ipv6Addr>,
}

const WIKIPEDIA: Site = Site {
    name: "en.wikipedia.org",
    cnames: &["dyna.wikimedia.org"],
    v4: Ipv4Addr::new(198, 51, 100, 10),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10)),
};
const DUCKDUCKGO: Site = Site {
    name: "duckduckgo.com",
    cnames: &[],
    v4: Ipv4Addr::new(198, 51, 100, 20),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 0x20)),
};
const GITHUB: Site = Site {
    name: "github.com",
    cnames: &[],
    v4: Ipv4Addr::new(198, 51, 100, 30),
    v6: None,
};
const NEVERSSL: Site = Site {
    name: "neverssl.com",
    cnames: &[],
    v4: Ipv4Addr::new(203, 0, 113, 80),
    v6: None,
};
const MESSENGER: Site = Site {
    name: "chat.messenger.example.net",
    cnames: &[],
    v4: Ipv4Addr::new(198, 51, 100, 50),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, 0x10)),
};
const WEATHER: Site = Site {
    name: "api.weather.example.com",
    cnames: &["weather-api.edge.example.net"],
    v4: Ipv4Addr::new(198, 51, 100, 40),
    v6: None,
};
const NEWS_API: Site = Site {
    name: "api.news.example.org",
    cnames: &[],
    v4: Ipv4Addr::new(198, 51, 100, 60),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x60, 0, 0, 0, 0, 0x60)),
};
const NEWS_CDN: Site = Site {
    name: "img.news.example.org",
    cnames: &[
        "img.news.example.org.cdn.example.net",
        "e12.cdn.example.net",
    ],
    v4: Ipv4Addr::new(198, 51, 100, 61),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0x61, 0, 0, 0, 0, 0x12)),
};
const BEACON: Site = Site {
    name: SUSPICIOUS_DOMAIN,
    cnames: &[],
    v4: Ipv4Addr::new(203, 0, 113, 66),
    v6: None,
};
const NTP: Site = Site {
    name: "time.android.com",
    cnames: &[],
    v4: Ipv4Addr::new(192, 0, 2, 123),
    v6: None,
};
const SYSTEM_UPDATE: Site = Site {
    name: "update.system.example.com",
    cnames: &[],
    v4: Ipv4Addr::new(192, 0, 2, 80),
    v6: None,
};
const PING_TARGET: Site = Site {
    name: "ping.example.net",
    cnames: &[],
    v4: Ipv4Addr::new(192, 0, 2, 200),
    v6: Some(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x200)),
};

const BROWSER_UA: &str = "Mozilla/5.0 (Linux; Android 15) Mobile";

/// Accumulates flows and their truth while the scenario is written.
struct Builder {
    rng: SplitMix64,
    /// Device ports already used, so every flow has its own 5-tuple.
    ports: BTreeSet<u16>,
    packets: Vec<SynthPacket>,
    truth: Vec<FlowTruth>,
}

impl Builder {
    /// A random unused port from Linux's ephemeral range (32768-60999).
    fn port(&mut self) -> u16 {
        let mut port = self.rng.range(32_768, 61_000) as u16;
        while !self.ports.insert(port) {
            // The range holds 28k ports and a scenario uses a few hundred, so this ends fast.
            port = if port >= 60_999 { 32_768 } else { port + 1 };
        }
        port
    }

    fn flow(&mut self, app: Option<u32>, device: IpAddr, remote: SocketAddr, at: u64) -> FlowSpec {
        let rtt_micros = if remote.ip() == IpAddr::V4(RESOLVER_V4) {
            self.rng.range(3 * MILLI, 18 * MILLI)
        } else {
            self.rng.range(18 * MILLI, 90 * MILLI)
        };
        FlowSpec {
            app_uid: app,
            device: SocketAddr::new(device, self.port()),
            remote,
            start_micros: at,
            rtt_micros,
            seed: self.rng.next_u64(),
        }
    }

    /// Adds a flow's packets and its truth; returns the time of its last packet.
    fn record(&mut self, spec: &FlowSpec, proto: u8, name: &str, packets: Vec<SynthPacket>) -> u64 {
        let mut truth = FlowTruth {
            app_uid: spec.app_uid,
            proto,
            device: spec.device,
            remote: spec.remote,
            name: Some(name.to_owned()),
            packets_out: 0,
            packets_in: 0,
            ip_bytes_out: 0,
            ip_bytes_in: 0,
            first_micros: packets.first().map_or(spec.start_micros, |p| p.ts_micros),
            last_micros: packets.last().map_or(spec.start_micros, |p| p.ts_micros),
        };
        if proto == 1 || proto == 58 {
            truth.device.set_port(0);
            truth.remote.set_port(0);
        }
        for p in &packets {
            let len = p.bytes.len() as u64;
            if p.direction == Direction::Outbound {
                truth.packets_out += 1;
                truth.ip_bytes_out += len;
            } else {
                truth.packets_in += 1;
                truth.ip_bytes_in += len;
            }
        }
        let last = truth.last_micros;
        self.truth.push(truth);
        self.packets.extend(packets);
        last
    }

    /// One DNS lookup over UDP to the tunnel resolver; returns when it ended.
    fn lookup(
        &mut self,
        app: Option<u32>,
        name: &str,
        qtype: QueryType,
        outcome: &DnsOutcome<'_>,
        at: u64,
    ) -> Result<u64, BuildError> {
        let spec = self.flow(app, DEVICE_V4.into(), (RESOLVER_V4, 53).into(), at);
        let id = self.rng.next_u16();
        let packets = dns_udp(&spec, id, name, qtype, outcome)?;
        Ok(self.record(&spec, 17, name, packets))
    }

    /// Resolves a site for `family` (AAAA and A in parallel for IPv6, as Android does) and
    /// returns the address to connect to and when the answers were in.
    fn resolve(
        &mut self,
        app: Option<u32>,
        site: &Site,
        family: Family,
        at: u64,
    ) -> Result<(IpAddr, u64), BuildError> {
        let ttl = if site.name == SUSPICIOUS_DOMAIN {
            30
        } else {
            300
        };
        let v4 = [IpAddr::V4(site.v4)];
        let a = DnsOutcome::Answer(DnsAnswer {
            cnames: site.cnames,
            addrs: &v4,
            ttl,
        });
        match (family, site.v6) {
            (Family::V6, Some(v6)) => {
                let v6s = [IpAddr::V6(v6)];
                let aaaa = DnsOutcome::Answer(DnsAnswer {
                    cnames: site.cnames,
                    addrs: &v6s,
                    ttl,
                });
                let t1 = self.lookup(app, site.name, QueryType::Aaaa, &aaaa, at)?;
                let t2 = self.lookup(app, site.name, QueryType::A, &a, at + 300)?;
                Ok((IpAddr::V6(v6), t1.max(t2)))
            }
            _ => {
                let t = self.lookup(app, site.name, QueryType::A, &a, at)?;
                Ok((IpAddr::V4(site.v4), t))
            }
        }
    }

    fn device_for(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => DEVICE_V4.into(),
            IpAddr::V6(_) => DEVICE_V6.into(),
        }
    }

    /// A TLS connection to an already-resolved address; returns when it ended.
    #[allow(clippy::too_many_arguments)]
    fn tls(
        &mut self,
        app: u32,
        site: &Site,
        remote: IpAddr,
        at: u64,
        alpn: &[&str],
        post_quantum: bool,
        server_flight_len: usize,
        exchanges: &[AppExchange],
        close: bool,
    ) -> Result<u64, BuildError> {
        let spec = self.flow(
            Some(app),
            Self::device_for(remote),
            (remote, 443).into(),
            at,
        );
        let plan = TlsPlan {
            hello: ClientHelloSpec {
                server_name: site.name,
                alpn,
                post_quantum,
                seed: self.rng.next_u64(),
            },
            server_flight_len,
            exchanges,
            close,
        };
        let packets = tls_connection(&spec, &plan)?;
        Ok(self.record(&spec, 6, site.name, packets))
    }

    /// A browser page load: look the site up, then fetch over TLS with a post-quantum hello.
    fn browse(
        &mut self,
        site: &Site,
        family: Family,
        at: u64,
        responses: &[usize],
    ) -> Result<u64, BuildError> {
        let (addr, t) = self.resolve(Some(UID_BROWSER), site, family, at)?;
        let exchanges: Vec<AppExchange> = responses
            .iter()
            .enumerate()
            .map(|(i, &response_len)| AppExchange {
                gap_micros: if i == 0 { 500 } else { 1500 * MILLI },
                request_len: 420,
                response_len,
            })
            .collect();
        self.tls(
            UID_BROWSER,
            site,
            addr,
            t + 2 * MILLI,
            &["h2", "http/1.1"],
            true,
            4200,
            &exchanges,
            true,
        )
    }

    fn jitter(&mut self, max: u64) -> u64 {
        self.rng.range(0, 2 * max + 1)
    }

    /// A random-looking name as domain-generation algorithms make them.
    fn dga_name(&mut self) -> String {
        const TLDS: [&str; 4] = ["com", "net", "info", "biz"];
        let len = self.rng.range(12, 19);
        let mut label: String = (0..len)
            .map(|_| char::from(b'a' + self.rng.range(0, 26) as u8))
            .collect();
        let tld = TLDS
            .get(self.rng.range(0, TLDS.len() as u64) as usize)
            .copied()
            .unwrap_or("com");
        label.push('.');
        label.push_str(tld);
        label
    }
}

fn apps() -> Vec<AppInfo> {
    let app = |uid, package: &str, label: &str, installed, updated| AppInfo {
        uid,
        package: package.to_owned(),
        label: label.to_owned(),
        installed_micros: installed,
        updated_micros: updated,
    };
    vec![
        app(
            UID_SYSTEM,
            "android",
            "Android System",
            START_MICROS - 400 * DAY,
            START_MICROS - 20 * DAY,
        ),
        app(
            UID_BROWSER,
            "com.example.browser",
            "Browser",
            START_MICROS - 210 * DAY,
            START_MICROS - 6 * DAY,
        ),
        app(
            UID_MESSENGER,
            "com.example.messenger",
            "Messenger",
            START_MICROS - 380 * DAY,
            START_MICROS - 12 * DAY,
        ),
        app(
            UID_WEATHER,
            "com.example.weather",
            "Weather",
            START_MICROS - 95 * DAY,
            START_MICROS - 30 * DAY,
        ),
        app(
            UID_NEWS,
            "com.example.news",
            "News",
            START_MICROS - 33 * DAY,
            START_MICROS - 2 * DAY,
        ),
        app(
            UID_FLASHLIGHT,
            "com.brightbeam.flashlight",
            "Flashlight Pro",
            FLASHLIGHT_INSTALLED,
            FLASHLIGHT_INSTALLED,
        ),
    ]
}

/// The flashlight app is installed two minutes into the demo.
pub const FLASHLIGHT_INSTALLED: u64 = START_MICROS + 120 * SECOND;

/// The built-in demo for `seed`. Timing jitter, ports, DNS ids, DGA names, sequence numbers
/// and key material depend on the seed; the story does not.
///
/// Every input is a fixed, valid message, and [`try_phone_session`] is tested to succeed, so
/// the error arm (an empty scenario) exists only to avoid a panic path.
pub fn phone_session(seed: u64) -> Scenario {
    try_phone_session(seed).unwrap_or_default()
}

/// [`phone_session`], reporting a builder error instead of hiding it.
pub fn try_phone_session(seed: u64) -> Result<Scenario, BuildError> {
    let mut b = Builder {
        rng: SplitMix64::new(seed),
        ports: BTreeSet::new(),
        packets: Vec::with_capacity(2048),
        truth: Vec::with_capacity(128),
    };
    let t0 = START_MICROS;
    system(&mut b, t0)?;
    messenger(&mut b, t0)?;
    browser(&mut b, t0)?;
    weather(&mut b, t0)?;
    news(&mut b, t0)?;
    flashlight(&mut b)?;
    b.packets.sort_by_key(|p| p.ts_micros);
    b.truth.sort_by_key(|t| t.first_micros);
    Ok(Scenario {
        start_micros: t0,
        apps: apps(),
        packets: b.packets,
        truth: b.truth,
    })
}

/// NTP at boot, a DNS-over-TCP update check, and pings nobody can attribute.
fn system(b: &mut Builder, t0: u64) -> Result<(), BuildError> {
    let (addr, t) = b.resolve(Some(UID_SYSTEM), &NTP, Family::V4, t0 + 2 * SECOND)?;
    let spec = b.flow(
        Some(UID_SYSTEM),
        DEVICE_V4.into(),
        (addr, 123).into(),
        t + MILLI,
    );
    let request = ntp_request(spec.start_micros);
    let response = ntp_response(spec.start_micros, spec.start_micros + spec.rtt_micros / 2);
    let packets = udp_exchange(&spec, &request, Some(&response))?;
    b.record(&spec, 17, NTP.name, packets);

    // The update check's resolver answer is large enough that it retries over TCP.
    let at = t0 + 600 * SECOND + b.jitter(5 * SECOND);
    let spec = b.flow(
        Some(UID_SYSTEM),
        DEVICE_V4.into(),
        (RESOLVER_V4, 53).into(),
        at,
    );
    let v4 = [IpAddr::V4(SYSTEM_UPDATE.v4)];
    let answer = DnsOutcome::Answer(DnsAnswer {
        cnames: &[],
        addrs: &v4,
        ttl: 300,
    });
    let id = b.rng.next_u16();
    let packets = dns_tcp(&spec, id, SYSTEM_UPDATE.name, QueryType::A, &answer)?;
    let t = b.record(&spec, 6, SYSTEM_UPDATE.name, packets);
    let check = [AppExchange {
        gap_micros: 500,
        request_len: 600,
        response_len: 1200,
    }];
    b.tls(
        UID_SYSTEM,
        &SYSTEM_UPDATE,
        IpAddr::V4(SYSTEM_UPDATE.v4),
        t + 5 * MILLI,
        &["http/1.1"],
        false,
        3800,
        &check,
        true,
    )?;

    for (family, at, proto) in [
        (Family::V4, t0 + 45 * SECOND, 1),
        (Family::V6, t0 + 52 * SECOND, 58),
    ] {
        let (addr, t) = b.resolve(None, &PING_TARGET, family, at)?;
        let spec = b.flow(None, Builder::device_for(addr), (addr, 0).into(), t + MILLI);
        let ident = b.rng.next_u16();
        let packets = icmp_ping(&spec, ident, 4, &[0x5a; 56])?;
        b.record(&spec, proto, PING_TARGET.name, packets);
    }
    Ok(())
}

/// One long-lived connection with keepalives every ~4.5 minutes and a push in between.
fn messenger(b: &mut Builder, t0: u64) -> Result<(), BuildError> {
    let (addr, t) = b.resolve(Some(UID_MESSENGER), &MESSENGER, Family::V6, t0 + 4 * SECOND)?;
    let keepalive = |gap| AppExchange {
        gap_micros: gap,
        request_len: 41,
        response_len: 41,
    };
    let exchanges = [
        AppExchange {
            gap_micros: 500,
            request_len: 260,
            response_len: 480,
        },
        keepalive(270 * SECOND + b.jitter(3 * SECOND)),
        AppExchange {
            gap_micros: 110 * SECOND,
            request_len: 0,
            response_len: 920,
        },
        keepalive(160 * SECOND + b.jitter(3 * SECOND)),
        keepalive(270 * SECOND + b.jitter(3 * SECOND)),
    ];
    b.tls(
        UID_MESSENGER,
        &MESSENGER,
        addr,
        t + MILLI,
        &["h2"],
        false,
        3300,
        &exchanges,
        false,
    )?;
    Ok(())
}

/// HTTPS over both families with post-quantum hellos, and one plain-HTTP site.
fn browser(b: &mut Builder, t0: u64) -> Result<(), BuildError> {
    b.browse(&WIKIPEDIA, Family::V6, t0 + 30 * SECOND, &[120_000, 42_000])?;
    b.browse(&DUCKDUCKGO, Family::V6, t0 + 95 * SECOND, &[64_000])?;
    b.browse(&GITHUB, Family::V4, t0 + 160 * SECOND, &[180_000])?;
    let (addr, t) = b.resolve(Some(UID_BROWSER), &NEVERSSL, Family::V4, t0 + 420 * SECOND)?;
    let spec = b.flow(
        Some(UID_BROWSER),
        DEVICE_V4.into(),
        (addr, 80).into(),
        t + MILLI,
    );
    let packets = http_connection(&spec, NEVERSSL.name, "/", BROWSER_UA, 2600)?;
    b.record(&spec, 6, NEVERSSL.name, packets);
    b.browse(&WIKIPEDIA, Family::V6, t0 + 640 * SECOND, &[85_000])?;
    Ok(())
}

/// A forecast refresh twice, through a CNAME to an edge host.
fn weather(b: &mut Builder, t0: u64) -> Result<(), BuildError> {
    for at in [t0 + 200 * SECOND, t0 + 780 * SECOND] {
        let at = at + b.jitter(2 * SECOND);
        let (addr, t) = b.resolve(Some(UID_WEATHER), &WEATHER, Family::V4, at)?;
        let fetch = [AppExchange {
            gap_micros: 400,
            request_len: 240,
            response_len: 6200,
        }];
        b.tls(
            UID_WEATHER,
            &WEATHER,
            addr,
            t + MILLI,
            &["h2", "http/1.1"],
            false,
            3500,
            &fetch,
            true,
        )?;
    }
    Ok(())
}

/// The article list from the API, then images from a CDN behind a CNAME chain.
fn news(b: &mut Builder, t0: u64) -> Result<(), BuildError> {
    let (addr, t) = b.resolve(Some(UID_NEWS), &NEWS_API, Family::V6, t0 + 300 * SECOND)?;
    let list = [AppExchange {
        gap_micros: 400,
        request_len: 310,
        response_len: 12_000,
    }];
    let t = b.tls(
        UID_NEWS,
        &NEWS_API,
        addr,
        t + MILLI,
        &["h2"],
        true,
        4100,
        &list,
        true,
    )?;
    let (v6, t_v6) = b.resolve(Some(UID_NEWS), &NEWS_CDN, Family::V6, t + 20 * MILLI)?;
    for (i, size) in [62_000, 45_000, 81_000].into_iter().enumerate() {
        let image = [AppExchange {
            gap_micros: 300,
            request_len: 280,
            response_len: size,
        }];
        let at = t_v6 + MILLI + i as u64 * 40 * MILLI;
        b.tls(
            UID_NEWS,
            &NEWS_CDN,
            v6,
            at,
            &["h2"],
            true,
            3900,
            &image,
            true,
        )?;
    }
    // A later refresh goes over IPv4.
    let at = t0 + 540 * SECOND + b.jitter(SECOND);
    let (v4, t) = b.resolve(Some(UID_NEWS), &NEWS_CDN, Family::V4, at)?;
    let image = [AppExchange {
        gap_micros: 300,
        request_len: 280,
        response_len: 54_000,
    }];
    b.tls(
        UID_NEWS,
        &NEWS_CDN,
        v4,
        t + MILLI,
        &["h2"],
        false,
        3900,
        &image,
        true,
    )?;
    Ok(())
}

/// Fifteen seconds after install: a burst of DGA lookups (NXDOMAIN, one lost), then a
/// beacon to [`SUSPICIOUS_DOMAIN`] every 60 s ± 1.5 s until the demo ends.
fn flashlight(b: &mut Builder) -> Result<(), BuildError> {
    let app = Some(UID_FLASHLIGHT);
    let mut t = FLASHLIGHT_INSTALLED + 15 * SECOND;
    for i in 0..6 {
        let name = b.dga_name();
        let outcome = if i == 3 {
            DnsOutcome::Unanswered
        } else {
            DnsOutcome::NxDomain
        };
        b.lookup(app, &name, QueryType::A, &outcome, t)?;
        t += 1200 * MILLI + b.rng.range(0, 1300 * MILLI);
    }
    let mut at = t + 2 * SECOND;
    while at + 5 * SECOND < END_MICROS {
        let (addr, t) = b.resolve(app, &BEACON, Family::V4, at)?;
        let beacon = [AppExchange {
            gap_micros: 300,
            request_len: 380,
            response_len: 90,
        }];
        b.tls(
            UID_FLASHLIGHT,
            &BEACON,
            addr,
            t + MILLI,
            &["http/1.1"],
            false,
            2600,
            &beacon,
            true,
        )?;
        at += 60 * SECOND - 1500 * MILLI + b.jitter(1500 * MILLI);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{Parsed, parse};
    use std::collections::BTreeMap;

    #[test]
    fn builds_for_many_seeds() {
        for seed in 0..16 {
            let s = try_phone_session(seed).unwrap();
            assert!(
                (1000..=3000).contains(&s.packets.len()),
                "seed {seed}: {} packets",
                s.packets.len()
            );
        }
    }

    #[test]
    fn same_seed_same_bytes_different_seed_different_bytes() {
        let a = phone_session(7);
        let b = phone_session(7);
        let c = phone_session(8);
        assert_eq!(a, b);
        assert_ne!(a.packets, c.packets);
        // The story does not depend on the seed.
        assert_eq!(a.apps, c.apps);
        assert_eq!(a.truth.len(), c.truth.len());
    }

    #[test]
    fn packets_are_sorted_and_inside_the_window() {
        let s = phone_session(1);
        assert_eq!(s.start_micros, START_MICROS);
        assert!(
            s.packets
                .windows(2)
                .all(|w| w[0].ts_micros <= w[1].ts_micros)
        );
        assert!(s.packets.first().unwrap().ts_micros >= START_MICROS);
        assert!(s.packets.last().unwrap().ts_micros < END_MICROS + 2 * SECOND);
    }

    /// A flow key the way an independent observer would derive it from the bytes.
    type Key = (u8, SocketAddr, SocketAddr);

    fn key_of(p: &SynthPacket) -> (Key, Parsed) {
        let parsed = parse(&p.bytes);
        let (proto, src, dst) = match &parsed {
            Parsed::Tcp {
                ips,
                src_port,
                dst_port,
                ..
            } => (6, (ips.src(), *src_port), (ips.dst(), *dst_port)),
            Parsed::Udp {
                ips,
                src_port,
                dst_port,
                ..
            } => (17, (ips.src(), *src_port), (ips.dst(), *dst_port)),
            Parsed::Echo { ips, .. } => {
                let proto = if ips.src().is_ipv4() { 1 } else { 58 };
                (proto, (ips.src(), 0), (ips.dst(), 0))
            }
        };
        let (device, remote) = match p.direction {
            Direction::Outbound => (src, dst),
            Direction::Inbound => (dst, src),
            Direction::Unknown => panic!("demo packets have a direction"),
        };
        ((proto, device.into(), remote.into()), parsed)
    }

    #[test]
    fn truth_matches_a_recount_of_the_parsed_packets() {
        let s = phone_session(3);
        let mut recount: BTreeMap<Key, FlowTruth> = BTreeMap::new();
        for p in &s.packets {
            let ((proto, device, remote), _) = key_of(p);
            let t = recount
                .entry((proto, device, remote))
                .or_insert_with(|| FlowTruth {
                    app_uid: p.app_uid,
                    proto,
                    device,
                    remote,
                    name: None,
                    packets_out: 0,
                    packets_in: 0,
                    ip_bytes_out: 0,
                    ip_bytes_in: 0,
                    first_micros: p.ts_micros,
                    last_micros: p.ts_micros,
                });
            assert_eq!(t.app_uid, p.app_uid, "one app per flow");
            let len = p.bytes.len() as u64;
            if p.direction == Direction::Outbound {
                t.packets_out += 1;
                t.ip_bytes_out += len;
            } else {
                t.packets_in += 1;
                t.ip_bytes_in += len;
            }
            t.last_micros = p.ts_micros;
        }
        assert_eq!(recount.len(), s.truth.len(), "no two flows share a 5-tuple");
        for truth in &s.truth {
            let got = recount
                .get(&(truth.proto, truth.device, truth.remote))
                .unwrap_or_else(|| panic!("no packets for {truth:?}"));
            assert_eq!(
                &FlowTruth {
                    name: truth.name.clone(),
                    ..got.clone()
                },
                truth
            );
        }
    }

    #[test]
    fn every_flow_is_preceded_by_a_lookup_of_its_name() {
        let s = phone_session(4);
        for t in s.truth.iter().filter(|t| t.remote.port() != 53) {
            let name = t.name.as_deref().unwrap();
            let looked_up = s.truth.iter().any(|d| {
                d.remote.port() == 53
                    && d.name.as_deref() == Some(name)
                    && d.last_micros < t.first_micros
                    && d.packets_in > 0
            });
            assert!(looked_up, "{name} used without a lookup");
        }
    }

    fn dns_messages(s: &Scenario, uid: u32) -> Vec<(u64, hickory_proto::op::Message)> {
        s.packets
            .iter()
            .filter(|p| p.app_uid == Some(uid))
            .filter_map(|p| match parse(&p.bytes) {
                Parsed::Udp {
                    payload, dst_port, ..
                } if dst_port == 53 || p.direction == Direction::Inbound => Some((
                    p.ts_micros,
                    hickory_proto::op::Message::from_vec(&payload).unwrap(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn flashlight_has_an_nxdomain_burst_within_a_minute_then_beacons() {
        use hickory_proto::op::{MessageType, ResponseCode};
        let s = phone_session(5);
        let msgs = dns_messages(&s, UID_FLASHLIGHT);
        let first = s
            .packets
            .iter()
            .find(|p| p.app_uid == Some(UID_FLASHLIGHT))
            .unwrap();
        assert!(first.ts_micros >= FLASHLIGHT_INSTALLED);
        assert!(first.ts_micros < FLASHLIGHT_INSTALLED + 60 * SECOND);
        let nx: Vec<u64> = msgs
            .iter()
            .filter(|(_, m)| m.metadata.response_code == ResponseCode::NXDomain)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(nx.len(), 5);
        assert!(nx.iter().all(|t| *t < FLASHLIGHT_INSTALLED + 60 * SECOND));
        let unanswered = msgs
            .iter()
            .filter(|(_, q)| q.metadata.message_type == MessageType::Query)
            .filter(|(_, q)| {
                !msgs.iter().any(|(_, r)| {
                    r.metadata.message_type == MessageType::Response
                        && r.metadata.id == q.metadata.id
                })
            })
            .count();
        assert_eq!(unanswered, 1);
        // Beacons: TLS connections to the suspicious domain, 60 s ± 1.5 s apart.
        let starts: Vec<u64> = s
            .truth
            .iter()
            .filter(|t| t.proto == 6 && t.name.as_deref() == Some(SUSPICIOUS_DOMAIN))
            .map(|t| t.first_micros)
            .collect();
        assert!(starts.len() >= 10, "{} beacons", starts.len());
        for w in starts.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                (58 * SECOND..=62 * SECOND).contains(&gap),
                "beacon gap {gap}"
            );
        }
    }

    #[test]
    fn scenario_covers_both_families_every_protocol_and_every_app() {
        let s = phone_session(6);
        let protos: BTreeSet<u8> = s.truth.iter().map(|t| t.proto).collect();
        assert_eq!(protos, BTreeSet::from([1, 6, 17, 58]));
        assert!(s.truth.iter().any(|t| t.remote.is_ipv6() && t.proto == 6));
        assert!(s.truth.iter().any(|t| t.remote.port() == 80));
        assert!(s.truth.iter().any(|t| t.remote.port() == 123));
        assert!(
            s.truth
                .iter()
                .any(|t| t.proto == 6 && t.remote.port() == 53)
        );
        assert!(s.truth.iter().any(|t| t.app_uid.is_none()));
        for app in &s.apps {
            assert!(
                s.truth.iter().any(|t| t.app_uid == Some(app.uid)),
                "{} is silent",
                app.package
            );
        }
        // Every DNS flow goes to the tunnel resolver from the device's IPv4 address.
        for t in s.truth.iter().filter(|t| t.remote.port() == 53) {
            assert_eq!(t.remote.ip(), IpAddr::V4(RESOLVER_V4));
            assert_eq!(t.device.ip(), IpAddr::V4(DEVICE_V4));
        }
        // The messenger's keepalive connection spans most of the session.
        let chat = s
            .truth
            .iter()
            .find(|t| t.app_uid == Some(UID_MESSENGER) && t.proto == 6)
            .unwrap();
        assert!(chat.last_micros - chat.first_micros > 12 * 60 * SECOND);
    }

    #[test]
    fn tls_flows_carry_their_name_as_sni() {
        let s = phone_session(9);
        // Each TLS flow's outbound byte stream; its first record is the ClientHello.
        let mut streams: BTreeMap<Key, Vec<u8>> = BTreeMap::new();
        for p in s
            .packets
            .iter()
            .filter(|p| p.direction == Direction::Outbound)
        {
            let (key, parsed) = key_of(p);
            if let Parsed::Tcp { payload, .. } = parsed
                && key.2.port() == 443
            {
                streams.entry(key).or_default().extend_from_slice(&payload);
            }
        }
        let mut checked = 0;
        for t in s.truth.iter().filter(|t| t.remote.port() == 443) {
            let stream = &streams[&(t.proto, t.device, t.remote)];
            let record_len = 5 + usize::from(u16::from_be_bytes([stream[3], stream[4]]));
            let bytes = &stream[..record_len];
            let mut acceptor = rustls::server::Acceptor::default();
            let mut rd = bytes;
            while !rd.is_empty() {
                if acceptor.read_tls(&mut rd).is_err() {
                    break;
                }
            }
            let accepted = acceptor.accept().ok().flatten().unwrap();
            assert_eq!(accepted.client_hello().server_name(), t.name.as_deref());
            checked += 1;
        }
        assert!(checked > 20);
    }
}

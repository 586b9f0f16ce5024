//! Packet timelines for the detection scenario tests: an hour of a busy, benign phone, and
//! the same hour with one DC0113 or AN1700 story added after the learning period.
//!
//! The benign hour exercises every false-positive control the detectors have: a CDN address
//! that DNS hands out for many unrelated domains, a push connection that stays open, a chat
//! app that polls every two minutes from the start (learnt as that app's baseline), analytics
//! flushes and update checks to services on the periodic allowlist, new host names under
//! domains seen before, and an app installed after the learning period that fetches from
//! the CDN and from a domain the phone already knows.
//!
//! Each [`Story`] adds one thing to find, from [`STORY_AT`] on (after [`LEARNING_MICROS`]):
//! an unseen domain, a beacon, a contact right after an install, and an IOC on a domain, on
//! an address, and in a DNS answer. [`IOC_HOSTS_FEED`] and [`IOC_IP_FEED`] are the threat
//! lists the IOC stories are meant to be checked against.
//!
//! The scenarios' `truth` is left empty: the tests assert on alerts, not flows.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::BTreeSet;

use crate::BuildError;
use crate::payload::{ClientHelloSpec, DnsAnswer, QueryType, ntp_request, ntp_response};
use crate::rng::SplitMix64;
use crate::scenario::{AppInfo, DEVICE_V4, RESOLVER_V4, Scenario};
use crate::session::{
    AppExchange, DnsOutcome, FlowSpec, Round, SynthPacket, TlsPlan, dns_udp, tcp_connection,
    tls_connection, udp_exchange,
};

const SECOND: u64 = 1_000_000;
const MINUTE: u64 = 60 * SECOND;
const MILLI: u64 = 1_000;

/// 2026-11-02T08:00:00Z, when every detection timeline starts.
pub const START_MICROS: u64 = 1_793_606_400_000_000;
/// How long each timeline lasts.
pub const DURATION_MICROS: u64 = 60 * MINUTE;
/// The learning period the tests configure (first-seen, baselines, beacon baselines).
pub const LEARNING_MICROS: u64 = 30 * MINUTE;
/// The first-run window the tests configure.
pub const FIRST_RUN_MICROS: u64 = 5 * MINUTE;
/// When a story starts.
pub const STORY_AT: u64 = START_MICROS + 35 * MINUTE;

/// The browser's uid.
pub const UID_BROWSER: u32 = 10_112;
/// The chat app's uid.
pub const UID_CHAT: u32 = 10_140;
/// The weather app's uid.
pub const UID_WEATHER: u32 = 10_157;
/// The news app's uid.
pub const UID_NEWS: u32 = 10_163;
/// The notes app's uid (benign install after the learning period).
pub const UID_NOTES: u32 = 10_250;
/// The wallpaper app's uid (the post-install story).
pub const UID_WALLPAPER: u32 = 10_230;
/// Android's `system` uid.
pub const UID_SYSTEM: u32 = 1000;

/// The CDN edge that serves many unrelated domains.
pub const CDN_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);

/// The never-seen domain of [`Story::UnseenDomain`] (news app).
pub const UNSEEN_NAME: &str = "api.newsfeed-partner.com";
/// The beacon destination of [`Story::Beaconing`] (weather app).
pub const BEACON_NAME: &str = "sync.weatherwidget-stats.com";
/// Beacons sent in [`Story::Beaconing`].
pub const BEACONS: u32 = 20;
/// The wallpaper app's first contact in [`Story::PostInstall`].
pub const POST_INSTALL_NAME: &str = "cfg.flashywall-api.com";
/// When the wallpaper app is installed in [`Story::PostInstall`].
pub const WALLPAPER_INSTALLED: u64 = START_MICROS + 35 * MINUTE;
/// The listed domain of [`Story::IocDomain`] (browser).
pub const IOC_NAME: &str = "login.secure-wallet-verify.com";
/// The listed address of [`Story::IocIp`] (chat app, no DNS, no hello).
pub const IOC_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 99);
/// The unlisted name whose answer is listed, in [`Story::IocDnsAnswer`] (news app).
pub const IOC_ANSWER_NAME: &str = "media.quickshare-files.com";
/// The listed address [`IOC_ANSWER_NAME`] resolves to.
pub const IOC_ANSWER_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);

/// A hosts-format threat list naming [`IOC_NAME`].
pub const IOC_HOSTS_FEED: &str = "# Version: 2026-11-01\n0.0.0.0 login.secure-wallet-verify.com\n0.0.0.0 phish.invalid-example.net\n";
/// An IP list naming [`IOC_IP`] and [`IOC_ANSWER_IP`].
pub const IOC_IP_FEED: &str = "# Version: 2026-11-01\n203.0.113.99\n203.0.113.77\n192.0.2.250\n";

/// What a timeline adds to the benign hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Story {
    /// Nothing: the busy phone alone.
    BenignBusyPhone,
    /// DC0113: a known app contacts a domain no app on the phone used before.
    UnseenDomain,
    /// DC0113: repeated communication with suspicious infrastructure (a beacon every 60 s).
    Beaconing,
    /// DC0113: communication right after an app is installed.
    PostInstall,
    /// AN1700: a listed domain is looked up and contacted.
    IocDomain,
    /// AN1700: a listed address is contacted without any lookup.
    IocIp,
    /// AN1700: an unlisted name resolves to a listed address.
    IocDnsAnswer,
}

struct Builder {
    rng: SplitMix64,
    ports: BTreeSet<u16>,
    packets: Vec<SynthPacket>,
}

impl Builder {
    fn port(&mut self) -> u16 {
        let mut port = self.rng.range(32_768, 61_000) as u16;
        while !self.ports.insert(port) {
            port = if port >= 60_999 { 32_768 } else { port + 1 };
        }
        port
    }

    fn flow(&mut self, app: u32, remote: SocketAddr, at: u64) -> FlowSpec {
        let rtt_micros = if remote.ip() == IpAddr::V4(RESOLVER_V4) {
            self.rng.range(3 * MILLI, 12 * MILLI)
        } else {
            self.rng.range(20 * MILLI, 60 * MILLI)
        };
        FlowSpec {
            app_uid: Some(app),
            device: SocketAddr::new(DEVICE_V4.into(), self.port()),
            remote,
            start_micros: at,
            rtt_micros,
            seed: self.rng.next_u64(),
        }
    }

    fn push(&mut self, packets: Vec<SynthPacket>) -> u64 {
        let last = packets.last().map_or(0, |p| p.ts_micros);
        self.packets.extend(packets);
        last
    }

    /// An A lookup answered with `addr`; returns when the answer came.
    fn lookup(&mut self, app: u32, name: &str, addr: Ipv4Addr, at: u64) -> Result<u64, BuildError> {
        let spec = self.flow(app, (RESOLVER_V4, 53).into(), at);
        let id = self.rng.next_u16();
        let addrs = [IpAddr::V4(addr)];
        let outcome = DnsOutcome::Answer(DnsAnswer {
            cnames: &[],
            addrs: &addrs,
            ttl: 300,
        });
        let packets = dns_udp(&spec, id, name, QueryType::A, &outcome)?;
        Ok(self.push(packets))
    }

    /// A TLS connection with `name` as SNI: one request and response, then close.
    #[allow(clippy::too_many_arguments)]
    fn https(
        &mut self,
        app: u32,
        name: &str,
        addr: Ipv4Addr,
        port: u16,
        at: u64,
        response_len: usize,
        close: bool,
    ) -> Result<u64, BuildError> {
        let spec = self.flow(app, (addr, port).into(), at);
        let exchanges = [AppExchange {
            gap_micros: 300,
            request_len: 400,
            response_len,
        }];
        let plan = TlsPlan {
            hello: ClientHelloSpec {
                server_name: name,
                alpn: &["h2", "http/1.1"],
                post_quantum: false,
                seed: self.rng.next_u64(),
            },
            server_flight_len: 3000,
            exchanges: &exchanges,
            close,
        };
        let packets = tls_connection(&spec, &plan)?;
        Ok(self.push(packets))
    }

    /// Look `name` up, then fetch from it over TLS.
    fn visit(
        &mut self,
        app: u32,
        name: &str,
        addr: Ipv4Addr,
        at: u64,
        response_len: usize,
    ) -> Result<u64, BuildError> {
        let t = self.lookup(app, name, addr, at)?;
        self.https(app, name, addr, 443, t + 2 * MILLI, response_len, true)
    }

    fn jitter(&mut self, max: u64) -> u64 {
        self.rng.range(0, 2 * max + 1)
    }
}

fn app(uid: u32, package: &str, label: &str, installed: u64) -> AppInfo {
    AppInfo {
        uid,
        package: package.to_owned(),
        label: label.to_owned(),
        installed_micros: installed,
        updated_micros: installed,
    }
}

/// The timeline for `story`. The same seed gives the same bytes.
pub fn detection_timeline(story: Story, seed: u64) -> Result<Scenario, BuildError> {
    let mut b = Builder {
        rng: SplitMix64::new(seed ^ 0xde7e_c710),
        ports: BTreeSet::new(),
        packets: Vec::with_capacity(8192),
    };
    let long_ago = START_MICROS - 200 * 86_400 * SECOND;
    let mut apps = vec![
        app(UID_BROWSER, "com.example.browser", "Browser", long_ago),
        app(UID_CHAT, "com.example.chat", "Chat", long_ago),
        app(UID_WEATHER, "com.example.weather", "Weather", long_ago),
        app(UID_NEWS, "com.example.news", "News", long_ago),
        app(UID_SYSTEM, "android", "Android System", long_ago),
        app(
            UID_NOTES,
            "com.example.notes",
            "Notes",
            START_MICROS + 40 * MINUTE,
        ),
    ];
    benign_hour(&mut b)?;
    match story {
        Story::BenignBusyPhone => {}
        Story::UnseenDomain => {
            b.visit(
                UID_NEWS,
                UNSEEN_NAME,
                Ipv4Addr::new(203, 0, 113, 10),
                STORY_AT + 60 * SECOND,
                2400,
            )?;
        }
        Story::Beaconing => {
            let addr = Ipv4Addr::new(203, 0, 113, 20);
            let mut at = STORY_AT + 30 * SECOND;
            for _ in 0..BEACONS {
                b.visit(UID_WEATHER, BEACON_NAME, addr, at, 180)?;
                at += MINUTE - 1500 * MILLI + b.jitter(1500 * MILLI);
            }
        }
        Story::PostInstall => {
            apps.push(app(
                UID_WALLPAPER,
                "com.flashy.wallpapers",
                "Flashy Wallpapers",
                WALLPAPER_INSTALLED,
            ));
            let t = WALLPAPER_INSTALLED + 20 * SECOND;
            let t = b.visit(
                UID_WALLPAPER,
                "www.googleapis.com",
                Ipv4Addr::new(198, 51, 100, 90),
                t,
                1200,
            )?;
            b.visit(
                UID_WALLPAPER,
                POST_INSTALL_NAME,
                Ipv4Addr::new(203, 0, 113, 30),
                t + 3 * SECOND,
                5200,
            )?;
        }
        Story::IocDomain => {
            b.visit(
                UID_BROWSER,
                IOC_NAME,
                Ipv4Addr::new(203, 0, 113, 40),
                STORY_AT + 90 * SECOND,
                8000,
            )?;
        }
        Story::IocIp => {
            // A hard-coded address, no lookup, and a protocol of its own on port 443.
            let spec = b.flow(UID_CHAT, (IOC_IP, 443).into(), STORY_AT + 45 * SECOND);
            let request = vec![0x5a; 220];
            let response = vec![0xa5; 640];
            let rounds = [Round {
                gap_micros: 300,
                request: &request,
                response: &response,
            }];
            let packets = tcp_connection(&spec, &rounds, true)?;
            b.push(packets);
        }
        Story::IocDnsAnswer => {
            b.visit(
                UID_NEWS,
                IOC_ANSWER_NAME,
                IOC_ANSWER_IP,
                STORY_AT + 2 * MINUTE,
                30_000,
            )?;
        }
    }
    b.packets.sort_by_key(|p| p.ts_micros);
    Ok(Scenario {
        start_micros: START_MICROS,
        apps,
        packets: b.packets,
        truth: Vec::new(),
    })
}

/// An hour of ordinary use.
fn benign_hour(b: &mut Builder) -> Result<(), BuildError> {
    let t0 = START_MICROS;
    let end = t0 + DURATION_MICROS - MINUTE;
    // The CDN edge: four unrelated sites resolve to it during the first minutes.
    b.visit(
        UID_BROWSER,
        "cdn.startpage-assets.net",
        CDN_V4,
        t0 + 5 * SECOND,
        20_000,
    )?;
    b.visit(
        UID_NEWS,
        "img.dailynews-cdn.com",
        CDN_V4,
        t0 + 9 * SECOND,
        60_000,
    )?;
    b.visit(
        UID_WEATHER,
        "tiles.forecastmaps.com",
        CDN_V4,
        t0 + 14 * SECOND,
        40_000,
    )?;
    b.visit(
        UID_BROWSER,
        "static.shopfront-media.com",
        CDN_V4,
        t0 + 20 * SECOND,
        30_000,
    )?;
    // System: a Google API check-in and NTP every 15 minutes, an update check every 10.
    let mut t = t0 + 2 * SECOND;
    while t < end {
        let ntp = Ipv4Addr::new(192, 0, 2, 123);
        let at = b.lookup(UID_SYSTEM, "time.android.com", ntp, t)? + MILLI;
        let spec = b.flow(UID_SYSTEM, (ntp, 123).into(), at);
        let request = ntp_request(at);
        let response = ntp_response(at, at + spec.rtt_micros / 2);
        let packets = udp_exchange(&spec, &request, Some(&response))?;
        b.push(packets);
        t += 15 * MINUTE;
    }
    let mut t = t0 + 30 * SECOND;
    while t < end {
        b.visit(
            UID_SYSTEM,
            "android.clients.google.com",
            Ipv4Addr::new(198, 51, 100, 91),
            t,
            900,
        )?;
        b.visit(
            UID_SYSTEM,
            "www.googleapis.com",
            Ipv4Addr::new(198, 51, 100, 90),
            t + 4 * SECOND,
            1500,
        )?;
        t += 10 * MINUTE + b.jitter(20 * SECOND);
    }
    // Chat: a push connection that stays open, and a poll every two minutes from the start.
    let push = Ipv4Addr::new(198, 51, 100, 95);
    let at = b.lookup(UID_CHAT, "mtalk.google.com", push, t0 + 3 * SECOND)?;
    b.https(
        UID_CHAT,
        "mtalk.google.com",
        push,
        5228,
        at + MILLI,
        300,
        false,
    )?;
    let mut t = t0 + 40 * SECOND;
    while t < end {
        b.visit(
            UID_CHAT,
            "chat.talkbox.net",
            Ipv4Addr::new(198, 51, 100, 50),
            t,
            700,
        )?;
        t += 2 * MINUTE - SECOND + b.jitter(SECOND);
    }
    // News: articles now and then, analytics flushed every minute.
    let mut t = t0 + MINUTE;
    let mut i = 0u32;
    while t < end {
        b.visit(
            UID_NEWS,
            "api.dailynews.com",
            Ipv4Addr::new(198, 51, 100, 60),
            t,
            14_000,
        )?;
        b.visit(
            UID_NEWS,
            "img.dailynews-cdn.com",
            CDN_V4,
            t + 3 * SECOND,
            80_000,
        )?;
        if i == 4 {
            // A new host under a known domain, on the CDN.
            b.visit(
                UID_NEWS,
                "img2.dailynews-cdn.com",
                CDN_V4,
                t + 6 * SECOND,
                50_000,
            )?;
        }
        i += 1;
        t += 6 * MINUTE + b.jitter(2 * MINUTE);
    }
    let mut t = t0 + 70 * SECOND;
    while t < end {
        b.visit(
            UID_NEWS,
            "app-measurement.com",
            Ipv4Addr::new(198, 51, 100, 92),
            t,
            200,
        )?;
        t += MINUTE - 2 * SECOND + b.jitter(2 * SECOND);
    }
    // Weather: a refresh every ten minutes.
    let mut t = t0 + 2 * MINUTE;
    while t < end {
        b.visit(
            UID_WEATHER,
            "api.openforecast.net",
            Ipv4Addr::new(198, 51, 100, 40),
            t,
            3_000,
        )?;
        t += 10 * MINUTE + b.jitter(30 * SECOND);
    }
    // Browser: sites seen during learning, again after it, and a new host of a known site.
    let sites = [
        ("www.wikipedia.org", Ipv4Addr::new(198, 51, 100, 10)),
        ("duckduckgo.com", Ipv4Addr::new(198, 51, 100, 20)),
        ("github.com", Ipv4Addr::new(198, 51, 100, 30)),
    ];
    let mut t = t0 + 3 * MINUTE;
    let mut k = 0usize;
    while t < end {
        if let Some((name, addr)) = sites.get(k % sites.len()) {
            b.visit(UID_BROWSER, name, *addr, t, 90_000)?;
        }
        k += 1;
        t += 4 * MINUTE + b.jitter(3 * MINUTE);
    }
    b.visit(
        UID_BROWSER,
        "en.m.wikipedia.org",
        Ipv4Addr::new(198, 51, 100, 11),
        t0 + 44 * MINUTE,
        70_000,
    )?;
    // Notes, installed at 40 minutes: a known Google API, then its content from the CDN.
    let t = t0 + 40 * MINUTE + 12 * SECOND;
    let t = b.visit(
        UID_NOTES,
        "android.clients.google.com",
        Ipv4Addr::new(198, 51, 100, 91),
        t,
        800,
    )?;
    b.visit(
        UID_NOTES,
        "cdn.notesapp-static.com",
        CDN_V4,
        t + 2 * SECOND,
        25_000,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_story_builds_sorted_and_within_the_hour() {
        for story in [
            Story::BenignBusyPhone,
            Story::UnseenDomain,
            Story::Beaconing,
            Story::PostInstall,
            Story::IocDomain,
            Story::IocIp,
            Story::IocDnsAnswer,
        ] {
            let s = detection_timeline(story, 7).unwrap();
            assert!(s.packets.len() > 500, "{story:?}");
            assert!(
                s.packets
                    .windows(2)
                    .all(|w| w[0].ts_micros <= w[1].ts_micros)
            );
            let last = s.packets.last().unwrap().ts_micros;
            assert!(last < START_MICROS + DURATION_MICROS, "{story:?}");
        }
        let a = detection_timeline(Story::Beaconing, 1).unwrap();
        let b = detection_timeline(Story::Beaconing, 1).unwrap();
        assert_eq!(a, b);
    }
}

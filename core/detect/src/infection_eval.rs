//! The infection verdict on simulated phones (`nightjar eval dga-infection`).
//!
//! Infected apps: every family [`crate::dga_families`] can generate, wordlist
//! ones included, plus the dynamic-DNS variants of corebot and symmi (their
//! labels under `ddns.net`, `duckdns.org`, `no-ip.biz`). Each app looks up 20
//! generated names 3–15 s apart, most of them NXDOMAIN (a share drawn per app
//! from 60–95%), mixed into an ordinary session of the app's own back ends,
//! ad-tech and CDN names. It counts as caught when the verdict comes at or
//! before its 20th generated lookup.
//!
//! Benign app-days: 1–8 sessions of popular, ad-tech, back-end and CDN
//! random-label lookups; browsers add Chrome-style intranet probes (three
//! random 7–15 letter single labels at start-up and on each of 0–6 network
//! changes) and 0–3 typos of popular names (mostly NXDOMAIN); a fifth of the
//! days are on a network with a search domain, which suffixes the probes and
//! intranet names (`printer.corp.acme-widgets.com`, `wpad.lan`) and gets
//! NXDOMAIN; a tenth pass a captive portal that answers NXDOMAIN to
//! everything for two minutes; some apps keep asking for a back end that no
//! longer exists. The device has resolved the popular and ad-tech names
//! before the day starts.
//!
//! The detector is the pipeline's own ([`InfectionTracker::observe_dns`] with
//! the shipped model); nothing here is tuned per family.

use std::fmt;

use crate::dga::DgaModel;
use crate::dga_families::{FAMILIES, Family, Rng, generate};
use crate::domain;
use crate::infection::{InfectionConfig, InfectionTracker};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfectionEvalConfig {
    /// PRNG seed.
    pub seed: u64,
    /// Infected apps per family.
    pub infected_per_family: usize,
    /// Generated lookups per infected app.
    pub dga_lookups: usize,
    /// Benign app-days.
    pub benign_app_days: usize,
}

impl Default for InfectionEvalConfig {
    fn default() -> Self {
        Self {
            seed: 0x6467_615f_696e_6665,
            infected_per_family: 200,
            dga_lookups: 20,
            benign_app_days: 10_000,
        }
    }
}

/// One family's row.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyRow {
    /// Family (with `@ddns` for the dynamic-DNS variants).
    pub name: String,
    /// Infected apps simulated.
    pub apps: usize,
    /// … flagged within their generated lookups.
    pub flagged: usize,
    /// Median generated lookups before the verdict (flagged apps only).
    pub median_lookups: f64,
}

/// Result of [`eval_infection`].
#[derive(Debug, Clone, PartialEq)]
pub struct InfectionEval {
    /// The configuration used.
    pub config: InfectionEvalConfig,
    /// One row per family.
    pub families: Vec<FamilyRow>,
    /// Benign app-days flagged.
    pub benign_flagged: usize,
    /// Benign lookups simulated.
    pub benign_lookups: usize,
    /// Benign NXDOMAIN answers simulated.
    pub benign_nxdomain: usize,
}

impl InfectionEval {
    /// Lowest per-family recall.
    pub fn min_recall(&self) -> f64 {
        self.families
            .iter()
            .map(|f| f.flagged as f64 / f.apps.max(1) as f64)
            .fold(1.0, f64::min)
    }

    /// Share of benign app-days flagged.
    pub fn benign_fpr(&self) -> f64 {
        self.benign_flagged as f64 / self.config.benign_app_days.max(1) as f64
    }
}

const POPULAR: &[&str] = &[
    "google.com",
    "www.google.com",
    "googleapis.com",
    "www.googleapis.com",
    "gstatic.com",
    "youtube.com",
    "i.ytimg.com",
    "facebook.com",
    "graph.facebook.com",
    "instagram.com",
    "whatsapp.net",
    "g.whatsapp.net",
    "apple.com",
    "icloud.com",
    "amazon.com",
    "amazonaws.com",
    "wikipedia.org",
    "twitter.com",
    "x.com",
    "reddit.com",
    "netflix.com",
    "nflxvideo.net",
    "spotify.com",
    "microsoft.com",
    "live.com",
    "office.com",
    "bing.com",
    "linkedin.com",
    "tiktokv.com",
    "snapchat.com",
    "pinterest.com",
    "yahoo.com",
    "cloudflare.com",
    "github.com",
    "dropbox.com",
    "zoom.us",
    "paypal.com",
    "ebay.com",
    "booking.com",
    "weather.com",
    "bbc.co.uk",
    "nytimes.com",
    "theguardian.com",
    "cnn.com",
    "duolingo.com",
    "uber.com",
    "airbnb.com",
    "telegram.org",
    "signal.org",
    "discord.com",
    "twitch.tv",
    "samsung.com",
    "xiaomi.com",
    "mozilla.org",
    "firefox.com",
    "tumblr.com",
    "shopify.com",
    "stripe.com",
    "adobe.com",
    "yandex.ru",
    "baidu.com",
    "naver.com",
    "line.me",
    "kakao.com",
    "vk.com",
    "mail.ru",
    "bankofamerica.com",
    "chase.com",
];

const ADTECH: &[&str] = &[
    "doubleclick.net",
    "googlesyndication.com",
    "google-analytics.com",
    "app-measurement.com",
    "crashlytics.com",
    "firebaseinstallations.googleapis.com",
    "appsflyer.com",
    "adjust.com",
    "branch.io",
    "applovin.com",
    "unityads.unity3d.com",
    "mopub.com",
    "inmobi.com",
    "chartboost.com",
    "vungle.com",
    "ironsrc.mobi",
    "criteo.com",
    "taboola.com",
    "outbrain.com",
    "scorecardresearch.com",
    "amplitude.com",
    "mixpanel.com",
    "segment.io",
    "braze.com",
    "onesignal.com",
    "adcolony.com",
    "pubmatic.com",
    "rubiconproject.com",
    "adnxs.com",
    "moatads.com",
    "smaato.net",
    "kochava.com",
    "singular.net",
    "liftoff.io",
    "bidmachine.io",
    "mintegral.com",
];

/// Hosting zones whose labels the platform picks (answered).
const CDN_ZONES: &[&str] = &[
    "cloudfront.net",
    "akamaized.net",
    "azureedge.net",
    "googleusercontent.com",
    "appspot.com",
    "herokuapp.com",
    "firebaseio.com",
    "b-cdn.net",
];

const DDNS_ZONES: &[&str] = &["ddns.net", "duckdns.org", "no-ip.biz"];
const DGA_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "ru", "top", "xyz", "cc", "in", "su", "pw",
];
const SEARCH_DOMAINS: &[&str] = &[
    "corp.acme-widgets.com",
    "ad.contoso-bank.co.uk",
    "hq.globex.net",
    "lan",
    "home",
    "localdomain",
];
const INTRANET: &[&str] = &[
    "printer",
    "wpad",
    "nas",
    "intranet",
    "fileserver",
    "isatap",
    "router",
];

/// Words for the wordlist families: common English words, enough to build
/// brand-like names (the trainer uses a registry word list instead).
const WORDS: &[&str] = &[
    "able", "acid", "aged", "also", "area", "army", "away", "baby", "back", "ball", "band", "bank",
    "base", "bath", "bear", "beat", "been", "beer", "bell", "belt", "best", "bill", "bird", "blow",
    "blue", "boat", "body", "bomb", "bond", "bone", "book", "boom", "born", "boss", "both", "bowl",
    "bulk", "burn", "bush", "busy", "call", "calm", "came", "camp", "card", "care", "case", "cash",
    "cast", "cell", "chat", "chip", "city", "club", "coal", "coat", "code", "cold", "come", "cook",
    "cool", "cope", "copy", "core", "cost", "crew", "crop", "dark", "data", "date", "dawn", "days",
    "dead", "deal", "dean", "dear", "debt", "deep", "deny", "desk", "dial", "diet", "disc", "disk",
    "does", "done", "door", "dose", "down", "draw", "drew", "drop", "drug", "dual", "duke", "dust",
    "duty", "each", "earn", "ease", "east", "easy", "edge", "else", "even", "ever", "evil", "exit",
    "face", "fact", "fail", "fair", "fall", "farm", "fast", "fate", "fear", "feed", "feel", "feet",
    "fell", "felt", "file", "fill", "film", "find", "fine", "fire", "firm", "fish", "five", "flat",
    "flow", "food", "foot", "ford", "form", "fort", "four", "free", "from", "fuel", "full", "fund",
    "gain", "game", "gate", "gave", "gear", "gene", "gift", "girl", "give", "glad", "goal", "goes",
    "gold", "golf", "gone", "good", "gray", "grew", "grey", "grow", "gulf", "hair", "half", "hall",
    "hand", "hang", "hard", "harm", "hate", "have", "head", "hear", "heat", "held", "hell", "help",
    "here", "hero", "high", "hill", "hire", "hold", "hole", "holy", "home", "hope", "host", "hour",
    "huge", "hung", "hunt", "hurt", "idea", "inch", "into", "iron", "item", "jack", "jane", "jean",
    "john", "join", "jump", "jury", "just", "keen", "keep", "kent", "kept", "kick", "kill", "kind",
    "king", "knee", "knew", "know", "lack", "lady", "laid", "lake", "land", "lane", "last", "late",
    "lead", "left", "less", "life", "lift", "like", "line", "link", "list", "live", "load", "loan",
    "lock", "logo", "long", "look", "lord", "lose", "loss", "lost", "love", "luck", "made", "mail",
    "main", "make", "male", "many", "mark", "mass", "matt", "meal", "mean", "meat", "meet", "menu",
    "mere", "mike", "mile", "milk", "mill", "mind", "mine", "miss", "mode", "mood", "moon", "more",
    "most", "move", "much", "must", "name", "navy", "near", "neck", "need", "news", "next", "nice",
    "nick", "nine", "none", "nose", "note", "okay", "once", "only", "onto", "open", "oral", "over",
    "pace", "pack", "page", "paid", "pain", "pair", "palm", "park", "part", "pass", "past", "path",
    "peak", "pick", "pink", "pipe", "plan", "play", "plot", "plug", "plus", "poll", "pool", "poor",
    "port", "post", "pull", "pure", "push", "race", "rail", "rain", "rank", "rare", "rate", "read",
    "real", "rear", "rely", "rent", "rest", "rice", "rich", "ride", "ring", "rise", "risk", "road",
    "rock", "role", "roll", "roof", "room", "root", "rose", "rule", "rush", "safe", "said", "sake",
    "sale", "salt", "same", "sand", "save", "seat", "seed", "seek", "seem", "seen", "self", "sell",
    "send", "sent", "ship", "shop", "shot", "show", "shut", "sick", "side", "sign", "site", "size",
    "skin", "slip", "slow", "snow", "soft", "soil", "sold", "sole", "some", "song", "soon", "sort",
    "soul", "spot", "star", "stay", "step", "stop", "such", "suit", "sure", "take", "tale", "talk",
    "tall", "tank", "tape", "task", "team", "tech", "tell", "tend", "term", "test", "text", "than",
    "that", "them", "then", "they", "thin", "this", "thus", "till", "time", "tiny", "told", "toll",
    "tone", "tony", "took", "tool", "tour", "town", "tree", "trip", "true", "tune", "turn", "twin",
    "type", "unit", "upon", "used", "user", "vary", "vast", "very", "vice", "view", "vote", "wage",
    "wait", "wake", "walk", "wall", "want", "ward", "warm", "wash", "wave", "ways", "weak", "wear",
    "week", "well", "went", "were", "west", "what", "when", "whom", "wide", "wife", "wild", "will",
    "wind", "wine", "wing", "wire", "wise", "wish", "with", "wood", "word", "wore", "work", "yard",
    "yeah", "year", "your", "zero", "zone", "garden", "silver", "market", "summer", "winter",
    "bridge", "castle", "forest", "island", "planet", "rocket", "shadow", "thunder", "valley",
    "window",
];

/// One simulated lookup: when, the name, and its outcome.
struct Query {
    at_us: u64,
    name: String,
    nxdomain: bool,
    /// Index of the generated lookup (1-based) for infected apps.
    dga: Option<usize>,
}

fn pick<'a>(rng: &mut Rng, set: &[&'a str]) -> &'a str {
    set.get(rng.below(set.len()))
        .copied()
        .unwrap_or("example.com")
}

fn random_label(rng: &mut Rng, set: &[u8], lo: usize, hi: usize) -> String {
    let n = rng.range(lo, hi);
    (0..n).map(|_| rng.pick(set)).collect()
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A brand-like back-end name of one app (`api.<two words>.com`).
fn backend(rng: &mut Rng) -> String {
    let host = pick(
        rng,
        &["api", "cdn", "img", "auth", "config", "events", "push"],
    );
    let a = pick(rng, WORDS);
    let b = pick(rng, WORDS);
    let tld = pick(rng, &["com", "io", "app", "net", "co"]);
    format!("{host}.{a}{b}.{tld}")
}

fn cdn_name(rng: &mut Rng) -> String {
    let zone = pick(rng, CDN_ZONES);
    let label = match rng.below(3) {
        0 => format!("d{}", random_label(rng, ALNUM, 12, 13)),
        1 => random_label(rng, HEX, 16, 32),
        _ => format!("{}-{}", pick(rng, WORDS), random_label(rng, ALNUM, 6, 10)),
    };
    format!("{label}.{zone}")
}

/// An ordinary lookup of an app with back ends `own`.
fn ordinary(rng: &mut Rng, own: &[String]) -> String {
    match rng.below(100) {
        0..=49 => pick(rng, POPULAR).to_owned(),
        50..=69 => pick(rng, ADTECH).to_owned(),
        70..=84 => cdn_name(rng),
        _ => own
            .get(rng.below(own.len()))
            .cloned()
            .unwrap_or_else(|| "api.example.com".into()),
    }
}

fn typo(rng: &mut Rng) -> String {
    let name = pick(rng, POPULAR);
    let reg = domain::registrable(name).unwrap_or(name);
    let (label, rest) = reg.split_once('.').unwrap_or((reg, "com"));
    let mut chars: Vec<char> = label.chars().collect();
    let i = rng.below(chars.len().max(1));
    match rng.below(3) {
        0 => chars.insert(i, chars.get(i).copied().unwrap_or('e')),
        1 if chars.len() > 3 => {
            chars.remove(i);
        }
        _ => chars.insert(i, rng.pick(LETTERS)),
    }
    format!("{}.{rest}", chars.into_iter().collect::<String>())
}

const DAY_US: u64 = 86_400_000_000;

/// A benign app-day's lookups, in time order.
fn benign_day(rng: &mut Rng) -> Vec<Query> {
    let browser = rng.chance(0.3);
    let search = rng.chance(0.2).then(|| pick(rng, SEARCH_DOMAINS));
    let own: Vec<String> = (0..rng.range(1, 4)).map(|_| backend(rng)).collect();
    let dead_backend = rng.chance(0.1).then(|| backend(rng));
    let mut q = Vec::new();
    let mut push = |at_us: u64, name: String, nxdomain: bool| {
        q.push(Query {
            at_us,
            name,
            nxdomain,
            dga: None,
        });
    };
    let sessions = rng.range(1, 8);
    for _ in 0..sessions {
        let start = rng.next_u64() % DAY_US;
        let n = rng.range(5, 60);
        for k in 0..n {
            let t = start + k as u64 * rng.range(1, 20) as u64 * 1_000_000;
            push(t, ordinary(rng, &own), false);
        }
        if let Some(d) = &dead_backend {
            for k in 0..rng.range(1, 5) {
                push(start + k as u64 * 30_000_000, d.clone(), true);
            }
        }
    }
    if browser {
        // Start-up and network changes: three random single-label probes,
        // each also tried under the search domain when there is one.
        let changes = rng.range(0, 6);
        let mut moments = vec![0u64];
        moments.extend((0..changes).map(|_| rng.next_u64() % DAY_US));
        for at in moments {
            for k in 0..3u64 {
                let probe = random_label(rng, LETTERS, 7, 15);
                if let Some(s) = search {
                    push(at + k * 1000, format!("{probe}.{s}"), true);
                }
                push(at + k * 1000 + 500, probe, true);
            }
            if let Some(s) = search {
                for name in INTRANET.iter().take(rng.range(1, INTRANET.len())) {
                    push(at + 5_000_000, format!("{name}.{s}"), true);
                }
            }
        }
        for _ in 0..rng.range(0, 3) {
            let at = rng.next_u64() % DAY_US;
            let name = typo(rng);
            let nx = rng.chance(0.7);
            push(at, name, nx);
        }
    }
    if rng.chance(0.1) {
        // Captive portal: everything fails for two minutes.
        let at = rng.next_u64() % DAY_US;
        for k in 0..rng.range(10, 40) {
            let name = ordinary(rng, &own);
            push(at + k as u64 * 3_000_000, name, true);
        }
    }
    q.sort_by_key(|x| x.at_us);
    q
}

/// An infected app: an ordinary session with `n` generated lookups mixed in.
fn infected_app(
    rng: &mut Rng,
    family: &Family,
    ddns: bool,
    n: usize,
    words: &[String],
) -> Vec<Query> {
    // One call, so a family that mutates a seed name (banjori) keeps it.
    let labels = generate(family, rng, words, n);
    let own: Vec<String> = (0..rng.range(1, 4)).map(|_| backend(rng)).collect();
    // "Most of them NXDOMAIN": a majority, 60-95% of the lookups, at
    // random positions.
    let nx_share = 0.6 + 0.35 * (rng.below(1000) as f64 / 1000.0);
    let k = ((nx_share * n as f64).round() as usize).clamp(n / 2 + 1, n);
    let mut fails: Vec<bool> = (0..n).map(|i| i < k).collect();
    for i in (1..fails.len()).rev() {
        fails.swap(i, rng.below(i + 1));
    }
    let start = rng.next_u64() % DAY_US;
    let mut q = Vec::new();
    // The session around it: ordinary lookups every few seconds.
    for k in 0..rng.range(20, 80) {
        q.push(Query {
            at_us: start + k as u64 * rng.range(1, 10) as u64 * 1_000_000,
            name: ordinary(rng, &own),
            nxdomain: false,
            dga: None,
        });
    }
    let mut t = start + rng.range(0, 60) as u64 * 1_000_000;
    for ((i, label), nxdomain) in (1..=n).zip(labels).zip(fails) {
        t += rng.range(3, 15) as u64 * 1_000_000;
        let zone = if ddns {
            pick(rng, DDNS_ZONES)
        } else {
            pick(rng, DGA_TLDS)
        };
        q.push(Query {
            at_us: t,
            name: format!("{label}.{zone}"),
            nxdomain,
            dga: Some(i),
        });
    }
    q.sort_by_key(|x| x.at_us);
    q
}

fn tracker_for_day() -> InfectionTracker {
    let mut t = InfectionTracker::new(InfectionConfig::default());
    for name in POPULAR.iter().chain(ADTECH) {
        t.resolved(domain::registrable(name).unwrap_or(name));
    }
    t
}

/// Runs the simulation with `model`.
pub fn eval_infection(model: &DgaModel, config: &InfectionEvalConfig) -> InfectionEval {
    let mut rng = Rng(config.seed | 1);
    let words: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    let mut families = Vec::new();
    let variants = FAMILIES.iter().map(|f| (f, false)).chain(
        FAMILIES
            .iter()
            .filter(|f| matches!(f.name, "corebot" | "symmi"))
            .map(|f| (f, true)),
    );
    for (family, ddns) in variants {
        let mut flagged_at = Vec::new();
        for _ in 0..config.infected_per_family {
            let mut t = tracker_for_day();
            let mut generated = 0usize;
            for q in infected_app(&mut rng, family, ddns, config.dga_lookups, &words) {
                if let Some(i) = q.dga {
                    generated = i;
                }
                let name = domain::normalize(&q.name).map(|n| n.into_owned());
                let Some(name) = name else { continue };
                if t.observe_dns(model, q.at_us, "app", &name, q.nxdomain, !q.nxdomain)
                    .is_some()
                {
                    if generated > 0 {
                        flagged_at.push(generated);
                    }
                    break;
                }
            }
        }
        flagged_at.sort_unstable();
        let median = flagged_at
            .get(flagged_at.len() / 2)
            .map_or(f64::NAN, |m| *m as f64);
        families.push(FamilyRow {
            name: if ddns {
                format!("{}@ddns", family.name)
            } else {
                family.name.to_owned()
            },
            apps: config.infected_per_family,
            flagged: flagged_at.len(),
            median_lookups: median,
        });
    }
    let (mut benign_flagged, mut benign_lookups, mut benign_nxdomain) = (0, 0, 0);
    for _ in 0..config.benign_app_days {
        let mut t = tracker_for_day();
        let mut flagged = false;
        for q in benign_day(&mut rng) {
            benign_lookups += 1;
            benign_nxdomain += usize::from(q.nxdomain);
            let Some(name) = domain::normalize(&q.name).map(|n| n.into_owned()) else {
                continue;
            };
            flagged |= t
                .observe_dns(model, q.at_us, "app", &name, q.nxdomain, !q.nxdomain)
                .is_some();
        }
        benign_flagged += usize::from(flagged);
    }
    InfectionEval {
        config: config.clone(),
        families,
        benign_flagged,
        benign_lookups,
        benign_nxdomain,
    }
}

impl fmt::Display for InfectionEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "infected apps: {} per family, {} generated lookups each 3-15 s apart (60-95% NXDOMAIN) inside an ordinary session",
            c.infected_per_family, c.dga_lookups
        )?;
        writeln!(
            f,
            "{:<22} {:>6} {:>9} {:>9} {:>15}",
            "family", "apps", "flagged", "recall", "median lookups"
        )?;
        for r in &self.families {
            writeln!(
                f,
                "{:<22} {:>6} {:>9} {:>8.1}% {:>15}",
                r.name,
                r.apps,
                r.flagged,
                100.0 * r.flagged as f64 / r.apps.max(1) as f64,
                if r.median_lookups.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{:.0}", r.median_lookups)
                }
            )?;
        }
        writeln!(
            f,
            "lowest family recall within {} lookups: {:.1}%",
            c.dga_lookups,
            self.min_recall() * 100.0
        )?;
        write!(
            f,
            "benign app-days: {} ({} lookups, {} NXDOMAIN); flagged {} ({:.3}%)",
            c.benign_app_days,
            self.benign_lookups,
            self.benign_nxdomain,
            self.benign_flagged,
            self.benign_fpr() * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_catches_every_family_and_spares_benign_days() {
        let model = DgaModel::builtin().unwrap();
        let config = InfectionEvalConfig {
            infected_per_family: 40,
            benign_app_days: 1500,
            ..InfectionEvalConfig::default()
        };
        let e = eval_infection(&model, &config);
        eprintln!("{e}");
        assert_eq!(e.families.len(), FAMILIES.len() + 2);
        assert!(e.min_recall() >= 0.99, "{e}");
        assert!(e.benign_flagged <= 3, "{e}");
        assert!(e.benign_nxdomain > 1000, "{e}");
    }
}

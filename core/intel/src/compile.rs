//! Compiling feeds into one index file, off the packet path.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use xorf::{BinaryFuse16, DmaSerializable};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::IntelError;
use crate::feed::Feed;
use crate::format::{
    AUX_SIZE, DOMAIN_PARAMS_SIZE, DOMAIN_RECORD_SIZE, FLAG_ALLOW, FLAG_SUBDOMAINS_ONLY, HEADER_LEN,
    MAGIC, META_SIZE, Meta, NONE, SECTION_ALIGN, SECTIONS, Section, VERSION, home_slot, home_slots,
    name_confirm, suffix_keys,
};
use crate::index::IndexStats;
use crate::indicator::{Indicator, IndicatorId, ListKind, Severity, Target};

/// A feed registered with [`IndexBuilder::begin_feed`], for streaming indicators in.
#[derive(Debug, Clone, Copy)]
pub struct FeedHandle {
    feed: u32,
    list: ListKind,
    default_severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DomainRow {
    h1: u64,
    h2: u64,
    meta: u32,
    line: u32,
}

/// Collects indicators in compact form (a domain costs 24 bytes here, its name is not kept)
/// and writes the index. Build once, off the packet path.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    strings: Vec<u8>,
    string_ids: HashMap<String, u32>,
    feeds: Vec<[u32; 3]>,
    metas: Vec<Meta>,
    meta_ids: HashMap<Meta, u32>,
    domains: Vec<DomainRow>,
    /// Fewest labels of any listed name: lookups skip shorter suffixes (`com`) without probing.
    min_domain_labels: Option<u32>,
    /// Keys of the proper suffixes of listed names, by label count (index 0 and 1 unused).
    /// The filter holds them too, so a lookup walking shortest first stops at the first suffix
    /// the filter rules out: no longer suffix can be listed.
    path_keys: Vec<Vec<u64>>,
    /// One-label proper suffixes (TLDs) are few and shared by most names: deduplicated here.
    tld_keys: HashSet<u64>,
    v4: Vec<(u8, u32, u32, u32)>,
    v6: Vec<(u8, u128, u32, u32)>,
    aux: Vec<(u32, u32, u32)>,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Adds every indicator of a parsed feed.
    pub fn add_feed(&mut self, feed: &Feed) -> Result<&mut IndexBuilder, IntelError> {
        let h = self.begin_feed(
            &feed.name,
            feed.version.as_deref(),
            &feed.file,
            feed.list,
            feed.default_severity,
        )?;
        for ind in &feed.indicators {
            self.push(h, ind)?;
        }
        Ok(self)
    }

    /// Registers a feed whose indicators will be [`push`](Self::push)ed one by one (lets a
    /// generator or a streaming parser avoid holding every `Indicator` at once).
    pub fn begin_feed(
        &mut self,
        name: &str,
        version: Option<&str>,
        file: &str,
        list: ListKind,
        default_severity: Severity,
    ) -> Result<FeedHandle, IntelError> {
        let rec = [
            self.intern(name)?,
            self.intern_opt(version)?,
            self.intern(file)?,
        ];
        let feed = u32::try_from(self.feeds.len()).map_err(|_| IntelError::TooLarge("feeds"))?;
        self.feeds.push(rec);
        Ok(FeedHandle {
            feed,
            list,
            default_severity,
        })
    }

    /// Adds one indicator of a registered feed.
    pub fn push(&mut self, feed: FeedHandle, ind: &Indicator) -> Result<(), IntelError> {
        let allow = feed.list == ListKind::Allow || ind.list == ListKind::Allow;
        let subdomains_only = matches!(
            ind.target,
            Target::Domain {
                subdomains_only: true,
                ..
            }
        );
        let (stix_id, line) = match &ind.id {
            IndicatorId::Stix(s) => (self.intern(s)?, 0),
            IndicatorId::Line(l) => (NONE, *l),
        };
        let meta = Meta {
            feed: feed.feed,
            category: self.intern_opt(ind.category.as_deref())?,
            family: self.intern_opt(ind.family.as_deref())?,
            stix_id,
            name: self.intern_opt(ind.name.as_deref())?,
            severity: ind.severity.unwrap_or(feed.default_severity) as u8,
            flags: if allow { FLAG_ALLOW } else { 0 }
                | if subdomains_only {
                    FLAG_SUBDOMAINS_ONLY
                } else {
                    0
                },
            kind: ind.target.kind().to_u8(),
            valid_from_us: ind.valid_from_us.unwrap_or(0),
            valid_until_us: ind.valid_until_us.unwrap_or(u64::MAX),
        };
        let meta = self.meta_id(meta)?;
        match &ind.target {
            Target::Domain { name, .. } => {
                let bytes = name.as_bytes();
                let (paths, tlds) = (&mut self.path_keys, &mut self.tld_keys);
                let h1 = suffix_keys(bytes, |key, labels| {
                    if labels == 1 {
                        tlds.insert(key);
                    } else {
                        if paths.len() <= labels {
                            paths.resize_with(labels + 1, Vec::new);
                        }
                        if let Some(v) = paths.get_mut(labels) {
                            v.push(key);
                        }
                    }
                });
                let h2 = name_confirm(bytes);
                self.domains.push(DomainRow { h1, h2, meta, line });
                let labels = u32::try_from(bytes.iter().filter(|&&c| c == b'.').count() + 1)
                    .unwrap_or(u32::MAX);
                self.min_domain_labels =
                    Some(self.min_domain_labels.map_or(labels, |m| m.min(labels)));
            }
            Target::Net(ipnet::IpNet::V4(n)) => {
                self.v4
                    .push((n.prefix_len(), u32::from(n.network()), meta, line))
            }
            Target::Net(ipnet::IpNet::V6(n)) => {
                self.v6
                    .push((n.prefix_len(), u128::from(n.network()), meta, line))
            }
            Target::App(v) | Target::FileHash(v) => {
                let v = self.intern(v)?;
                self.aux.push((meta, v, line));
            }
            Target::Other { path, value } => {
                let v = self.intern(&format!("{path}={value}"))?;
                self.aux.push((meta, v, line));
            }
        }
        Ok(())
    }

    fn intern(&mut self, s: &str) -> Result<u32, IntelError> {
        if let Some(id) = self.string_ids.get(s) {
            return Ok(*id);
        }
        let off = u32::try_from(self.strings.len()).map_err(|_| IntelError::TooLarge("strings"))?;
        if off == NONE {
            return Err(IntelError::TooLarge("strings"));
        }
        let len = u32::try_from(s.len()).map_err(|_| IntelError::TooLarge("string"))?;
        self.strings.extend_from_slice(&len.to_le_bytes());
        self.strings.extend_from_slice(s.as_bytes());
        self.string_ids.insert(s.to_owned(), off);
        Ok(off)
    }

    fn intern_opt(&mut self, s: Option<&str>) -> Result<u32, IntelError> {
        s.map_or(Ok(NONE), |s| self.intern(s))
    }

    fn meta_id(&mut self, m: Meta) -> Result<u32, IntelError> {
        if let Some(id) = self.meta_ids.get(&m) {
            return Ok(*id);
        }
        let id = u32::try_from(self.metas.len()).map_err(|_| IntelError::TooLarge("metas"))?;
        self.metas.push(m);
        self.meta_ids.insert(m, id);
        Ok(id)
    }

    /// Serialises the index. `now_us` is recorded as the build time.
    pub fn build(&self, now_us: u64) -> Result<Vec<u8>, IntelError> {
        let mut domains = self.domains.clone();
        domains.sort_unstable();
        // The same name from the same feed with the same metadata on several lines: keep one.
        domains.dedup_by(|a, b| a.h1 == b.h1 && a.h2 == b.h2 && a.meta == b.meta);
        // The filter first, while nothing else big is alive: its construction is the peak.
        // It holds every listed name and every proper suffix a lookup probes (those with at
        // least the fewest labels of any listed name), so it is closed under taking suffixes.
        let filter = {
            let min = usize::try_from(self.min_domain_labels.unwrap_or(0)).unwrap_or(usize::MAX);
            let mut keys: Vec<u64> = domains.iter().map(|d| d.h1).collect();
            if min <= 1 {
                keys.extend(self.tld_keys.iter().copied());
            }
            for v in self.path_keys.iter().skip(min.max(2)) {
                keys.extend_from_slice(v);
            }
            keys.sort_unstable();
            keys.dedup();
            filter_bytes(&keys)?
        };

        let total = HEADER_LEN
            + SECTIONS * SECTION_ALIGN
            + self.strings.len()
            + self.feeds.len() * 12
            + self.metas.len() * META_SIZE
            + filter.len()
            + home_slots(domains.len()) * DOMAIN_RECORD_SIZE * 11 / 10
            + DOMAIN_PARAMS_SIZE
            + (self.v4.len() + self.v6.len()) * 40
            + self.aux.len() * AUX_SIZE;
        let mut w = SectionWriter::new(total);
        w.section(Section::Strings, |out| out.extend_from_slice(&self.strings));
        w.section(Section::Feeds, |out| {
            for v in self.feeds.iter().flatten() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        });
        w.section(Section::Metas, |out| {
            for m in &self.metas {
                m.encode(out);
            }
        });
        w.section(Section::Filter, |out| out.extend_from_slice(&filter));
        drop(filter);
        let count = u32::try_from(domains.len()).map_err(|_| IntelError::TooLarge("domains"))?;
        let slots = home_slots(domains.len());
        let mut max_displacement = 0usize;
        w.section(Section::Domains, |out| {
            // Sorted records, each at max(home, previous + 1); gaps are empty slots (meta =
            // NONE). The table grows past `slots` only by the last run's overflow.
            let empty = |out: &mut Vec<u8>| {
                out.extend_from_slice(&[0u8; 16]);
                out.extend_from_slice(&NONE.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
            };
            let mut next = 0usize;
            for d in &domains {
                let home = home_slot(d.h1, slots);
                while next < home {
                    empty(out);
                    next += 1;
                }
                max_displacement = max_displacement.max(next - home);
                out.extend_from_slice(&d.h1.to_le_bytes());
                out.extend_from_slice(&d.h2.to_le_bytes());
                out.extend_from_slice(&d.meta.to_le_bytes());
                out.extend_from_slice(&d.line.to_le_bytes());
                next += 1;
            }
            // A trailing gap, so a scan from the last home slot always ends on one.
            while next < slots + 1 {
                empty(out);
                next += 1;
            }
        });
        drop(domains);
        let max_displacement =
            u32::try_from(max_displacement).map_err(|_| IntelError::TooLarge("domains"))?;
        w.section(Section::DomainParams, |out| {
            out.extend_from_slice(&self.min_domain_labels.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&max_displacement.to_le_bytes());
            out.extend_from_slice(&u64::from(count).to_le_bytes());
        });

        let mut v4 = self.v4.clone();
        v4.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        v4.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        let (dir, entries) = ip_sections(
            &v4,
            |e, out| {
                out.extend_from_slice(&e.1.to_le_bytes());
                out.extend_from_slice(&e.2.to_le_bytes());
                out.extend_from_slice(&e.3.to_le_bytes());
            },
            |e| e.0,
        )?;
        w.section(Section::V4Dir, |out| out.extend_from_slice(&dir));
        w.section(Section::V4Entries, |out| out.extend_from_slice(&entries));
        let mut v6 = self.v6.clone();
        v6.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        v6.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
        let (dir, entries) = ip_sections(
            &v6,
            |e, out| {
                out.extend_from_slice(&e.1.to_le_bytes());
                out.extend_from_slice(&e.2.to_le_bytes());
                out.extend_from_slice(&e.3.to_le_bytes());
            },
            |e| e.0,
        )?;
        w.section(Section::V6Dir, |out| out.extend_from_slice(&dir));
        w.section(Section::V6Entries, |out| out.extend_from_slice(&entries));
        w.section(Section::Aux, |out| {
            for (meta, value, line) in &self.aux {
                for v in [*meta, *value, *line, 0] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        });
        Ok(w.finish(now_us))
    }

    /// Builds and atomically replaces `path`: the index is written to a temporary file in the
    /// same directory, fsynced, renamed over `path`, and the directory fsynced. If anything
    /// fails, `path` keeps its previous content.
    pub fn write_to(&self, path: &Path, now_us: u64) -> Result<IndexStats, IntelError> {
        let bytes = self.build(now_us)?;
        let io = |source| IntelError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        let index = crate::index::Index::from_bytes(bytes)?;
        Ok(index.stats())
    }
}

/// Appends sections straight into the output (no per-section copies) on aligned offsets and
/// fills in the header's table and checksums at the end.
struct SectionWriter {
    out: Vec<u8>,
    table: [(u64, u64); SECTIONS],
}

impl SectionWriter {
    fn new(capacity: usize) -> SectionWriter {
        let mut out = Vec::with_capacity(capacity);
        out.resize(HEADER_LEN, 0);
        SectionWriter {
            out,
            table: [(0, 0); SECTIONS],
        }
    }

    fn section(&mut self, s: Section, write: impl FnOnce(&mut Vec<u8>)) {
        let padded = self.out.len().next_multiple_of(SECTION_ALIGN);
        self.out.resize(padded, 0);
        write(&mut self.out);
        if let Some(slot) = self.table.get_mut(s as usize) {
            *slot = (padded as u64, (self.out.len() - padded) as u64);
        }
    }

    fn finish(self, now_us: u64) -> Vec<u8> {
        let SectionWriter { mut out, table } = self;
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&u32::try_from(SECTIONS).unwrap_or(0).to_le_bytes());
        head.extend_from_slice(&now_us.to_le_bytes());
        let body = xxh3_64(out.get(HEADER_LEN..).unwrap_or(&[]));
        head.extend_from_slice(&body.to_le_bytes());
        for (offset, len) in table {
            head.extend_from_slice(&offset.to_le_bytes());
            head.extend_from_slice(&len.to_le_bytes());
        }
        let head_sum = xxh3_64(&head);
        head.extend_from_slice(&head_sum.to_le_bytes());
        debug_assert_eq!(head.len(), HEADER_LEN);
        if let Some(slot) = out.get_mut(..HEADER_LEN) {
            slot.copy_from_slice(&head);
        }
        out
    }
}

/// A binary fuse filter with 16-bit fingerprints: 2.25 bytes per key for a 0.0015 % false
/// positive rate. With 8-bit fingerprints (0.39 %) misses on a 4-label name searched the key
/// array about once per 85 lookups, which is what made most of the key pages resident.
fn filter_bytes(keys: &[u64]) -> Result<Vec<u8>, IntelError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let filter = BinaryFuse16::try_from(keys).map_err(IntelError::Filter)?;
    let mut out = vec![0u8; BinaryFuse16::DESCRIPTOR_LEN];
    filter.dma_copy_descriptor_to(&mut out);
    out.extend_from_slice(filter.dma_fingerprints());
    Ok(out)
}

/// Directory (prefix, start, count) per prefix length, most specific first, and the entries.
fn ip_sections<E>(
    entries: &[E],
    encode: impl Fn(&E, &mut Vec<u8>),
    prefix: impl Fn(&E) -> u8,
) -> Result<(Vec<u8>, Vec<u8>), IntelError> {
    let mut dir = Vec::new();
    let mut out = Vec::new();
    let mut start = 0usize;
    for (i, e) in entries.iter().enumerate() {
        encode(e, &mut out);
        let next_differs = entries.get(i + 1).is_none_or(|n| prefix(n) != prefix(e));
        if next_differs {
            let s = u32::try_from(start).map_err(|_| IntelError::TooLarge("ip entries"))?;
            let c = u32::try_from(i + 1 - start).map_err(|_| IntelError::TooLarge("ip entries"))?;
            dir.extend_from_slice(&[prefix(e), 0, 0, 0]);
            dir.extend_from_slice(&s.to_le_bytes());
            dir.extend_from_slice(&c.to_le_bytes());
            start = i + 1;
        }
    }
    Ok((dir, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{compile_feeds, lookup};
    use crate::index::Index;

    #[test]
    fn build_is_deterministic() {
        let mk = || {
            let mut b = IndexBuilder::new();
            let h = b
                .begin_feed("f", None, "f.txt", ListKind::Block, Severity::Medium)
                .unwrap();
            for i in 0..500u32 {
                let ind = Indicator::new(
                    Target::Domain {
                        name: format!("n{i}.example.com"),
                        subdomains_only: false,
                    },
                    IndicatorId::Line(i + 1),
                );
                b.push(h, &ind).unwrap();
            }
            b.build(42).unwrap()
        };
        assert_eq!(mk(), mk());
    }

    #[test]
    fn duplicate_lines_collapse_but_distinct_feeds_stay() {
        let mut b = IndexBuilder::new();
        for feed in ["a", "b"] {
            let h = b
                .begin_feed(feed, None, feed, ListKind::Block, Severity::Medium)
                .unwrap();
            for line in [1, 2] {
                let t = Target::Domain {
                    name: "dup.example".into(),
                    subdomains_only: false,
                };
                b.push(h, &Indicator::new(t, IndicatorId::Line(line)))
                    .unwrap();
            }
        }
        let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
        assert_eq!(idx.stats().domain_entries, 2);
    }

    #[test]
    fn atomic_replace_keeps_old_index_when_build_fails() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.txt");
        std::fs::write(&good, "0.0.0.0 evil.example\n").unwrap();
        let out = dir.path().join("intel.idx");
        let summary = compile_feeds(std::slice::from_ref(&good), &[], &out, 1).unwrap();
        assert_eq!(summary.feeds[0].name, "good");
        assert_eq!(summary.stats.domain_entries, 1);
        let before = std::fs::read(&out).unwrap();

        // A garbage feed aborts the build: the old index stays byte for byte.
        let garbage = dir.path().join("garbage.txt");
        std::fs::write(
            &garbage,
            "this is not\na feed at all\nlorem ipsum dolor\n".repeat(10),
        )
        .unwrap();
        let err = compile_feeds(&[good.clone(), garbage], &[], &out, 2).unwrap_err();
        assert!(
            matches!(
                err,
                IntelError::UnrecognisedFormat { .. } | IntelError::MostlyGarbage { .. }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), before);

        // A missing feed file too.
        let missing = dir.path().join("missing.txt");
        assert!(matches!(
            compile_feeds(&[missing], &[], &out, 3),
            Err(IntelError::Io { .. })
        ));
        assert_eq!(std::fs::read(&out).unwrap(), before);

        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");

        // An open mapping survives a replacement and keeps answering from the old file.
        let old = Index::open(&out).unwrap();
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "0.0.0.0 other.example\n").unwrap();
        compile_feeds(&[other], &[], &out, 4).unwrap();
        assert!(old.lookup_domain("evil.example", 5).is_blocked());
        let answer = lookup(&out, "x.other.example", 5).unwrap();
        assert!(answer.verdict.is_blocked());
        assert_eq!(
            answer.to_string(),
            "x.other.example: BLOCKED by other.example [feed other, indicator other.txt:1, severity medium]"
        );
    }

    #[test]
    fn named_feeds_and_allowlists_from_paths() {
        let dir = tempfile::tempdir().unwrap();
        let block = dir.path().join("b.txt");
        std::fs::write(&block, "# Version: 3\n||ads.example^\n||example.net^\n").unwrap();
        let allow = dir.path().join("a.txt");
        std::fs::write(&allow, "example.net\n").unwrap();
        let out = dir.path().join("i.idx");
        let arg = PathBuf::from(format!("MyList={}", block.display()));
        let s = compile_feeds(&[arg], &[allow], &out, 0).unwrap();
        assert_eq!(s.feeds[0].name, "MyList");
        assert_eq!(s.feeds[0].version.as_deref(), Some("3"));
        assert_eq!(s.feeds[1].list, ListKind::Allow);
        let a = lookup(&out, "https://x.ads.example/path", 0).unwrap();
        assert_eq!(
            a.to_string(),
            "https://x.ads.example/path: BLOCKED by ads.example [feed MyList (3), indicator b.txt:2, severity medium]"
        );
        assert!(
            lookup(&out, "www.example.net", 0)
                .unwrap()
                .verdict
                .is_allowed()
        );
        assert_eq!(
            lookup(&out, "clean.example", 0).unwrap().to_string(),
            "clean.example: clean"
        );
        assert!(matches!(
            lookup(&dir.path().join("nope"), "x", 0),
            Err(IntelError::Io { .. })
        ));
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(matches!(
            lookup(&dir.path().join("empty"), "x", 0),
            Err(IntelError::CorruptIndex(CorruptIndexKind::Truncated))
        ));
    }

    use crate::error::CorruptIndex as CorruptIndexKind;
    use std::path::PathBuf;
}

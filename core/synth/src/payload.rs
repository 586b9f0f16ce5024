//! Application payloads written byte by byte: DNS messages, a TLS 1.3 ClientHello and the
//! server's first flight, HTTP/1.1 and NTP.
//!
//! These are hand-built rather than produced by hickory or rustls so the bytes are fixed by
//! this crate alone (no library upgrade can change a seed's traffic), and so the parsers the
//! engine uses are checked against an independent writer.

use core::net::IpAddr;

use crate::BuildError;
use crate::rng::SplitMix64;

/// Largest DNS name on the wire (RFC 1035 §2.3.4).
const MAX_NAME_WIRE_LEN: usize = 255;
/// Largest DNS label.
const MAX_LABEL_LEN: usize = 63;
/// Compression pointers are 14-bit offsets.
const MAX_POINTER_OFFSET: usize = 0x3FFF;
/// Largest TLS plaintext record body (RFC 8446 §5.1).
pub const MAX_TLS_RECORD: usize = 16_384;
/// The DNS class IN.
const CLASS_IN: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;

/// The record types the generator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
}

impl QueryType {
    /// The type's number on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Self::A => 1,
            Self::Aaaa => 28,
        }
    }
}

/// What a successful DNS response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsAnswer<'a> {
    /// CNAME chain: the queried name aliases `cnames[0]`, which aliases `cnames[1]`, ...
    pub cnames: &'a [&'a str],
    /// Addresses of the last name in the chain; each written as A or AAAA by its family.
    pub addrs: &'a [IpAddr],
    /// TTL of every record.
    pub ttl: u32,
}

/// Writes a DNS message, compressing names against every suffix already written.
#[derive(Debug, Default)]
struct DnsWriter {
    out: Vec<u8>,
    /// Lowercased name suffixes already on the wire, with their offsets.
    suffixes: Vec<(String, u16)>,
}

impl DnsWriter {
    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Self {
        let mut w = Self::default();
        w.put_u16(id);
        w.put_u16(flags);
        for count in counts {
            w.put_u16(count);
        }
        w
    }

    fn put_u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn put_name(&mut self, name: &str) -> Result<(), BuildError> {
        let labels = name_labels(name)?;
        for i in 0..labels.len() {
            let rest = labels.get(i..).unwrap_or_default();
            let suffix = rest.join(".").to_ascii_lowercase();
            if let Some((_, offset)) = self.suffixes.iter().find(|(s, _)| *s == suffix) {
                self.put_u16(0xC000 | offset);
                return Ok(());
            }
            if let Ok(offset) = u16::try_from(self.out.len())
                && usize::from(offset) <= MAX_POINTER_OFFSET
            {
                self.suffixes.push((suffix, offset));
            }
            if let Some(label) = labels.get(i) {
                // name_labels bounds every label to 63 bytes.
                self.out.push(label.len() as u8);
                self.out.extend_from_slice(label.as_bytes());
            }
        }
        self.out.push(0);
        Ok(())
    }

    fn put_question(&mut self, name: &str, qtype: QueryType) -> Result<(), BuildError> {
        self.put_name(name)?;
        self.put_u16(qtype.code());
        self.put_u16(CLASS_IN);
        Ok(())
    }

    /// Writes a record whose RDATA `rdata` writes; RDLENGTH is patched in afterwards because
    /// compressed names inside RDATA have no length until written.
    fn put_record(
        &mut self,
        name: &str,
        rtype: u16,
        ttl: u32,
        rdata: impl FnOnce(&mut Self) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        self.put_name(name)?;
        self.put_u16(rtype);
        self.put_u16(CLASS_IN);
        self.put_u32(ttl);
        let len_at = self.out.len();
        self.put_u16(0);
        rdata(self)?;
        let rdlen = self.out.len() - len_at - 2;
        let rdlen = u16::try_from(rdlen).map_err(|_| BuildError::FieldTooLong {
            field: "DNS RDATA",
            len: rdlen,
            max: u16::MAX.into(),
        })?;
        for (dst, src) in self.out.iter_mut().skip(len_at).zip(rdlen.to_be_bytes()) {
            *dst = src;
        }
        Ok(())
    }
}

/// Splits a name into labels, refusing what no resolver would send.
fn name_labels(name: &str) -> Result<Vec<&str>, BuildError> {
    let invalid = || BuildError::InvalidName {
        name: name.to_owned(),
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid());
    }
    let labels: Vec<&str> = trimmed.split('.').collect();
    if labels
        .iter()
        .any(|l| l.is_empty() || l.len() > MAX_LABEL_LEN)
    {
        return Err(invalid());
    }
    // Each label has a length byte, plus the root's zero byte.
    let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if wire_len > MAX_NAME_WIRE_LEN {
        return Err(invalid());
    }
    Ok(labels)
}

/// A recursive query (RD set) for `name`.
pub fn dns_query(id: u16, name: &str, qtype: QueryType) -> Result<Vec<u8>, BuildError> {
    let mut w = DnsWriter::header(id, 0x0100, [1, 0, 0, 0]);
    w.put_question(name, qtype)?;
    Ok(w.out)
}

fn count(n: usize, field: &'static str) -> Result<u16, BuildError> {
    u16::try_from(n).map_err(|_| BuildError::FieldTooLong {
        field,
        len: n,
        max: u16::MAX.into(),
    })
}

/// A NOERROR response: the CNAME chain, then the addresses, every owner name compressed.
pub fn dns_response(
    id: u16,
    name: &str,
    qtype: QueryType,
    answer: &DnsAnswer<'_>,
) -> Result<Vec<u8>, BuildError> {
    let answers = count(answer.cnames.len() + answer.addrs.len(), "DNS answer count")?;
    let mut w = DnsWriter::header(id, 0x8180, [1, answers, 0, 0]);
    w.put_question(name, qtype)?;
    let mut owner = name;
    for cname in answer.cnames {
        w.put_record(owner, TYPE_CNAME, answer.ttl, |w| w.put_name(cname))?;
        owner = cname;
    }
    for addr in answer.addrs {
        match addr {
            IpAddr::V4(a) => w.put_record(owner, QueryType::A.code(), answer.ttl, |w| {
                w.out.extend_from_slice(&a.octets());
                Ok(())
            })?,
            IpAddr::V6(a) => w.put_record(owner, QueryType::Aaaa.code(), answer.ttl, |w| {
                w.out.extend_from_slice(&a.octets());
                Ok(())
            })?,
        }
    }
    Ok(w.out)
}

/// An NXDOMAIN response carrying the zone's SOA in the authority section, as real resolvers
/// send (the zone is taken to be the name's last two labels).
pub fn dns_nxdomain(id: u16, name: &str, qtype: QueryType) -> Result<Vec<u8>, BuildError> {
    let labels = name_labels(name)?;
    let zone = labels
        .get(labels.len().saturating_sub(2)..)
        .unwrap_or_default()
        .join(".");
    let mut w = DnsWriter::header(id, 0x8183, [1, 0, 1, 0]);
    w.put_question(name, qtype)?;
    w.put_record(&zone, TYPE_SOA, 900, |w| {
        w.put_name(&format!("ns1.{zone}"))?;
        w.put_name(&format!("hostmaster.{zone}"))?;
        for v in [2_026_110_101, 7200, 3600, 1_209_600, 300] {
            w.put_u32(v);
        }
        Ok(())
    })?;
    Ok(w.out)
}

/// A DNS message framed for TCP: a two-byte length, then the message (RFC 1035 §4.2.2).
pub fn dns_over_tcp(message: &[u8]) -> Result<Vec<u8>, BuildError> {
    let len = count(message.len(), "DNS over TCP message")?;
    let mut out = Vec::with_capacity(message.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(out)
}

/// What goes into a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHelloSpec<'a> {
    /// The SNI host name.
    pub server_name: &'a str,
    /// ALPN protocols in preference order, e.g. `["h2", "http/1.1"]`; empty omits the extension.
    pub alpn: &'a [&'a str],
    /// Also offer an X25519MLKEM768 key share (1216 bytes), as current browsers do; the hello
    /// then grows past one 1460-byte TCP segment.
    pub post_quantum: bool,
    /// Seeds the random, the legacy session id and the key shares.
    pub seed: u64,
}

/// X25519MLKEM768: ML-KEM-768 encapsulation key (1184 bytes) then an X25519 key (32 bytes).
const GROUP_X25519_MLKEM768: u16 = 0x11ec;
const MLKEM768_X25519_SHARE_LEN: usize = 1216;
const GROUP_X25519: u16 = 0x001d;

fn put_u16_prefixed(out: &mut Vec<u8>, field: &'static str, body: &[u8]) -> Result<(), BuildError> {
    out.extend_from_slice(&count(body.len(), field)?.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

fn put_u8_prefixed(out: &mut Vec<u8>, field: &'static str, body: &[u8]) -> Result<(), BuildError> {
    let len = u8::try_from(body.len()).map_err(|_| BuildError::FieldTooLong {
        field,
        len: body.len(),
        max: u8::MAX.into(),
    })?;
    out.push(len);
    out.extend_from_slice(body);
    Ok(())
}

fn put_extension(out: &mut Vec<u8>, ext_type: u16, body: &[u8]) -> Result<(), BuildError> {
    out.extend_from_slice(&ext_type.to_be_bytes());
    put_u16_prefixed(out, "TLS extension", body)
}

fn u16_list(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Wraps a handshake message body in its 4-byte header and a TLS record.
fn handshake_record(msg_type: u8, body: &[u8], record_version: u16) -> Result<Vec<u8>, BuildError> {
    let hs_len = body.len() + 4;
    if hs_len > MAX_TLS_RECORD {
        return Err(BuildError::FieldTooLong {
            field: "TLS handshake record",
            len: hs_len,
            max: MAX_TLS_RECORD,
        });
    }
    let mut out = Vec::with_capacity(hs_len + 5);
    out.push(0x16);
    out.extend_from_slice(&record_version.to_be_bytes());
    out.extend_from_slice(&count(hs_len, "TLS record")?.to_be_bytes());
    out.push(msg_type);
    // hs_len <= 16 KiB, so the 24-bit length's top byte is zero.
    out.push(0);
    out.extend_from_slice(&count(body.len(), "TLS handshake")?.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// A TLS record holding a TLS 1.3 ClientHello shaped like a current mobile browser's: SNI,
/// ALPN, supported_versions (1.3, 1.2), supported_groups, key_share, signature_algorithms,
/// psk modes, extended master secret, renegotiation info.
pub fn tls_client_hello(spec: &ClientHelloSpec<'_>) -> Result<Vec<u8>, BuildError> {
    let mut rng = SplitMix64::new(spec.seed);
    let mut body = Vec::with_capacity(1800);
    body.extend_from_slice(&0x0303u16.to_be_bytes());
    body.extend_from_slice(&rng.bytes::<32>());
    // A 32-byte legacy session id, as browsers send for middlebox compatibility.
    put_u8_prefixed(&mut body, "session id", &rng.bytes::<32>())?;
    let suites = u16_list(&[
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
    ]);
    put_u16_prefixed(&mut body, "cipher suites", &suites)?;
    put_u8_prefixed(&mut body, "compression methods", &[0])?;

    let mut ext = Vec::with_capacity(1600);
    let mut sni = vec![0u8];
    put_u16_prefixed(&mut sni, "SNI host name", spec.server_name.as_bytes())?;
    let mut sni_list = Vec::new();
    put_u16_prefixed(&mut sni_list, "SNI list", &sni)?;
    put_extension(&mut ext, 0x0000, &sni_list)?;
    put_extension(&mut ext, 0x0017, &[])?;
    put_extension(&mut ext, 0xff01, &[0])?;
    let mut groups = Vec::new();
    if spec.post_quantum {
        groups.push(GROUP_X25519_MLKEM768);
    }
    groups.extend_from_slice(&[GROUP_X25519, 0x0017, 0x0018]);
    let mut groups_body = Vec::new();
    put_u16_prefixed(&mut groups_body, "supported groups", &u16_list(&groups))?;
    put_extension(&mut ext, 0x000a, &groups_body)?;
    put_extension(&mut ext, 0x000b, &[1, 0])?;
    put_extension(&mut ext, 0x0023, &[])?;
    if !spec.alpn.is_empty() {
        let mut list = Vec::new();
        for proto in spec.alpn {
            put_u8_prefixed(&mut list, "ALPN protocol", proto.as_bytes())?;
        }
        let mut alpn = Vec::new();
        put_u16_prefixed(&mut alpn, "ALPN list", &list)?;
        put_extension(&mut ext, 0x0010, &alpn)?;
    }
    put_extension(&mut ext, 0x0005, &[1, 0, 0, 0, 0])?;
    let sigalgs = u16_list(&[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ]);
    let mut sigalgs_body = Vec::new();
    put_u16_prefixed(&mut sigalgs_body, "signature algorithms", &sigalgs)?;
    put_extension(&mut ext, 0x000d, &sigalgs_body)?;
    put_extension(&mut ext, 0x0012, &[])?;
    let mut shares = Vec::new();
    if spec.post_quantum {
        let mut key = vec![0u8; MLKEM768_X25519_SHARE_LEN];
        rng.fill(&mut key);
        shares.extend_from_slice(&GROUP_X25519_MLKEM768.to_be_bytes());
        put_u16_prefixed(&mut shares, "key share", &key)?;
    }
    shares.extend_from_slice(&GROUP_X25519.to_be_bytes());
    put_u16_prefixed(&mut shares, "key share", &rng.bytes::<32>())?;
    let mut key_share = Vec::new();
    put_u16_prefixed(&mut key_share, "key shares", &shares)?;
    put_extension(&mut ext, 0x0033, &key_share)?;
    put_extension(&mut ext, 0x002d, &[1, 1])?;
    put_extension(&mut ext, 0x002b, &[4, 0x03, 0x04, 0x03, 0x03])?;
    put_u16_prefixed(&mut body, "extensions", &ext)?;
    // Record version 1.0 in the ClientHello record, as every TLS 1.3 client sends.
    handshake_record(0x01, &body, 0x0301)
}

/// Application-data records carrying `payload_len` random bytes in total (each record at most
/// 16 KiB), standing in for encrypted traffic. Adds 5 bytes of header per record.
pub fn tls_application_data(payload_len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let records = payload_len.div_ceil(MAX_TLS_RECORD);
    let mut out = Vec::with_capacity(payload_len + 5 * records);
    let mut left = payload_len;
    while left > 0 {
        let n = left.min(MAX_TLS_RECORD);
        out.push(0x17);
        out.extend_from_slice(&0x0303u16.to_be_bytes());
        // n <= 16 KiB fits u16.
        out.extend_from_slice(&(n as u16).to_be_bytes());
        let start = out.len();
        out.resize(start + n, 0);
        if let Some(tail) = out.get_mut(start..) {
            rng.fill(tail);
        }
        left -= n;
    }
    out
}

/// The server's first flight as a TLS 1.3 server sends it: a ServerHello (TLS 1.3, x25519,
/// TLS_AES_128_GCM_SHA256), a ChangeCipherSpec, then `encrypted_len` bytes of application-data
/// records standing in for the encrypted extensions, certificate chain and Finished.
pub fn tls_server_flight(encrypted_len: usize, seed: u64) -> Result<Vec<u8>, BuildError> {
    let mut rng = SplitMix64::new(seed);
    let mut body = Vec::with_capacity(128);
    body.extend_from_slice(&0x0303u16.to_be_bytes());
    body.extend_from_slice(&rng.bytes::<32>());
    put_u8_prefixed(&mut body, "session id", &rng.bytes::<32>())?;
    body.extend_from_slice(&0x1301u16.to_be_bytes());
    body.push(0);
    let mut ext = Vec::new();
    put_extension(&mut ext, 0x002b, &0x0304u16.to_be_bytes())?;
    let mut share = GROUP_X25519.to_be_bytes().to_vec();
    put_u16_prefixed(&mut share, "key share", &rng.bytes::<32>())?;
    put_extension(&mut ext, 0x0033, &share)?;
    put_u16_prefixed(&mut body, "extensions", &ext)?;
    let mut out = handshake_record(0x02, &body, 0x0303)?;
    out.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    out.extend_from_slice(&tls_application_data(encrypted_len, rng.next_u64()));
    Ok(out)
}

/// An HTTP/1.1 GET with the headers a mobile client sends.
pub fn http_get(host: &str, path: &str, user_agent: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent}\r\n\
         Accept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n"
    )
    .into_bytes()
}

/// An HTTP/1.1 response with a Content-Length body.
pub fn http_response(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// `len` bytes of readable HTML-ish filler for response bodies.
pub fn html_filler(len: usize) -> Vec<u8> {
    const TEXT: &[u8] = b"<p>The nightjar hunts at dusk, its call a long churring trill.</p>\n";
    TEXT.iter().copied().cycle().take(len).collect()
}

/// Seconds from the NTP epoch (1900) to the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_timestamp(micros: u64) -> [u8; 8] {
    let secs = (micros / 1_000_000 + NTP_UNIX_OFFSET) as u32;
    let frac = (((micros % 1_000_000) << 32) / 1_000_000) as u32;
    let mut out = [0u8; 8];
    for (dst, src) in out
        .iter_mut()
        .zip(secs.to_be_bytes().into_iter().chain(frac.to_be_bytes()))
    {
        *dst = src;
    }
    out
}

/// An SNTP v4 client request (mode 3) sent at `transmit_micros`.
pub fn ntp_request(transmit_micros: u64) -> Vec<u8> {
    let mut out = vec![0u8; 40];
    if let Some(first) = out.first_mut() {
        // LI 0, version 4, mode 3 (client).
        *first = 0x23;
    }
    out.extend_from_slice(&ntp_timestamp(transmit_micros));
    out
}

/// A stratum-2 NTP v4 server reply (mode 4) to a request sent at `request_micros`, answered at
/// `reply_micros`.
pub fn ntp_response(request_micros: u64, reply_micros: u64) -> Vec<u8> {
    let mut out = vec![0x24, 2, 6, 0xE9];
    out.extend_from_slice(&[0, 0, 0, 0x10, 0, 0, 0, 0x20]);
    out.extend_from_slice(&[216, 239, 35, 0]);
    out.extend_from_slice(&ntp_timestamp(reply_micros.saturating_sub(30_000_000)));
    out.extend_from_slice(&ntp_timestamp(request_micros));
    out.extend_from_slice(&ntp_timestamp(reply_micros));
    out.extend_from_slice(&ntp_timestamp(reply_micros));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::{RData, RecordType};

    fn parse_dns(bytes: &[u8]) -> Message {
        Message::from_vec(bytes).unwrap()
    }

    #[test]
    fn query_parses_with_hickory() {
        let q = dns_query(0xBEEF, "Www.Example.org", QueryType::Aaaa).unwrap();
        let m = parse_dns(&q);
        assert_eq!(m.metadata.id, 0xBEEF);
        assert_eq!(m.metadata.message_type, MessageType::Query);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name.to_ascii(), "Www.Example.org.");
        assert_eq!(m.queries[0].query_type, RecordType::AAAA);
        // 12 header + 17 name + 4 type/class.
        assert_eq!(q.len(), 33);
    }

    #[test]
    fn a_and_aaaa_answers_parse_with_hickory() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10));
        let r = dns_response(
            7,
            "example.org",
            QueryType::A,
            &DnsAnswer {
                cnames: &[],
                addrs: &[v4],
                ttl: 300,
            },
        )
        .unwrap();
        let m = parse_dns(&r);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].ttl, 300);
        assert_eq!(m.answers[0].name.to_ascii(), "example.org.");
        assert!(matches!(&m.answers[0].data, RData::A(a) if IpAddr::V4(a.0) == v4));
        // The owner is a pointer to the question name at offset 12.
        assert_eq!(&r[29..31], &[0xC0, 0x0C]);

        let r = dns_response(
            8,
            "example.org",
            QueryType::Aaaa,
            &DnsAnswer {
                cnames: &[],
                addrs: &[v6],
                ttl: 60,
            },
        )
        .unwrap();
        let m = parse_dns(&r);
        assert!(matches!(&m.answers[0].data, RData::AAAA(a) if IpAddr::V6(a.0) == v6));
    }

    #[test]
    fn cname_chain_is_compressed_and_parses_with_hickory() {
        let addrs = [
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
        ];
        let cnames = [
            "www.news.example.com.cdn.example.net",
            "edge7.cdn.example.net",
        ];
        let r = dns_response(
            9,
            "www.news.example.com",
            QueryType::A,
            &DnsAnswer {
                cnames: &cnames,
                addrs: &addrs,
                ttl: 120,
            },
        )
        .unwrap();
        let m = parse_dns(&r);
        let chain: Vec<(String, String)> = m
            .answers
            .iter()
            .map(|rec| {
                let data = match &rec.data {
                    RData::CNAME(c) => c.0.to_ascii(),
                    RData::A(a) => a.0.to_string(),
                    other => panic!("unexpected {other:?}"),
                };
                (rec.name.to_ascii(), data)
            })
            .collect();
        assert_eq!(
            chain,
            vec![
                (
                    "www.news.example.com.".into(),
                    "www.news.example.com.cdn.example.net.".into()
                ),
                (
                    "www.news.example.com.cdn.example.net.".into(),
                    "edge7.cdn.example.net.".into()
                ),
                ("edge7.cdn.example.net.".into(), "198.51.100.1".into()),
                ("edge7.cdn.example.net.".into(), "198.51.100.2".into()),
            ]
        );
        // Without compression the names alone would take 22 + 3*38 + 2*23 bytes.
        let uncompressed_names = 22 + 3 * 38 + 2 * 23;
        assert!(r.len() < 12 + uncompressed_names, "len {}", r.len());
    }

    #[test]
    fn nxdomain_parses_with_soa_authority() {
        let r = dns_nxdomain(10, "qxkvbzrtplm.example.net", QueryType::A).unwrap();
        let m = parse_dns(&r);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.authorities[0].name.to_ascii(), "example.net.");
        let RData::SOA(soa) = &m.authorities[0].data else {
            panic!("not an SOA")
        };
        assert_eq!(soa.mname.to_ascii(), "ns1.example.net.");
        assert_eq!(soa.minimum, 300);
    }

    #[test]
    fn dns_over_tcp_prefixes_the_length() {
        let q = dns_query(1, "example.com", QueryType::A).unwrap();
        let framed = dns_over_tcp(&q).unwrap();
        assert_eq!(u16::from_be_bytes([framed[0], framed[1]]) as usize, q.len());
        assert_eq!(&framed[2..], &q[..]);
        assert!(matches!(
            dns_over_tcp(&vec![0; 70_000]),
            Err(BuildError::FieldTooLong { .. })
        ));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            ".",
            "a..b",
            &"x".repeat(64),
            &["abcdefghi"; 26].join("."),
        ] {
            assert!(
                matches!(
                    dns_query(1, bad, QueryType::A),
                    Err(BuildError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(dns_query(1, "example.com.", QueryType::A).is_ok());
        assert!(dns_query(1, &"x".repeat(63), QueryType::A).is_ok());
    }

    fn accept(bytes: &[u8]) -> rustls::server::Accepted {
        let mut acceptor = rustls::server::Acceptor::default();
        let mut rd = bytes;
        while !rd.is_empty() {
            acceptor.read_tls(&mut rd).unwrap();
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => accepted,
            Ok(None) => panic!("rustls wants more bytes"),
            Err((e, _)) => panic!("rustls rejected the hello: {e}"),
        }
    }

    #[test]
    fn client_hello_is_accepted_by_rustls() {
        let hello = tls_client_hello(&ClientHelloSpec {
            server_name: "api.example.org",
            alpn: &["h2", "http/1.1"],
            post_quantum: false,
            seed: 1,
        })
        .unwrap();
        assert!(hello.len() < 600, "len {}", hello.len());
        let accepted = accept(&hello);
        let ch = accepted.client_hello();
        assert_eq!(ch.server_name(), Some("api.example.org"));
        let alpn: Vec<&[u8]> = ch.alpn().unwrap().collect();
        assert_eq!(alpn, vec![&b"h2"[..], &b"http/1.1"[..]]);
        assert!(
            ch.cipher_suites()
                .contains(&rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(
            ch.named_groups().unwrap(),
            &[
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::secp384r1
            ]
        );
    }

    #[test]
    fn post_quantum_hello_is_large_and_accepted_by_rustls() {
        let hello = tls_client_hello(&ClientHelloSpec {
            server_name: "pq.example.org",
            alpn: &["h2"],
            post_quantum: true,
            seed: 2,
        })
        .unwrap();
        assert!(hello.len() > 1460, "len {}", hello.len());
        let accepted = accept(&hello);
        let ch = accepted.client_hello();
        assert_eq!(ch.server_name(), Some("pq.example.org"));
        assert_eq!(ch.alpn().unwrap().collect::<Vec<_>>(), vec![&b"h2"[..]]);
        assert_eq!(
            ch.named_groups().unwrap().first(),
            Some(&rustls::NamedGroup::X25519MLKEM768)
        );
    }

    #[test]
    fn client_hello_depends_on_seed_only_in_random_fields() {
        let spec = ClientHelloSpec {
            server_name: "a.example",
            alpn: &[],
            post_quantum: false,
            seed: 3,
        };
        let a = tls_client_hello(&spec).unwrap();
        assert_eq!(a, tls_client_hello(&spec).unwrap());
        let b = tls_client_hello(&ClientHelloSpec { seed: 4, ..spec }).unwrap();
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        assert!(accept(&a).client_hello().alpn().is_none());
    }

    /// Walks TLS records, returning (content type, body length) for each; fails on a short read.
    fn records(mut bytes: &[u8]) -> Vec<(u8, usize)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let len = u16::from_be_bytes([bytes[3], bytes[4]]) as usize;
            out.push((bytes[0], len));
            bytes = &bytes[5 + len..];
        }
        out
    }

    #[test]
    fn server_flight_is_well_framed() {
        let flight = tls_server_flight(20_000, 5).unwrap();
        let recs = records(&flight);
        assert_eq!(recs[0].0, 0x16);
        assert_eq!(flight[5], 0x02, "ServerHello");
        assert_eq!(recs[1], (0x14, 1));
        assert_eq!(recs[2..], [(0x17, 16_384), (0x17, 20_000 - 16_384)]);
        assert!(records(&tls_application_data(0, 1)).is_empty());
    }

    #[test]
    fn http_messages_are_well_formed() {
        let get = http_get("neverssl.com", "/online", "Demo/1.0");
        let text = String::from_utf8(get).unwrap();
        assert!(text.starts_with("GET /online HTTP/1.1\r\nHost: neverssl.com\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let body = html_filler(1000);
        assert_eq!(body.len(), 1000);
        let resp = http_response(200, "OK", "text/html", &body);
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = std::str::from_utf8(&resp[..split]).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("Content-Length: 1000\r\n"));
        assert_eq!(&resp[split..], &body[..]);
    }

    #[test]
    fn ntp_packets_have_the_right_mode_and_timestamps() {
        let t = 1_793_523_600_500_000; // 2026-11-01T09:00:00.5Z
        let req = ntp_request(t);
        assert_eq!(req.len(), 48);
        assert_eq!(req[0] & 0x07, 3);
        let secs = u32::from_be_bytes(req[40..44].try_into().unwrap());
        assert_eq!(u64::from(secs), 1_793_523_600 + NTP_UNIX_OFFSET);
        let frac = u32::from_be_bytes(req[44..48].try_into().unwrap());
        assert_eq!(frac, 1 << 31);
        let resp = ntp_response(t, t + 20_000);
        assert_eq!(resp.len(), 48);
        assert_eq!(resp[0] & 0x07, 4);
        assert_eq!(resp[24..32], req[40..48], "originate echoes the request");
    }
}

//! DNS message view: the parts of a DNS message Nightjar's telemetry uses, decoded by
//! hickory-proto with a hard cap on how many records one message may cost us.
//!
//! hickory's own `Message::read` sizes the question vector from the header count
//! (up to 65535 entries) before reading a byte of it, so a 12-byte hostile header
//! could make us allocate megabytes. We therefore drive hickory's per-section
//! decoders ourselves and stop at [`ParseLimits`].

use core::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Header, Message, MessageType};
use hickory_proto::rr::rdata::SVCB;
use hickory_proto::rr::rdata::svcb::SvcParamValue;
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

use crate::presentation::{self, WireNameError};

/// Default cap on resource records decoded per message (all sections together).
pub const DEFAULT_MAX_RECORDS: usize = 256;
/// Default cap on questions per message; real traffic always carries exactly one.
pub const DEFAULT_MAX_QUESTIONS: usize = 8;

/// Why a DNS message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The bytes end before the header or a counted question/answer does.
    #[error("DNS message truncated")]
    Truncated,
    /// The header announces more questions than [`ParseLimits::max_questions`].
    #[error("DNS message announces {count} questions, more than the cap")]
    TooManyRecords {
        /// Question count from the header.
        count: u16,
    },
    /// A name is longer than 255 bytes or a label longer than 63.
    #[error("DNS name too long")]
    NameTooLong,
    /// A compression pointer does not point strictly backwards (a loop or forward jump).
    #[error("bad DNS compression pointer")]
    BadCompressionPointer,
    /// Any other violation of the wire format reported by the decoder.
    #[error("malformed DNS message")]
    Malformed,
}

impl From<DecodeError> for DnsError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::InsufficientBytes => Self::Truncated,
            DecodeError::DomainNameTooLong(_) | DecodeError::LabelBytesTooLong(_) => {
                Self::NameTooLong
            }
            DecodeError::PointerNotPriorToLabel { .. }
            | DecodeError::LabelOverlapsWithOther { .. } => Self::BadCompressionPointer,
            _ => Self::Malformed,
        }
    }
}

/// Bounds on the work one message may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Questions allowed before the message is rejected with [`DnsError::TooManyRecords`].
    pub max_questions: usize,
    /// Resource records decoded across answer, authority and additional sections;
    /// records past the cap are skipped and counted in [`DnsMessage::skipped_records`].
    pub max_records: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_questions: DEFAULT_MAX_QUESTIONS,
            max_records: DEFAULT_MAX_RECORDS,
        }
    }
}

/// Header flag bits that telemetry reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Authoritative answer.
    pub aa: bool,
    /// Message was truncated by the sender.
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Query name in presentation form, lowercased, without the trailing dot
    /// (the root name is `"."`).
    pub name: String,
    /// The same name with the case the client sent (0x20 randomisation shows here).
    pub original_name: String,
    /// QTYPE code.
    pub qtype: u16,
    /// QCLASS code.
    pub qclass: u16,
    /// The name is longer than DNS allows (255 wire bytes); it is kept, cut at
    /// [`crate::presentation::MAX_KEPT`], rather than dropped, since tunnels and
    /// malformed names are what a detector must see.
    pub name_too_long: bool,
}

/// One record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Owner name, lowercased, without the trailing dot.
    pub name: String,
    /// TYPE code.
    pub rtype: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// Decoded data for the types Nightjar uses.
    pub data: AnswerData,
}

/// Record data for the answer types that name flows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name target, lowercased, without the trailing dot.
    Cname(String),
    /// HTTPS (type 65) or SVCB (type 64) service binding; boxed because it is rare and large.
    ServiceBinding(Box<ServiceBinding>),
    /// Any other type; the code is in [`Answer::rtype`].
    Other,
}

/// The parts of an HTTPS/SVCB record that reveal where a client will connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBinding {
    /// SvcPriority (0 = alias mode).
    pub priority: u16,
    /// TargetName, lowercased, without the trailing dot; `"."` means the owner name.
    pub target: String,
    /// `ipv4hint` addresses.
    pub ipv4_hints: Vec<Ipv4Addr>,
    /// `ipv6hint` addresses.
    pub ipv6_hints: Vec<Ipv6Addr>,
    /// `alpn` protocol identifiers.
    pub alpn: Vec<String>,
}

/// A decoded DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Transaction ID.
    pub id: u16,
    /// QR bit.
    pub is_response: bool,
    /// OPCODE (0 = standard query).
    pub opcode: u8,
    /// RCODE including the EDNS extended bits when the OPT record was decoded.
    pub rcode: u16,
    /// AA, TC, RD, RA.
    pub flags: Flags,
    /// Question section.
    pub questions: Vec<Question>,
    /// Answer section (up to the record cap).
    pub answers: Vec<Answer>,
    /// Header counts of authority plus additional records.
    pub other_record_count: u32,
    /// Records the header announced that were not decoded because of the cap.
    pub skipped_records: u32,
    /// The authority or additional section failed to decode; answers are still
    /// valid but the RCODE may lack its EDNS extension.
    pub trailing_sections_malformed: bool,
}

impl DnsMessage {
    /// The first question, which is the one every real resolver sends.
    pub fn question(&self) -> Option<&Question> {
        self.questions.first()
    }
}

/// Decodes `bytes` (one DNS message, without the TCP length prefix) with default limits.
pub fn parse(bytes: &[u8]) -> Result<DnsMessage, DnsError> {
    parse_with_limits(bytes, ParseLimits::default())
}

/// Decodes `bytes` (one DNS message, without the TCP length prefix) under `limits`.
pub fn parse_with_limits(bytes: &[u8], limits: ParseLimits) -> Result<DnsMessage, DnsError> {
    let mut decoder = BinDecoder::new(bytes);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut decoder)?;
    if usize::from(counts.queries) > limits.max_questions {
        return Err(DnsError::TooManyRecords {
            count: counts.queries,
        });
    }
    let mut questions = Vec::with_capacity(usize::from(counts.queries));
    for _ in 0..counts.queries {
        // hickory refuses a name past 255 bytes outright; ours keeps and flags it.
        let q = read_question(bytes, decoder.index())?;
        decoder.read_slice(q.1 - decoder.index())?;
        questions.push(q.0);
    }

    let op = metadata.op_code;
    let mut budget = limits.max_records;
    let announced = [counts.answers, counts.authorities, counts.additionals].map(usize::from);
    let [an_count, ns_count, ar_count] = announced;
    let an_take = an_count.min(budget);
    budget -= an_take;
    let (records, _, _) = Message::read_records(&mut decoder, an_take, false, op)?;
    let answers = records.iter().map(answer).collect();

    let mut skipped = announced.iter().sum::<usize>() - an_take;
    let mut trailing_sections_malformed = false;
    if an_take == an_count {
        // Only the additional section can raise the RCODE (EDNS OPT), so the other
        // sections are read for that and their records then dropped.
        let ns_take = ns_count.min(budget);
        budget -= ns_take;
        match Message::read_records(&mut decoder, ns_take, false, op) {
            Ok(_) => {
                skipped -= ns_take;
                if ns_take == ns_count {
                    let ar_take = ar_count.min(budget);
                    match Message::read_records(&mut decoder, ar_take, true, op) {
                        Ok((_, edns, _)) => {
                            skipped -= ar_take;
                            if let Some(edns) = edns {
                                metadata.merge_response_code(edns.rcode_high());
                            }
                        }
                        Err(_) => trailing_sections_malformed = true,
                    }
                }
            }
            Err(_) => trailing_sections_malformed = true,
        }
    }

    Ok(DnsMessage {
        id: metadata.id,
        is_response: metadata.message_type == MessageType::Response,
        opcode: u8::from(metadata.op_code),
        rcode: u16::from(metadata.response_code),
        flags: Flags {
            aa: metadata.authoritative,
            tc: metadata.truncation,
            rd: metadata.recursion_desired,
            ra: metadata.recursion_available,
        },
        questions,
        answers,
        other_record_count: u32::from(counts.authorities) + u32::from(counts.additionals),
        skipped_records: u32::try_from(skipped).unwrap_or(u32::MAX),
        trailing_sections_malformed,
    })
}

/// Presentation form (RFC 1035 §5.1, decimal escapes) without the trailing dot;
/// the root stays `"."`.
fn presented(name: &Name) -> String {
    presentation::present(name.iter())
}

fn presented_lower(name: &Name) -> String {
    let mut s = presented(name);
    // Escapes are digits, `\` and `\.`, so this lowercases exactly the bytes A-Z.
    s.make_ascii_lowercase();
    s
}

/// The question at `start`, and the offset just past it.
fn read_question(bytes: &[u8], start: usize) -> Result<(Question, usize), DnsError> {
    let name = presentation::read_name(bytes, start).map_err(|e| match e {
        WireNameError::Truncated => DnsError::Truncated,
        WireNameError::BadPointer => DnsError::BadCompressionPointer,
        WireNameError::BadLabelType => DnsError::Malformed,
    })?;
    let fixed = bytes
        .get(name.end..name.end + 4)
        .ok_or(DnsError::Truncated)?;
    let [t0, t1, c0, c1] = <[u8; 4]>::try_from(fixed).map_err(|_| DnsError::Truncated)?;
    let original_name = presentation::present(name.labels.iter().map(Vec::as_slice));
    let mut lower = original_name.clone();
    lower.make_ascii_lowercase();
    Ok((
        Question {
            name: lower,
            original_name,
            qtype: u16::from_be_bytes([t0, t1]),
            qclass: u16::from_be_bytes([c0, c1]),
            name_too_long: name.too_long,
        },
        name.end + 4,
    ))
}

fn answer(record: &Record) -> Answer {
    let data = match &record.data {
        RData::A(a) => AnswerData::A(a.0),
        RData::AAAA(a) => AnswerData::Aaaa(a.0),
        RData::CNAME(c) => AnswerData::Cname(presented_lower(&c.0)),
        RData::HTTPS(h) => AnswerData::ServiceBinding(Box::new(service_binding(&h.0))),
        RData::SVCB(s) => AnswerData::ServiceBinding(Box::new(service_binding(s))),
        _ => AnswerData::Other,
    };
    Answer {
        name: presented_lower(&record.name),
        rtype: u16::from(record.record_type()),
        ttl: record.ttl,
        data,
    }
}

fn service_binding(svcb: &SVCB) -> ServiceBinding {
    let mut out = ServiceBinding {
        priority: svcb.svc_priority,
        target: presented_lower(&svcb.target_name),
        ipv4_hints: Vec::new(),
        ipv6_hints: Vec::new(),
        alpn: Vec::new(),
    };
    for (_, value) in &svcb.svc_params {
        match value {
            SvcParamValue::Ipv4Hint(hint) => out.ipv4_hints.extend(hint.0.iter().map(|a| a.0)),
            SvcParamValue::Ipv6Hint(hint) => out.ipv6_hints.extend(hint.0.iter().map(|a| a.0)),
            SvcParamValue::Alpn(alpn) => out.alpn.extend(alpn.0.iter().cloned()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_messages::Msg;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_and_aaaa_response_keeps_case_and_flags() {
        let m = Msg::response(0xbeef, "WwW.ExAmple.COM.", RecordType::A)
            .a("www.example.com.", 300, v4("192.0.2.1"))
            .aaaa("www.example.com.", 60, "2001:db8::1".parse().unwrap())
            .parsed();
        assert_eq!(m.id, 0xbeef);
        assert!(m.is_response);
        assert_eq!(m.opcode, 0);
        assert_eq!(m.rcode, 0);
        assert!(m.flags.rd && m.flags.ra && !m.flags.aa && !m.flags.tc);
        let q = m.question().unwrap();
        assert_eq!(q.name, "www.example.com");
        assert_eq!(q.original_name, "WwW.ExAmple.COM");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, AnswerData::A(v4("192.0.2.1")));
        assert_eq!((m.answers[0].rtype, m.answers[0].ttl), (1, 300));
        assert_eq!(
            m.answers[1].data,
            AnswerData::Aaaa("2001:db8::1".parse().unwrap())
        );
        assert_eq!(m.answers[1].rtype, 28);
        assert_eq!(m.skipped_records, 0);
    }

    #[test]
    fn cname_targets_are_lowercased_names() {
        let m = Msg::response(1, "a.example.", RecordType::A)
            .cname("a.example.", 30, "B.CDN.Example.net.")
            .a("b.cdn.example.net.", 20, v4("198.51.100.7"))
            .parsed();
        assert_eq!(
            m.answers[0].data,
            AnswerData::Cname("b.cdn.example.net".into())
        );
        assert_eq!(m.answers[0].rtype, 5);
        assert_eq!(m.answers[1].name, "b.cdn.example.net");
    }

    #[test]
    fn https_hints_and_alpn() {
        let m = Msg::response(2, "svc.example.", RecordType::HTTPS)
            .https(
                "svc.example.",
                120,
                ".",
                &["h3", "h2"],
                &[v4("192.0.2.5"), v4("192.0.2.6")],
                &["2001:db8::5".parse().unwrap()],
            )
            .parsed();
        let AnswerData::ServiceBinding(sb) = &m.answers[0].data else {
            panic!("expected service binding, got {:?}", m.answers[0].data);
        };
        assert_eq!(m.answers[0].rtype, 65);
        assert_eq!(sb.priority, 1);
        assert_eq!(sb.target, ".");
        assert_eq!(sb.alpn, ["h3", "h2"]);
        assert_eq!(sb.ipv4_hints, [v4("192.0.2.5"), v4("192.0.2.6")]);
        assert_eq!(sb.ipv6_hints, ["2001:db8::5".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn nxdomain_and_extended_rcode() {
        let m = Msg::response(3, "nope.example.", RecordType::A)
            .rcode(ResponseCode::NXDomain)
            .parsed();
        assert_eq!(m.rcode, 3);
        assert!(m.answers.is_empty());
        // BADVERS (16) only fits with the EDNS high bits.
        let m = Msg::response(4, "x.example.", RecordType::A)
            .edns()
            .rcode(ResponseCode::BADVERS)
            .parsed();
        assert_eq!(m.rcode, 16);
    }

    #[test]
    fn other_types_keep_only_the_code() {
        let m = Msg::response(5, "t.example.", RecordType::TXT)
            .txt("t.example.", 10, "hello")
            .parsed();
        assert_eq!(m.answers[0].data, AnswerData::Other);
        assert_eq!(m.answers[0].rtype, 16);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = Msg::response(6, "www.example.com.", RecordType::A)
            .cname("www.example.com.", 1, "edge.example.net.")
            .a("edge.example.net.", 1, v4("192.0.2.9"))
            .bytes();
        assert!(parse(&bytes).is_ok());
        for cut in 0..bytes.len() {
            let r = parse(&bytes[..cut]);
            assert!(r.is_err(), "prefix of {cut} bytes parsed: {r:?}");
        }
        assert_eq!(parse(&[]), Err(DnsError::Truncated));
        assert_eq!(parse(&bytes[..20]), Err(DnsError::Truncated));
    }

    #[test]
    fn mutated_messages_never_panic() {
        let bytes = Msg::response(7, "www.example.com.", RecordType::HTTPS)
            .https("www.example.com.", 5, ".", &["h2"], &[v4("192.0.2.1")], &[])
            .cname("www.example.com.", 1, "edge.example.net.")
            .bytes();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut m = bytes.clone();
            let i = (state as usize) % m.len();
            m[i] = (state >> 32) as u8;
            let _ = parse(&m);
        }
    }

    fn header(qd: u16, an: u16) -> Vec<u8> {
        let mut h = vec![0x12, 0x34, 0x81, 0x80];
        for c in [qd, an, 0, 0] {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h
    }

    #[test]
    fn compression_pointer_to_itself_is_rejected() {
        // Question name at offset 12 is a pointer to offset 12: a one-step loop.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]);
        assert_eq!(parse(&m), Err(DnsError::BadCompressionPointer));
        // A forward pointer is no better.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xc0, 0x20, 0x00, 0x01, 0x00, 0x01]);
        assert_eq!(parse(&m), Err(DnsError::BadCompressionPointer));
    }

    #[test]
    fn deep_backward_pointer_chain_is_bounded() {
        // Question "a", then 7 answers whose owner names each point at the previous
        // owner (depth grows by one per record), as in Zeek's max-compression-depth trace.
        let mut m = header(1, 7);
        m.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        let mut prev = 12u16;
        for i in 0..7u8 {
            let here = u16::try_from(m.len()).unwrap();
            m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, i + 1]);
            prev = here;
        }
        let msg = parse(&m).unwrap();
        assert_eq!(msg.answers.len(), 7);
        assert!(msg.answers.iter().all(|a| a.name == "a"));
        assert_eq!(msg.answers[6].data, AnswerData::A(v4("127.0.0.7")));
    }

    #[test]
    fn overlong_question_name_is_kept_and_flagged() {
        let mut m = header(1, 0);
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        let msg = parse(&m).unwrap();
        let q = msg.question().unwrap();
        assert!(q.name_too_long);
        assert_eq!(q.name.len(), 5 * 63 + 4);
        assert_eq!((q.qtype, q.qclass), (1, 1));
    }

    #[test]
    fn unprintable_question_bytes_are_decimal_escapes_that_decode_back() {
        let mut m = header(1, 0);
        m.extend_from_slice(b"\x04J\xe4.\\\x02de\x00\x00\x10\x00\x01");
        let q = parse(&m).unwrap().questions.remove(0);
        assert_eq!(q.original_name, "J\\228\\.\\\\.de");
        assert_eq!(q.name, "j\\228\\.\\\\.de");
        assert!(!q.name_too_long);
        let back = crate::presentation::decode(&q.original_name).unwrap();
        assert_eq!(back, vec![b"J\xe4.\\".to_vec(), b"de".to_vec()]);
    }

    #[test]
    fn question_count_is_capped_before_allocation() {
        let m = header(u16::MAX, 0);
        assert_eq!(parse(&m), Err(DnsError::TooManyRecords { count: u16::MAX }));
    }

    #[test]
    fn records_past_the_cap_are_skipped_and_counted() {
        let mut b = Msg::response(8, "many.example.", RecordType::A);
        for i in 0..300u32 {
            b = b.a("many.example.", 1, Ipv4Addr::from(0x0a00_0000 + i));
        }
        let m = b.parsed();
        assert_eq!(m.answers.len(), DEFAULT_MAX_RECORDS);
        assert_eq!(m.skipped_records, 300 - 256);
        let small = parse_with_limits(
            &b.bytes(),
            ParseLimits {
                max_questions: 1,
                max_records: 3,
            },
        )
        .unwrap();
        assert_eq!(small.answers.len(), 3);
        assert_eq!(small.skipped_records, 297);
    }

    #[test]
    fn header_claiming_many_answers_without_bytes_is_truncated() {
        let mut m = header(0, u16::MAX);
        m.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&m), Err(DnsError::Truncated));
    }
}

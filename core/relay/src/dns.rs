//! DNS on the tunnel: reading the query a policy judges, answering the ones
//! it refuses, and reading answers so flows can be judged by name.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::policy::DnsDecision;

/// TTL of synthesized answers: short, so lifting a block takes effect soon.
const SYNTH_TTL: u32 = 60;

/// A query the relay received.
#[derive(Debug)]
pub(crate) struct Query {
    msg: Message,
    /// The first question's name, lower case, without the trailing dot.
    pub(crate) qname: String,
}

/// Read a DNS query; None if it is not one (the relay then forwards it as is).
pub(crate) fn parse_query(payload: &[u8]) -> Option<Query> {
    let msg = Message::from_vec(payload).ok()?;
    if msg.metadata.message_type != MessageType::Query {
        return None;
    }
    let qname = normalise(&msg.queries.first()?.name.to_ascii());
    Some(Query { msg, qname })
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The answer for a query the policy refused, or None for [`DnsDecision::Forward`].
pub(crate) fn refusal(query: &Query, decision: DnsDecision) -> Option<Vec<u8>> {
    let q = &query.msg;
    let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
    resp.metadata.recursion_desired = q.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.queries.clone_from(&q.queries);
    match decision {
        DnsDecision::Forward => return None,
        DnsDecision::NxDomain => resp.metadata.response_code = ResponseCode::NXDomain,
        DnsDecision::Sinkhole => {
            for question in &q.queries {
                let data = match question.query_type {
                    RecordType::A => RData::A(A(Ipv4Addr::UNSPECIFIED)),
                    RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::UNSPECIFIED)),
                    // Other types get an empty NOERROR answer.
                    _ => continue,
                };
                resp.answers
                    .push(Record::from_rdata(question.name.clone(), SYNTH_TTL, data));
            }
        }
    }
    resp.to_vec().ok()
}

/// SERVFAIL for `query` (the upstream failed or timed out): the client
/// gives up or retries at once instead of waiting out its own timeout.
pub(crate) fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
    resp.metadata.recursion_desired = q.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = ResponseCode::ServFail;
    resp.queries = q.queries;
    resp.to_vec().ok()
}

/// The addresses a DNS response gave, with the name asked and the TTL in
/// seconds. Empty for anything that is not a parseable response.
pub(crate) fn answers(payload: &[u8]) -> Vec<(IpAddr, String, u32)> {
    let Ok(msg) = Message::from_vec(payload) else {
        return Vec::new();
    };
    if msg.metadata.message_type != MessageType::Response {
        return Vec::new();
    }
    // Flows are judged by the name the app asked for, not the CNAME target.
    let Some(asked) = msg.queries.first().map(|q| normalise(&q.name.to_ascii())) else {
        return Vec::new();
    };
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((IpAddr::V4(a.0), asked.clone(), r.ttl)),
            RData::AAAA(a) => Some((IpAddr::V6(a.0), asked.clone(), r.ttl)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::op::{OpCode, Query as Question};
    use hickory_proto::rr::Name;

    pub(crate) fn query_bytes(id: u16, name: &str, ty: RecordType) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Question::query(Name::from_ascii(name).unwrap(), ty));
        msg.to_vec().unwrap()
    }

    pub(crate) fn answer_bytes(id: u16, name: &str, addr: Ipv4Addr) -> Vec<u8> {
        let q = Message::from_vec(&query_bytes(id, name, RecordType::A)).unwrap();
        let mut resp = Message::response(id, OpCode::Query);
        resp.queries.clone_from(&q.queries);
        resp.answers.push(Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            300,
            RData::A(A(addr)),
        ));
        resp.to_vec().unwrap()
    }

    #[test]
    fn nxdomain_keeps_id_and_question() {
        let q = parse_query(&query_bytes(0x4242, "Ads.Example.", RecordType::A)).unwrap();
        assert_eq!(q.qname, "ads.example");
        let resp = Message::from_vec(&refusal(&q, DnsDecision::NxDomain).unwrap()).unwrap();
        assert_eq!(resp.metadata.id, 0x4242);
        assert_eq!(resp.metadata.message_type, MessageType::Response);
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(resp.queries, q.msg.queries);
        assert!(resp.answers.is_empty());
        assert!(refusal(&q, DnsDecision::Forward).is_none());
    }

    #[test]
    fn sinkhole_answers_unspecified_addresses() {
        let q = parse_query(&query_bytes(7, "ads.example.", RecordType::AAAA)).unwrap();
        let resp = Message::from_vec(&refusal(&q, DnsDecision::Sinkhole).unwrap()).unwrap();
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert_eq!(resp.answers.len(), 1);
        assert_eq!(
            resp.answers[0].data,
            RData::AAAA(AAAA(Ipv6Addr::UNSPECIFIED))
        );
        let q = parse_query(&query_bytes(8, "ads.example.", RecordType::A)).unwrap();
        let resp = Message::from_vec(&refusal(&q, DnsDecision::Sinkhole).unwrap()).unwrap();
        assert_eq!(resp.answers[0].data, RData::A(A(Ipv4Addr::UNSPECIFIED)));
    }

    #[test]
    fn servfail_keeps_id_and_question() {
        let bytes = query_bytes(0x1234, "slow.example.", RecordType::A);
        let resp = Message::from_vec(&servfail(&bytes).unwrap()).unwrap();
        assert_eq!(resp.metadata.id, 0x1234);
        assert_eq!(resp.metadata.message_type, MessageType::Response);
        assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(resp.queries.len(), 1);
        assert!(servfail(b"\x00").is_none());
    }

    #[test]
    fn answers_name_the_asked_name() {
        let bytes = answer_bytes(9, "Www.Example.", Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(
            answers(&bytes),
            vec![(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                "www.example".to_owned(),
                300
            )]
        );
        assert!(answers(&query_bytes(1, "a.example.", RecordType::A)).is_empty());
        assert!(answers(b"\x00\x01garbage").is_empty());
        assert!(parse_query(&bytes).is_none(), "a response is not a query");
    }
}

//! Test-only builder of DNS wire messages, encoded by hickory-proto.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::svcb::{Alpn, IpHint, SvcParamKey, SvcParamValue};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, HTTPS, SVCB, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A DNS message under construction.
pub(crate) struct Msg(Message);

pub(crate) fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

impl Msg {
    pub(crate) fn query(id: u16, qname: &str, qtype: RecordType) -> Self {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name(qname), qtype));
        Self(m)
    }

    pub(crate) fn response(id: u16, qname: &str, qtype: RecordType) -> Self {
        let mut m = Self::query(id, qname, qtype);
        m.0.metadata.message_type = MessageType::Response;
        m.0.metadata.recursion_available = true;
        m
    }

    pub(crate) fn rcode(mut self, rcode: ResponseCode) -> Self {
        self.0.metadata.response_code = rcode;
        self
    }

    pub(crate) fn edns(mut self) -> Self {
        self.0.set_edns(hickory_proto::op::Edns::new());
        self
    }

    pub(crate) fn a(mut self, owner: &str, ttl: u32, ip: Ipv4Addr) -> Self {
        self.0
            .add_answer(Record::from_rdata(name(owner), ttl, RData::A(A(ip))));
        self
    }

    pub(crate) fn aaaa(mut self, owner: &str, ttl: u32, ip: Ipv6Addr) -> Self {
        self.0
            .add_answer(Record::from_rdata(name(owner), ttl, RData::AAAA(AAAA(ip))));
        self
    }

    pub(crate) fn cname(mut self, owner: &str, ttl: u32, target: &str) -> Self {
        self.0.add_answer(Record::from_rdata(
            name(owner),
            ttl,
            RData::CNAME(CNAME(name(target))),
        ));
        self
    }

    pub(crate) fn txt(mut self, owner: &str, ttl: u32, text: &str) -> Self {
        self.0.add_answer(Record::from_rdata(
            name(owner),
            ttl,
            RData::TXT(TXT::new(vec![text.to_owned()])),
        ));
        self
    }

    pub(crate) fn https(
        mut self,
        owner: &str,
        ttl: u32,
        target: &str,
        alpn: &[&str],
        v4: &[Ipv4Addr],
        v6: &[Ipv6Addr],
    ) -> Self {
        let params = vec![
            (
                SvcParamKey::Alpn,
                SvcParamValue::Alpn(Alpn(alpn.iter().map(|s| (*s).to_owned()).collect())),
            ),
            (
                SvcParamKey::Ipv4Hint,
                SvcParamValue::Ipv4Hint(IpHint(v4.iter().copied().map(A).collect())),
            ),
            (
                SvcParamKey::Ipv6Hint,
                SvcParamValue::Ipv6Hint(IpHint(v6.iter().copied().map(AAAA).collect())),
            ),
        ];
        self.0.add_answer(Record::from_rdata(
            name(owner),
            ttl,
            RData::HTTPS(HTTPS(SVCB::new(1, name(target), params))),
        ));
        self
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0.to_vec().unwrap()
    }

    pub(crate) fn parsed(&self) -> crate::DnsMessage {
        crate::parse(&self.bytes()).unwrap()
    }
}

//! Pairs DNS queries with responses into transaction records shaped like Zeek's dns.log.
//!
//! Behaviour follows Zeek where it matters for telemetry:
//! - a response completes the pending query with the same client/server/transport/ID
//!   and the record is emitted at once;
//! - a response without a pending query still yields a record (no RTT, question
//!   taken from the response), marked [`TxNote::DuplicateResponse`] when the same
//!   ID was answered within the query timeout, [`TxNote::UnmatchedResponse`] otherwise;
//! - a query nobody answers is emitted as unanswered after
//!   [`TransactionConfig::query_timeout_us`] (default 10 s: Android and iOS stub
//!   resolvers give up and retry well before that) or at [`DnsTransactions::drain`];
//! - a response sent by the endpoint the caller called "client" flips the roles
//!   (Zeek's `flip` test): the DNS client is always the querier.
//!
//! Deliberate differences from Zeek: a retransmitted query with the same ID while
//! one is pending is folded into the pending record ([`TxNote::RetransmittedQuery`])
//! instead of producing a second unanswered record, and the RTT is reported for
//! every matched response, including ones with zero answer records.

use std::collections::VecDeque;
use std::net::SocketAddr;

use hashbrown::HashMap;

use crate::message::{AnswerData, DnsMessage, Flags, Question};

type RandomState = foldhash::fast::RandomState;

/// Transport the DNS message travelled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (port 53, mDNS, LLMNR…).
    Udp,
    /// TCP, after [`crate::TcpDnsFramer`].
    Tcp,
}

/// The flow a DNS message belongs to, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// The flow's initiator (normally the DNS client).
    pub client: SocketAddr,
    /// The flow's responder (normally the DNS server).
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
}

/// Remarks attached to a transaction record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxNote {
    /// The client sent the query again (same ID) before it was answered.
    RetransmittedQuery,
    /// A further response for an ID that had already been answered.
    DuplicateResponse,
    /// A response with no query seen for it.
    UnmatchedResponse,
    /// The query was dropped from a full pending table before any response.
    EvictedPending,
    /// The response's question differs from the query's (spoofing or a broken server).
    QuestionMismatch,
    /// The message came from the endpoint the caller called "server" but was a query
    /// (or vice versa); client and server were swapped.
    Flipped,
}

/// One DNS transaction, the analogue of a dns.log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTransaction {
    /// Query time (µs since the Unix epoch); response time when no query was seen.
    pub ts_us: u64,
    /// Response time minus query time, when a query was answered.
    pub rtt_us: Option<u64>,
    /// DNS client (sender of the query).
    pub client: SocketAddr,
    /// DNS server.
    pub server: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// DNS transaction ID.
    pub id: u16,
    /// The caller's flow reference of the first message of the transaction.
    pub flow_ref: u64,
    /// Query name, lowercased, no trailing dot.
    pub query: Option<String>,
    /// Query name as the client cased it.
    pub original_query: Option<String>,
    /// The query name is longer than DNS allows (255 wire bytes); kept, not skipped.
    pub query_too_long: bool,
    /// QTYPE.
    pub qtype: Option<u16>,
    /// QCLASS.
    pub qclass: Option<u16>,
    /// OPCODE.
    pub opcode: u8,
    /// RCODE of the response (with EDNS extension); `None` when unanswered.
    pub rcode: Option<u16>,
    /// AA and RA from the response; RD from the query when seen; TC from either.
    pub flags: Flags,
    /// Answer section as text, like Zeek: addresses, CNAME targets, service
    /// bindings as `priority target [alpn=…] [ipv4hint=…] [ipv6hint=…]`, other types
    /// by mnemonic.
    pub answers: Vec<String>,
    /// TTL in seconds of each entry of `answers`.
    pub ttls: Vec<u32>,
    /// Zeek's `rejected`: a response with a non-zero RCODE that carries neither
    /// question nor answers.
    pub rejected: bool,
    /// A response was seen.
    pub answered: bool,
    /// Remarks, see [`TxNote`].
    pub notes: Vec<TxNote>,
}

impl DnsTransaction {
    /// Zeek's name for the RCODE (`NOERROR`, `NXDOMAIN`, …), `None` when unanswered.
    pub fn rcode_name(&self) -> Option<&'static str> {
        self.rcode.map(rcode_name)
    }
}

/// Zeek's `DNS::base_errors` name for an RCODE.
pub fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => "unknown",
    }
}

/// Caps and timers of [`DnsTransactions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionConfig {
    /// Queries awaiting a response; when full the oldest is emitted unanswered.
    pub max_pending: usize,
    /// Finished records waiting to be collected; when full the oldest is dropped.
    pub max_ready: usize,
    /// How long a query waits for its response before it is emitted unanswered,
    /// and how long an answered ID is remembered to recognise duplicate responses.
    pub query_timeout_us: u64,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        Self {
            max_pending: 4096,
            max_ready: 4096,
            query_timeout_us: 10_000_000,
        }
    }
}

/// What the pairing has seen and shed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Messages passed to [`DnsTransactions::on_message`].
    pub messages: u64,
    /// Messages the caller failed to parse, reported via [`DnsTransactions::on_parse_error`].
    pub parse_errors: u64,
    /// Queries answered by a response.
    pub answered: u64,
    /// Queries emitted unanswered after the timeout or at drain.
    pub unanswered: u64,
    /// Responses with no query seen.
    pub unmatched_responses: u64,
    /// Responses for an ID already answered.
    pub duplicate_responses: u64,
    /// Queries repeated while pending.
    pub retransmitted_queries: u64,
    /// Pending queries pushed out of a full table.
    pub evicted_pending: u64,
    /// Finished records dropped because nobody collected them.
    pub dropped_records: u64,
    /// Messages whose direction contradicted the caller's client/server roles.
    pub flipped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TxKey {
    client: SocketAddr,
    server: SocketAddr,
    transport: Transport,
    id: u16,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    ts_us: u64,
    flow_ref: u64,
    question: Option<Question>,
    opcode: u8,
    flags: Flags,
    notes: Vec<TxNote>,
}

/// Query/response pairing with bounded state. Sans-IO: time comes in `now_us`.
#[derive(Debug)]
pub struct DnsTransactions {
    config: TransactionConfig,
    pending: HashMap<TxKey, Pending, RandomState>,
    /// Pending keys in arrival order; entries whose `seq` no longer matches are stale.
    order: VecDeque<(TxKey, u64)>,
    /// Recently answered keys and when, to tell duplicate responses from unmatched ones.
    answered: HashMap<TxKey, u64, RandomState>,
    answered_order: VecDeque<(TxKey, u64)>,
    ready: VecDeque<DnsTransaction>,
    next_seq: u64,
    counters: DnsCounters,
}

impl Default for DnsTransactions {
    fn default() -> Self {
        Self::new(TransactionConfig::default())
    }
}

impl DnsTransactions {
    /// Empty pairing state with the given caps.
    pub fn new(config: TransactionConfig) -> Self {
        let config = TransactionConfig {
            max_pending: config.max_pending.max(1),
            max_ready: config.max_ready.max(1),
            ..config
        };
        Self {
            config,
            pending: HashMap::with_hasher(RandomState::default()),
            order: VecDeque::new(),
            answered: HashMap::with_hasher(RandomState::default()),
            answered_order: VecDeque::new(),
            ready: VecDeque::new(),
            next_seq: 0,
            counters: DnsCounters::default(),
        }
    }

    /// Counters since creation.
    pub fn counters(&self) -> DnsCounters {
        self.counters
    }

    /// Queries currently awaiting a response.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Records a message the caller could not parse, so it shows in the counters.
    pub fn on_parse_error(&mut self) {
        self.counters.parse_errors += 1;
    }

    /// Feeds one parsed message. `from_client` says whether `ends.client` sent it;
    /// `flow_ref` is the caller's flow id, carried into the record.
    pub fn on_message(
        &mut self,
        now_us: u64,
        ends: Endpoints,
        from_client: bool,
        msg: &DnsMessage,
        flow_ref: u64,
    ) {
        self.counters.messages += 1;
        // The DNS client sends queries and receives responses, whatever the flow says.
        let flipped = msg.is_response == from_client;
        let (client, server) = if flipped {
            self.counters.flipped += 1;
            (ends.server, ends.client)
        } else {
            (ends.client, ends.server)
        };
        let key = TxKey {
            client,
            server,
            transport: ends.transport,
            id: msg.id,
        };
        if msg.is_response {
            self.on_response(now_us, key, msg, flow_ref, flipped);
        } else {
            self.on_query(now_us, key, msg, flow_ref, flipped);
        }
    }

    fn on_query(
        &mut self,
        now_us: u64,
        key: TxKey,
        msg: &DnsMessage,
        flow_ref: u64,
        flipped: bool,
    ) {
        if let Some(p) = self.pending.get_mut(&key) {
            self.counters.retransmitted_queries += 1;
            if !p.notes.contains(&TxNote::RetransmittedQuery) {
                p.notes.push(TxNote::RetransmittedQuery);
            }
            return;
        }
        if self.pending.len() >= self.config.max_pending {
            self.evict_oldest();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut notes = Vec::new();
        if flipped {
            notes.push(TxNote::Flipped);
        }
        self.pending.insert(
            key,
            Pending {
                seq,
                ts_us: now_us,
                flow_ref,
                question: msg.question().cloned(),
                opcode: msg.opcode,
                flags: msg.flags,
                notes,
            },
        );
        self.order.push_back((key, seq));
        if self.order.len() > 2 * self.config.max_pending + 16 {
            let pending = &self.pending;
            self.order
                .retain(|(k, s)| pending.get(k).is_some_and(|p| p.seq == *s));
        }
    }

    fn on_response(
        &mut self,
        now_us: u64,
        key: TxKey,
        msg: &DnsMessage,
        flow_ref: u64,
        flipped: bool,
    ) {
        let (answers, ttls) = answer_texts(msg);
        let rejected = msg.rcode != 0 && msg.questions.is_empty() && msg.answers.is_empty();
        let record = if let Some(p) = self.pending.remove(&key) {
            self.counters.answered += 1;
            let mut notes = p.notes;
            if flipped && !notes.contains(&TxNote::Flipped) {
                notes.push(TxNote::Flipped);
            }
            if let (Some(q), Some(r)) = (&p.question, msg.question())
                && (q.name != r.name || q.qtype != r.qtype)
            {
                notes.push(TxNote::QuestionMismatch);
            }
            let question = p.question.or_else(|| msg.question().cloned());
            DnsTransaction {
                ts_us: p.ts_us,
                rtt_us: Some(now_us.saturating_sub(p.ts_us)),
                client: key.client,
                server: key.server,
                transport: key.transport,
                id: key.id,
                flow_ref: p.flow_ref,
                query: question.as_ref().map(|q| q.name.clone()),
                original_query: question.as_ref().map(|q| q.original_name.clone()),
                query_too_long: question.as_ref().is_some_and(|q| q.name_too_long),
                qtype: question.as_ref().map(|q| q.qtype),
                qclass: question.as_ref().map(|q| q.qclass),
                opcode: p.opcode,
                rcode: Some(msg.rcode),
                flags: Flags {
                    aa: msg.flags.aa,
                    tc: msg.flags.tc || p.flags.tc,
                    rd: p.flags.rd,
                    ra: msg.flags.ra,
                },
                answers,
                ttls,
                rejected,
                answered: true,
                notes,
            }
        } else {
            let duplicate = self
                .answered
                .get(&key)
                .is_some_and(|at| now_us.saturating_sub(*at) <= self.config.query_timeout_us);
            let mut notes = vec![if duplicate {
                self.counters.duplicate_responses += 1;
                TxNote::DuplicateResponse
            } else {
                self.counters.unmatched_responses += 1;
                TxNote::UnmatchedResponse
            }];
            if flipped {
                notes.push(TxNote::Flipped);
            }
            let question = msg.question();
            DnsTransaction {
                ts_us: now_us,
                rtt_us: None,
                client: key.client,
                server: key.server,
                transport: key.transport,
                id: key.id,
                flow_ref,
                query: question.map(|q| q.name.clone()),
                original_query: question.map(|q| q.original_name.clone()),
                query_too_long: question.is_some_and(|q| q.name_too_long),
                qtype: question.map(|q| q.qtype),
                qclass: question.map(|q| q.qclass),
                opcode: msg.opcode,
                rcode: Some(msg.rcode),
                flags: msg.flags,
                answers,
                ttls,
                rejected,
                answered: true,
                notes,
            }
        };
        self.remember_answered(now_us, key);
        self.push_ready(record);
    }

    fn remember_answered(&mut self, now_us: u64, key: TxKey) {
        self.prune_answered(now_us);
        if self.answered.len() >= self.config.max_pending
            && let Some((old, at)) = self.answered_order.pop_front()
            && self.answered.get(&old) == Some(&at)
        {
            self.answered.remove(&old);
        }
        self.answered.insert(key, now_us);
        self.answered_order.push_back((key, now_us));
        if self.answered_order.len() > 2 * self.config.max_pending + 16 {
            let answered = &self.answered;
            self.answered_order
                .retain(|(k, at)| answered.get(k) == Some(at));
        }
    }

    fn prune_answered(&mut self, now_us: u64) {
        while let Some(&(key, at)) = self.answered_order.front() {
            if now_us.saturating_sub(at) <= self.config.query_timeout_us {
                break;
            }
            self.answered_order.pop_front();
            if self.answered.get(&key) == Some(&at) {
                self.answered.remove(&key);
            }
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.seq == seq)
                && let Some(mut p) = self.pending.remove(&key)
            {
                self.counters.evicted_pending += 1;
                p.notes.push(TxNote::EvictedPending);
                self.push_ready(unanswered(key, p));
                return;
            }
        }
    }

    fn push_ready(&mut self, record: DnsTransaction) {
        if self.ready.len() >= self.config.max_ready {
            self.ready.pop_front();
            self.counters.dropped_records += 1;
        }
        self.ready.push_back(record);
    }

    /// Takes the oldest finished record, if any (responses finish records at once).
    pub fn pop_ready(&mut self) -> Option<DnsTransaction> {
        self.ready.pop_front()
    }

    /// Emits queries older than the timeout as unanswered, then hands out every
    /// finished record.
    pub fn poll_expired(
        &mut self,
        now_us: u64,
    ) -> std::collections::vec_deque::Drain<'_, DnsTransaction> {
        while let Some(&(key, seq)) = self.order.front() {
            match self.pending.get(&key) {
                Some(p) if p.seq == seq => {
                    if now_us.saturating_sub(p.ts_us) < self.config.query_timeout_us {
                        break;
                    }
                    self.order.pop_front();
                    if let Some(p) = self.pending.remove(&key) {
                        self.counters.unanswered += 1;
                        self.push_ready(unanswered(key, p));
                    }
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
        self.prune_answered(now_us);
        self.ready.drain(..)
    }

    /// Ends everything: every pending query is emitted unanswered, then all finished
    /// records are handed out.
    pub fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, DnsTransaction> {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.seq == seq)
                && let Some(p) = self.pending.remove(&key)
            {
                self.counters.unanswered += 1;
                self.push_ready(unanswered(key, p));
            }
        }
        self.answered.clear();
        self.answered_order.clear();
        self.ready.drain(..)
    }
}

fn unanswered(key: TxKey, p: Pending) -> DnsTransaction {
    let question = p.question;
    DnsTransaction {
        ts_us: p.ts_us,
        rtt_us: None,
        client: key.client,
        server: key.server,
        transport: key.transport,
        id: key.id,
        flow_ref: p.flow_ref,
        query: question.as_ref().map(|q| q.name.clone()),
        original_query: question.as_ref().map(|q| q.original_name.clone()),
        query_too_long: question.as_ref().is_some_and(|q| q.name_too_long),
        qtype: question.as_ref().map(|q| q.qtype),
        qclass: question.as_ref().map(|q| q.qclass),
        opcode: p.opcode,
        rcode: None,
        flags: Flags {
            aa: false,
            ra: false,
            ..p.flags
        },
        answers: Vec::new(),
        ttls: Vec::new(),
        rejected: false,
        answered: false,
        notes: p.notes,
    }
}

fn answer_texts(msg: &DnsMessage) -> (Vec<String>, Vec<u32>) {
    let mut answers = Vec::with_capacity(msg.answers.len());
    let mut ttls = Vec::with_capacity(msg.answers.len());
    for a in &msg.answers {
        let text = match &a.data {
            AnswerData::A(ip) => ip.to_string(),
            AnswerData::Aaaa(ip) => ip.to_string(),
            AnswerData::Cname(target) => target.clone(),
            AnswerData::ServiceBinding(sb) => {
                let mut s = format!("{} {}", sb.priority, sb.target);
                if !sb.alpn.is_empty() {
                    s.push_str(" alpn=");
                    s.push_str(&sb.alpn.join(","));
                }
                push_list(&mut s, " ipv4hint=", &sb.ipv4_hints);
                push_list(&mut s, " ipv6hint=", &sb.ipv6_hints);
                s
            }
            _ => type_mnemonic(a.rtype),
        };
        answers.push(text);
        ttls.push(a.ttl);
    }
    (answers, ttls)
}

/// hickory's mnemonic, or RFC 3597's `TYPEnnn` for types it does not know.
fn type_mnemonic(rtype: u16) -> String {
    match hickory_proto::rr::RecordType::from(rtype) {
        hickory_proto::rr::RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

fn push_list<T: std::fmt::Display>(s: &mut String, key: &str, items: &[T]) {
    use std::fmt::Write as _;
    for (i, item) in items.iter().enumerate() {
        s.push_str(if i == 0 { key } else { "," });
        let _ = write!(s, "{item}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_messages::Msg;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    const T0: u64 = 1_700_000_000_000_000;

    fn ends() -> Endpoints {
        Endpoints {
            client: "10.0.0.2:40000".parse().unwrap(),
            server: "10.0.0.1:53".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn query(id: u16, name: &str) -> DnsMessage {
        Msg::query(id, name, RecordType::A).parsed()
    }

    fn answer(id: u16, name: &str) -> DnsMessage {
        Msg::response(id, name, RecordType::A)
            .cname(name, 300, "edge.example.net.")
            .a("edge.example.net.", 60, "192.0.2.1".parse().unwrap())
            .parsed()
    }

    #[test]
    fn query_and_response_make_one_record() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(7, "Www.Example.com."), 11);
        assert!(tx.pop_ready().is_none());
        tx.on_message(
            T0 + 2_500,
            ends(),
            false,
            &answer(7, "www.example.com."),
            12,
        );
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.ts_us, T0);
        assert_eq!(r.rtt_us, Some(2_500));
        assert_eq!(r.client, ends().client);
        assert_eq!(r.server, ends().server);
        assert_eq!(r.id, 7);
        assert_eq!(r.flow_ref, 11);
        assert_eq!(r.query.as_deref(), Some("www.example.com"));
        assert_eq!(r.original_query.as_deref(), Some("Www.Example.com"));
        assert_eq!((r.qtype, r.qclass), (Some(1), Some(1)));
        assert_eq!(r.rcode_name(), Some("NOERROR"));
        assert!(r.flags.rd && r.flags.ra && !r.flags.aa);
        assert_eq!(r.answers, ["edge.example.net", "192.0.2.1"]);
        assert_eq!(r.ttls, [300, 60]);
        assert!(r.answered && !r.rejected);
        assert!(r.notes.is_empty());
        assert_eq!(tx.pending_len(), 0);
        assert_eq!(tx.counters().answered, 1);
        assert_eq!(tx.counters().messages, 2);
    }

    #[test]
    fn nxdomain_is_named() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(1, "nope.example."), 0);
        let nx = Msg::response(1, "nope.example.", RecordType::A)
            .rcode(ResponseCode::NXDomain)
            .parsed();
        tx.on_message(T0 + 1, ends(), false, &nx, 0);
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.rcode, Some(3));
        assert_eq!(r.rcode_name(), Some("NXDOMAIN"));
        assert!(r.answers.is_empty());
        assert!(
            !r.rejected,
            "a question was present, so Zeek would not mark it rejected"
        );
    }

    #[test]
    fn unanswered_query_is_emitted_after_the_timeout() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(2, "slow.example."), 5);
        assert_eq!(tx.poll_expired(T0 + 9_999_999).count(), 0);
        let out: Vec<_> = tx.poll_expired(T0 + 10_000_000).collect();
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert!(!r.answered);
        assert_eq!((r.rcode, r.rtt_us, r.rcode_name()), (None, None, None));
        assert_eq!(r.query.as_deref(), Some("slow.example"));
        assert_eq!(tx.counters().unanswered, 1);
        assert_eq!(tx.pending_len(), 0);
    }

    #[test]
    fn second_response_is_a_duplicate_record() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(3, "dup.example."), 1);
        tx.on_message(T0 + 214, ends(), false, &answer(3, "dup.example."), 1);
        tx.on_message(T0 + 400, ends(), false, &answer(3, "dup.example."), 1);
        let first = tx.pop_ready().unwrap();
        let second = tx.pop_ready().unwrap();
        assert_eq!(first.rtt_us, Some(214));
        assert!(first.notes.is_empty());
        assert_eq!(second.rtt_us, None);
        assert_eq!(second.ts_us, T0 + 400);
        assert_eq!(second.notes, [TxNote::DuplicateResponse]);
        assert_eq!(second.query.as_deref(), Some("dup.example"));
        assert_eq!(second.answers, first.answers);
        assert_eq!(tx.counters().duplicate_responses, 1);
        assert_eq!(tx.counters().unmatched_responses, 0);
    }

    #[test]
    fn response_without_query_still_yields_a_record() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), false, &answer(4, "lone.example."), 9);
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.notes, [TxNote::UnmatchedResponse]);
        assert_eq!((r.ts_us, r.rtt_us, r.flow_ref), (T0, None, 9));
        assert_eq!(r.query.as_deref(), Some("lone.example"));
        assert_eq!(r.client, ends().client);
        assert_eq!(tx.counters().unmatched_responses, 1);
    }

    #[test]
    fn response_from_the_flow_initiator_flips_roles() {
        // Like Zeek's flip test: the flow's "client" sent a response.
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &answer(5, "flip.example."), 0);
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.client, ends().server);
        assert_eq!(r.server, ends().client);
        assert!(r.notes.contains(&TxNote::Flipped));
        assert_eq!(tx.counters().flipped, 1);
    }

    #[test]
    fn retransmitted_query_is_folded_and_rtt_counts_from_the_first() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(6, "retry.example."), 0);
        tx.on_message(T0 + 5_000_000, ends(), true, &query(6, "retry.example."), 0);
        assert_eq!(tx.pending_len(), 1);
        tx.on_message(
            T0 + 5_084_025,
            ends(),
            false,
            &answer(6, "retry.example."),
            0,
        );
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.rtt_us, Some(5_084_025));
        assert_eq!(r.notes, [TxNote::RetransmittedQuery]);
        assert!(tx.pop_ready().is_none());
        assert_eq!(tx.counters().retransmitted_queries, 1);
    }

    #[test]
    fn different_transport_or_port_is_a_different_transaction() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(8, "a.example."), 0);
        let tcp = Endpoints {
            transport: Transport::Tcp,
            ..ends()
        };
        tx.on_message(T0 + 1, tcp, false, &answer(8, "a.example."), 0);
        assert_eq!(tx.pop_ready().unwrap().notes, [TxNote::UnmatchedResponse]);
        assert_eq!(tx.pending_len(), 1);
    }

    #[test]
    fn full_pending_table_evicts_the_oldest() {
        let mut tx = DnsTransactions::new(TransactionConfig {
            max_pending: 2,
            ..TransactionConfig::default()
        });
        for id in 1..=3 {
            tx.on_message(
                T0 + u64::from(id),
                ends(),
                true,
                &query(id, "e.example."),
                0,
            );
        }
        assert_eq!(tx.pending_len(), 2);
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.id, 1);
        assert!(!r.answered);
        assert_eq!(r.notes, [TxNote::EvictedPending]);
        assert_eq!(tx.counters().evicted_pending, 1);
        // Answered ones leave stale order entries; churn must not grow state.
        for id in 10..5_000u16 {
            tx.on_message(T0, ends(), true, &query(id, "c.example."), 0);
            tx.on_message(T0, ends(), false, &answer(id, "c.example."), 0);
            let _ = tx.pop_ready();
        }
        assert!(tx.order.len() <= 2 * 2 + 16);
        assert!(tx.answered.len() <= 2 && tx.answered_order.len() <= 2 * 2 + 16);
    }

    #[test]
    fn drain_flushes_pending_and_ready() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(1, "a.example."), 0);
        tx.on_message(T0, ends(), true, &query(2, "b.example."), 0);
        tx.on_message(T0 + 5, ends(), false, &answer(2, "b.example."), 0);
        let out: Vec<_> = tx.drain().collect();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].id, out[0].answered), (2, true));
        assert_eq!((out[1].id, out[1].answered), (1, false));
        assert_eq!(tx.pending_len(), 0);
    }

    #[test]
    fn uncollected_records_are_capped() {
        let mut tx = DnsTransactions::new(TransactionConfig {
            max_ready: 3,
            ..TransactionConfig::default()
        });
        for id in 0..5 {
            tx.on_message(T0, ends(), false, &answer(id, "x.example."), 0);
        }
        let ids: Vec<_> = tx.poll_expired(T0).map(|r| r.id).collect();
        assert_eq!(ids, [2, 3, 4]);
        assert_eq!(tx.counters().dropped_records, 2);
    }

    #[test]
    fn question_mismatch_is_noted() {
        let mut tx = DnsTransactions::default();
        tx.on_message(T0, ends(), true, &query(9, "bank.example."), 0);
        tx.on_message(T0 + 1, ends(), false, &answer(9, "evil.example."), 0);
        let r = tx.pop_ready().unwrap();
        assert_eq!(r.query.as_deref(), Some("bank.example"));
        assert_eq!(r.notes, [TxNote::QuestionMismatch]);
    }

    #[test]
    fn rejected_follows_zeek() {
        let mut tx = DnsTransactions::default();
        let mut refused = Msg::response(10, "r.example.", RecordType::A)
            .rcode(ResponseCode::Refused)
            .parsed();
        refused.questions.clear();
        tx.on_message(T0, ends(), false, &refused, 0);
        let r = tx.pop_ready().unwrap();
        assert!(r.rejected);
        assert_eq!(r.rcode_name(), Some("REFUSED"));
    }

    #[test]
    fn service_binding_and_other_types_render_as_text() {
        let mut tx = DnsTransactions::default();
        let m = Msg::response(11, "s.example.", RecordType::HTTPS)
            .https(
                "s.example.",
                300,
                ".",
                &["h3", "h2"],
                &["104.16.132.229".parse().unwrap()],
                &["2606:4700::6810:84e5".parse().unwrap()],
            )
            .txt("s.example.", 5, "v=spf1")
            .parsed();
        tx.on_message(T0, ends(), false, &m, 0);
        let r = tx.pop_ready().unwrap();
        assert_eq!(
            r.answers,
            [
                "1 . alpn=h3,h2 ipv4hint=104.16.132.229 ipv6hint=2606:4700::6810:84e5",
                "TXT"
            ]
        );
        assert_eq!(r.ttls, [300, 5]);
    }
}

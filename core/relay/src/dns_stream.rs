//! DNS over TCP to the tunnel's resolver with a plain upstream (RFC 7766):
//! the device's stream is cut into its length-prefixed queries so each one
//! meets the same [`DnsPolicy`] as a UDP query. Refused queries are answered
//! on the same stream; the others go upstream, and the upstream's answers
//! come back whole, so a local answer never lands inside one of them
//! (RFC 7766 lets answers arrive out of order, matched by id).

use core::net::IpAddr;

use crate::dns;
use crate::policy::{DnsDecision, DnsPolicy};

/// A framed message at most: the 16-bit length and its bytes.
const MAX_FRAME: usize = 2 + u16::MAX as usize;
/// Bytes queued towards either side before reading from the other pauses,
/// so a side that does not read closes the other's window.
pub(crate) const QUEUE_CAP: usize = 2 * MAX_FRAME;

/// What one stream decided, for the relay's counters and events.
#[derive(Debug, Default)]
pub(crate) struct DnsStreamWork {
    /// Queries the policy refused: the name asked and how.
    pub(crate) refused: Vec<(String, DnsDecision)>,
    /// Queries sent upstream.
    pub(crate) forwarded: u64,
    /// Answers relayed back.
    pub(crate) answered: u64,
    /// Messages from the device that were not queries (dropped).
    pub(crate) malformed: u64,
    /// Addresses the upstream's answers gave, for the flow policy.
    pub(crate) names: Vec<(IpAddr, String, u32)>,
}

/// Bytes queued for one side, written from `at` on.
#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    at: usize,
}

impl Queue {
    fn pending(&self) -> &[u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn consume(&mut self, n: usize) {
        self.at = self.at.saturating_add(n).min(self.bytes.len());
        if self.at == self.bytes.len() {
            self.bytes.clear();
            self.at = 0;
        }
    }

    fn push_frame(&mut self, message: &[u8]) {
        let Ok(len) = u16::try_from(message.len()) else {
            return;
        };
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(message);
    }
}

/// The two directions of one DNS-over-TCP connection, cut into messages.
#[derive(Debug, Default)]
pub(crate) struct DnsStream {
    /// Device bytes not yet a whole message.
    from_device: Vec<u8>,
    /// Upstream bytes not yet a whole message.
    from_out: Vec<u8>,
    /// Framed queries for the upstream.
    to_out: Queue,
    /// Framed answers (local and upstream) for the device.
    to_device: Queue,
}

/// Splits whole frames off the front of `buf`, handing each message to `f`.
fn frames(buf: &mut Vec<u8>, mut f: impl FnMut(&[u8])) {
    let mut at = 0;
    while let Some(&[hi, lo]) = buf.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(message) = buf.get(at + 2..at + 2 + len) else {
            break;
        };
        f(message);
        at += 2 + len;
    }
    buf.drain(..at);
}

impl DnsStream {
    /// How many device bytes it takes now (0 once either queue is full).
    pub(crate) fn device_room(&self) -> usize {
        if self.to_out.len() >= QUEUE_CAP || self.to_device.len() >= QUEUE_CAP {
            return 0;
        }
        MAX_FRAME
    }

    /// How many upstream bytes it takes now.
    pub(crate) fn out_room(&self) -> usize {
        if self.to_device.len() >= QUEUE_CAP {
            return 0;
        }
        MAX_FRAME
    }

    /// Bytes the device sent: each whole query is judged by `policy`.
    pub(crate) fn take_device(
        &mut self,
        bytes: &[u8],
        policy: &dyn DnsPolicy,
        work: &mut DnsStreamWork,
    ) {
        self.from_device.extend_from_slice(bytes);
        let (to_out, to_device) = (&mut self.to_out, &mut self.to_device);
        frames(&mut self.from_device, |message| {
            let Some(query) = dns::parse_query(message) else {
                work.malformed += 1;
                return;
            };
            let decision = policy.decide(&query.qname, None);
            match dns::refusal(&query, decision) {
                Some(answer) => {
                    to_device.push_frame(&answer);
                    work.refused.push((query.qname, decision));
                }
                None => {
                    to_out.push_frame(message);
                    work.forwarded += 1;
                }
            }
        });
    }

    /// Bytes the upstream sent: whole answers are queued for the device.
    pub(crate) fn take_out(&mut self, bytes: &[u8], work: &mut DnsStreamWork) {
        self.from_out.extend_from_slice(bytes);
        let to_device = &mut self.to_device;
        frames(&mut self.from_out, |message| {
            work.answered += 1;
            work.names.extend(dns::answers(message));
            to_device.push_frame(message);
        });
    }

    /// Framed queries waiting for the upstream.
    pub(crate) fn out_pending(&self) -> &[u8] {
        self.to_out.pending()
    }

    /// `n` bytes of [`DnsStream::out_pending`] were written.
    pub(crate) fn out_written(&mut self, n: usize) {
        self.to_out.consume(n);
    }

    /// Framed answers waiting for the device.
    pub(crate) fn device_pending(&self) -> &[u8] {
        self.to_device.pending()
    }

    /// `n` bytes of [`DnsStream::device_pending`] were written.
    pub(crate) fn device_written(&mut self, n: usize) {
        self.to_device.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::tests::{answer_bytes, query_bytes};
    use crate::policy::NameList;
    use core::net::Ipv4Addr;
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RecordType;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut q = Queue::default();
        for m in messages {
            q.push_frame(m);
        }
        q.bytes
    }

    fn unframe(mut bytes: Vec<u8>) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        frames(&mut bytes, |m| v.push(m.to_vec()));
        assert!(bytes.is_empty(), "whole frames only");
        v
    }

    #[test]
    fn queries_split_anywhere_are_judged_one_by_one() {
        let policy = NameList::new(["ads.example"], DnsDecision::NxDomain);
        let good = query_bytes(1, "www.example.", RecordType::A);
        let bad = query_bytes(2, "x.ads.example.", RecordType::A);
        let stream_bytes = framed(&[&good, &bad, &good]);
        // Every split point, including inside a length prefix.
        for cut in 0..stream_bytes.len() {
            let mut s = DnsStream::default();
            let mut work = DnsStreamWork::default();
            s.take_device(&stream_bytes[..cut], &policy, &mut work);
            s.take_device(&stream_bytes[cut..], &policy, &mut work);
            assert_eq!(work.forwarded, 2, "cut {cut}");
            assert_eq!(
                work.refused,
                vec![("x.ads.example".to_owned(), DnsDecision::NxDomain)]
            );
            assert_eq!(
                unframe(s.out_pending().to_vec()),
                vec![good.clone(), good.clone()]
            );
            let local = unframe(s.device_pending().to_vec());
            assert_eq!(local.len(), 1);
            let msg = Message::from_vec(&local[0]).unwrap();
            assert_eq!(msg.metadata.id, 2);
            assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
        }
    }

    #[test]
    fn answers_pass_whole_and_name_addresses() {
        let mut s = DnsStream::default();
        let mut work = DnsStreamWork::default();
        let answer = answer_bytes(9, "www.example.", Ipv4Addr::new(192, 0, 2, 9));
        let bytes = framed(&[&answer]);
        s.take_out(&bytes[..5], &mut work);
        assert!(s.device_pending().is_empty(), "half an answer waits");
        s.take_out(&bytes[5..], &mut work);
        assert_eq!(s.device_pending(), &bytes[..]);
        assert_eq!(work.answered, 1);
        assert_eq!(work.names[0].0, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)));
        s.device_written(3);
        assert_eq!(s.device_pending(), &bytes[3..]);
        s.device_written(bytes.len());
        assert!(s.device_pending().is_empty());
    }

    #[test]
    fn garbage_is_dropped_and_queues_are_capped() {
        let policy = NameList::new(["ads.example"], DnsDecision::Sinkhole);
        let mut s = DnsStream::default();
        let mut work = DnsStreamWork::default();
        s.take_device(&framed(&[b"\x00\x01junk", b""]), &policy, &mut work);
        assert_eq!(work.malformed, 2);
        assert!(s.out_pending().is_empty() && s.device_pending().is_empty());
        let q = query_bytes(3, "www.example.", RecordType::A);
        while s.device_room() > 0 {
            s.take_device(&framed(&[&q]), &policy, &mut work);
        }
        assert!(s.out_pending().len() >= QUEUE_CAP);
        assert!(s.out_pending().len() < QUEUE_CAP + MAX_FRAME);
    }
}

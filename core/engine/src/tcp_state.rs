//! What a TCP flow has shown of its handshake and teardown, and the Zeek
//! `conn_state` that follows from it.

use nightjar_wire::TcpFlags;

/// Bits of TCP history, one per (side, event). Kept as a byte pair so a flow
/// entry stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpHistory(u16);

const ORIG_SYN: u16 = 1 << 0;
const RESP_SYN_ACK: u16 = 1 << 1;
const ORIG_FIN: u16 = 1 << 2;
const RESP_FIN: u16 = 1 << 3;
const ORIG_RST: u16 = 1 << 4;
const RESP_RST: u16 = 1 << 5;
const ORIG_ACK: u16 = 1 << 6;
const RESP_PKT: u16 = 1 << 7;
const ORIG_DATA: u16 = 1 << 8;
const RESP_DATA: u16 = 1 << 9;
const RESP_SYN_NO_ACK: u16 = 1 << 10;
const ORIG_SYN_ACK: u16 = 1 << 11;

/// Where a TCP connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// SYN seen, no SYN-ACK yet.
    SynSent,
    /// SYN and SYN-ACK seen.
    Established,
    /// A FIN has been seen from at least one side.
    Closing,
    /// FIN from both sides, or a RST.
    Closed,
    /// Traffic with no handshake seen (picked up midstream).
    Midstream,
}

impl TcpHistory {
    /// Record one segment; `from_orig` says which side sent it.
    pub fn on_segment(&mut self, from_orig: bool, flags: TcpFlags, has_payload: bool) {
        let mut bits = 0;
        if from_orig {
            if flags.syn() && !flags.ack() {
                bits |= ORIG_SYN;
            }
            if flags.syn() && flags.ack() {
                bits |= ORIG_SYN_ACK;
            }
            if flags.fin() {
                bits |= ORIG_FIN;
            }
            if flags.rst() {
                bits |= ORIG_RST;
            }
            if flags.ack() {
                bits |= ORIG_ACK;
            }
            if has_payload {
                bits |= ORIG_DATA;
            }
        } else {
            bits |= RESP_PKT;
            if flags.syn() && flags.ack() {
                bits |= RESP_SYN_ACK;
            }
            if flags.syn() && !flags.ack() {
                bits |= RESP_SYN_NO_ACK;
            }
            if flags.fin() {
                bits |= RESP_FIN;
            }
            if flags.rst() {
                bits |= RESP_RST;
            }
            if has_payload {
                bits |= RESP_DATA;
            }
        }
        self.0 |= bits;
    }

    fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// The connection's state now.
    pub fn state(self) -> TcpState {
        if self.has(ORIG_RST) || self.has(RESP_RST) || (self.has(ORIG_FIN) && self.has(RESP_FIN)) {
            TcpState::Closed
        } else if self.has(ORIG_FIN) || self.has(RESP_FIN) {
            TcpState::Closing
        } else if self.has(ORIG_SYN) && self.has(RESP_SYN_ACK) {
            TcpState::Established
        } else if self.has(ORIG_SYN) {
            TcpState::SynSent
        } else {
            TcpState::Midstream
        }
    }

    /// Whether the connection is over (both FINs or a RST), so the flow can be
    /// completed after a short linger.
    pub fn is_closed(self) -> bool {
        self.state() == TcpState::Closed
    }

    /// Whether a SYN from the originator would start a new connection on this
    /// 5-tuple (the old one is over, or it never got past its first SYN and
    /// this is a port reuse after a long gap, which the caller decides).
    pub fn syn_starts_new(self) -> bool {
        self.is_closed()
    }

    /// Whether the originator's SYN (`from_orig`) or the responder's SYN-ACK was seen.
    pub fn syn_seen(self, from_orig: bool) -> bool {
        if from_orig {
            self.has(ORIG_SYN)
        } else {
            self.has(RESP_SYN_ACK)
        }
    }

    /// Zeek's `conn_state` for a TCP connection with this history.
    pub fn conn_state(self) -> ConnState {
        let syn = self.has(ORIG_SYN);
        let synack = self.has(RESP_SYN_ACK);
        let established = syn && synack;
        let (ofin, rfin) = (self.has(ORIG_FIN), self.has(RESP_FIN));
        let (orst, rrst) = (self.has(ORIG_RST), self.has(RESP_RST));
        if syn && !synack && !self.has(RESP_PKT) {
            return if orst {
                ConnState::Rstos0
            } else if ofin {
                ConnState::Sh
            } else {
                ConnState::S0
            };
        }
        if syn && !synack && rrst {
            return ConnState::Rej;
        }
        if !syn && synack {
            return if rrst {
                ConnState::Rstrh
            } else if rfin {
                ConnState::Shr
            } else {
                ConnState::Oth
            };
        }
        if !established {
            return ConnState::Oth;
        }
        if orst {
            ConnState::Rsto
        } else if rrst {
            ConnState::Rstr
        } else if ofin && rfin {
            ConnState::Sf
        } else if ofin {
            ConnState::S2
        } else if rfin {
            ConnState::S3
        } else {
            ConnState::S1
        }
    }
}

/// Zeek's connection states (`conn.log` `conn_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ConnState {
    /// Attempt seen, no reply.
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination (for UDP/ICMP: both sides spoke).
    Sf,
    /// Attempt rejected.
    Rej,
    /// Established, originator closed, no reply.
    S2,
    /// Established, responder closed, no reply.
    S3,
    /// Established, originator aborted.
    Rsto,
    /// Responder sent a RST.
    Rstr,
    /// Originator sent SYN then RST, no SYN-ACK.
    Rstos0,
    /// Responder sent SYN-ACK then RST, no SYN seen.
    Rstrh,
    /// Originator sent SYN then FIN, no SYN-ACK.
    Sh,
    /// Responder sent SYN-ACK then FIN, no SYN seen.
    Shr,
    /// No SYN seen, midstream traffic.
    Oth,
}

impl ConnState {
    /// The spelling Zeek uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::Sf => "SF",
            ConnState::Rej => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::Rsto => "RSTO",
            ConnState::Rstr => "RSTR",
            ConnState::Rstos0 => "RSTOS0",
            ConnState::Rstrh => "RSTRH",
            ConnState::Sh => "SH",
            ConnState::Shr => "SHR",
            ConnState::Oth => "OTH",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
    const SYNACK: TcpFlags = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
    const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);
    const FIN: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
    const RST: TcpFlags = TcpFlags(TcpFlags::RST);

    fn run(steps: &[(bool, TcpFlags)]) -> TcpHistory {
        let mut h = TcpHistory::default();
        for &(o, f) in steps {
            h.on_segment(o, f, false);
        }
        h
    }

    #[test]
    fn full_lifecycle() {
        let mut h = TcpHistory::default();
        h.on_segment(true, SYN, false);
        assert_eq!(h.state(), TcpState::SynSent);
        assert_eq!(h.conn_state(), ConnState::S0);
        h.on_segment(false, SYNACK, false);
        h.on_segment(true, ACK, false);
        assert_eq!(h.state(), TcpState::Established);
        assert_eq!(h.conn_state(), ConnState::S1);
        h.on_segment(true, FIN, false);
        assert_eq!(h.state(), TcpState::Closing);
        assert_eq!(h.conn_state(), ConnState::S2);
        h.on_segment(false, FIN, false);
        assert!(h.is_closed());
        assert_eq!(h.conn_state(), ConnState::Sf);
    }

    #[test]
    fn zeek_states() {
        assert_eq!(
            run(&[(true, SYN), (false, RST)]).conn_state(),
            ConnState::Rej
        );
        assert_eq!(
            run(&[(true, SYN), (true, RST)]).conn_state(),
            ConnState::Rstos0
        );
        assert_eq!(run(&[(true, SYN), (true, FIN)]).conn_state(), ConnState::Sh);
        assert_eq!(
            run(&[(false, SYNACK), (false, RST)]).conn_state(),
            ConnState::Rstrh
        );
        assert_eq!(
            run(&[(false, SYNACK), (false, FIN)]).conn_state(),
            ConnState::Shr
        );
        assert_eq!(
            run(&[(true, ACK), (false, ACK)]).conn_state(),
            ConnState::Oth
        );
        assert_eq!(run(&[(true, ACK)]).state(), TcpState::Midstream);
        let est = [(true, SYN), (false, SYNACK), (true, ACK)];
        let with = |extra: (bool, TcpFlags)| {
            let mut v = est.to_vec();
            v.push(extra);
            run(&v).conn_state()
        };
        assert_eq!(with((true, RST)), ConnState::Rsto);
        assert_eq!(with((false, RST)), ConnState::Rstr);
        assert_eq!(with((false, FIN)), ConnState::S3);
        assert_eq!(ConnState::Rstos0.as_str(), "RSTOS0");
    }
}

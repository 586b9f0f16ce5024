//! The smoltcp device between the relay and the tunnel: packets from the
//! tunnel wait in a bounded queue until the interface polls; packets the
//! interface sends are collected for the caller to write back. Packet
//! buffers are recycled through a small pool, so the steady state of a bulk
//! transfer allocates nothing per packet.

use std::collections::VecDeque;

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Spare packet buffers kept at most (each up to one MTU).
const POOL_CAP: usize = 256;
/// Packets the interface may queue for the tunnel before the relay hands
/// them out. Without a cap one poll after a pause could queue every
/// socket's whole window at once: 256 sockets retransmitting 32 KiB each is
/// 12 MiB of packets (measured by `nightjar memory`'s reconnect storm). At
/// the cap smoltcp sees the device as busy and sends the rest next round.
pub(crate) const TX_CAP: usize = 256;

/// Queues on both sides of the interface.
#[derive(Debug)]
pub(crate) struct TunQueues {
    rx: VecDeque<Vec<u8>>,
    rx_bytes: usize,
    rx_cap: usize,
    tx: Vec<Vec<u8>>,
    tx_bytes: usize,
    mtu: usize,
    pool: Vec<Vec<u8>>,
    /// Buffers of received packets smoltcp is done with; they rejoin
    /// `pool` after each interface poll (the receive and transmit tokens
    /// live at the same time, so they cannot share one list).
    spent: Vec<Vec<u8>>,
}

/// A cleared buffer from `pool`, or a new one with room for `mtu` bytes.
fn take_buf(pool: &mut Vec<Vec<u8>>, mtu: usize) -> Vec<u8> {
    pool.pop().unwrap_or_else(|| Vec::with_capacity(mtu))
}

impl TunQueues {
    pub(crate) fn new(mtu: usize, rx_cap: usize) -> Self {
        TunQueues {
            rx: VecDeque::new(),
            rx_bytes: 0,
            rx_cap,
            tx: Vec::new(),
            tx_bytes: 0,
            mtu,
            pool: Vec::new(),
            spent: Vec::new(),
        }
    }

    /// Return the buffers the interface consumed to the pool.
    pub(crate) fn reclaim(&mut self) {
        while self.pool.len() < POOL_CAP {
            match self.spent.pop() {
                Some(b) => self.pool.push(b),
                None => break,
            }
        }
        self.spent.clear();
    }

    /// Give a packet buffer back for reuse.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_CAP && buf.capacity() <= self.mtu.max(2048) {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// Queue a tunnel packet for the interface; false if the queue is full.
    pub(crate) fn push_rx(&mut self, packet: &[u8]) -> bool {
        if self.rx.len() >= self.rx_cap {
            return false;
        }
        self.rx_bytes += packet.len();
        let mut buf = take_buf(&mut self.pool, self.mtu);
        buf.extend_from_slice(packet);
        self.rx.push_back(buf);
        true
    }

    /// Queue a packet the relay built itself (not via smoltcp) for the tunnel.
    pub(crate) fn push_tx(&mut self, packet: Vec<u8>) {
        self.tx_bytes += packet.len();
        self.tx.push(packet);
    }

    #[cfg(test)]
    pub(crate) fn take_tx(&mut self) -> Vec<Vec<u8>> {
        self.tx_bytes = 0;
        core::mem::take(&mut self.tx)
    }

    /// Move the queued tunnel packets into `out` (emptied first), keeping
    /// both vectors' allocations.
    pub(crate) fn swap_tx(&mut self, out: &mut Vec<Vec<u8>>) {
        self.tx_bytes = 0;
        out.clear();
        core::mem::swap(&mut self.tx, out);
    }

    /// The interface may not queue more for the tunnel until it is drained.
    pub(crate) fn tx_full(&self) -> bool {
        self.tx.len() >= TX_CAP
    }

    pub(crate) fn rx_full(&self) -> bool {
        self.rx.len() >= self.rx_cap
    }

    pub(crate) fn rx_pending(&self) -> bool {
        !self.rx.is_empty()
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.rx_bytes + self.tx_bytes
    }
}

/// A received tunnel packet; its buffer goes back to the pool after use.
#[derive(Debug)]
pub(crate) struct RxToken<'a> {
    packet: Vec<u8>,
    pool: &'a mut Vec<Vec<u8>>,
}

/// Room for one packet to the tunnel.
#[derive(Debug)]
pub(crate) struct TxToken<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    tx_bytes: &'a mut usize,
    pool: &'a mut Vec<Vec<u8>>,
    mtu: usize,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(mut self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.packet);
        if self.pool.len() < POOL_CAP {
            self.packet.clear();
            self.pool.push(core::mem::take(&mut self.packet));
        }
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut packet = take_buf(self.pool, self.mtu);
        packet.resize(len, 0);
        let r = f(&mut packet);
        *self.tx_bytes += len;
        self.tx.push(packet);
        r
    }
}

impl phy::Device for TunQueues {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // Receiving may answer: with nowhere to put the answer, the packet
        // waits in its (bounded) queue until the tunnel side is drained.
        if self.tx_full() {
            return None;
        }
        let packet = self.rx.pop_front()?;
        self.rx_bytes = self.rx_bytes.saturating_sub(packet.len());
        Some((
            RxToken {
                packet,
                pool: &mut self.spent,
            },
            TxToken {
                tx: &mut self.tx,
                tx_bytes: &mut self.tx_bytes,
                pool: &mut self.pool,
                mtu: self.mtu,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        if self.tx_full() {
            return None;
        }
        Some(TxToken {
            tx: &mut self.tx,
            tx_bytes: &mut self.tx_bytes,
            pool: &mut self.pool,
            mtu: self.mtu,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        // smoltcp derives the MSS it advertises from this: MTU - 40 for IPv4.
        caps.max_transmission_unit = self.mtu;
        caps.max_burst_size = None;
        // What reaches a tunnel was built by the device's own stack (and
        // checked by nothing in between that could corrupt it): verifying
        // every segment's checksum again costs a pass over each payload.
        // Checksums are still computed for what we send.
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps.checksum.icmpv6 = Checksum::Tx;
        caps
    }
}

//! The smoltcp device between the relay and the tunnel: packets from the
//! tunnel wait in a bounded queue until the interface polls; packets the
//! interface sends are collected for the caller to write back.

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Queues on both sides of the interface.
#[derive(Debug)]
pub(crate) struct TunQueues {
    rx: VecDeque<Vec<u8>>,
    rx_bytes: usize,
    rx_cap: usize,
    tx: Vec<Vec<u8>>,
    tx_bytes: usize,
    mtu: usize,
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
        }
    }

    /// Queue a tunnel packet for the interface; false if the queue is full.
    pub(crate) fn push_rx(&mut self, packet: &[u8]) -> bool {
        if self.rx.len() >= self.rx_cap {
            return false;
        }
        self.rx_bytes += packet.len();
        self.rx.push_back(packet.to_vec());
        true
    }

    /// Queue a packet the relay built itself (not via smoltcp) for the tunnel.
    pub(crate) fn push_tx(&mut self, packet: Vec<u8>) {
        self.tx_bytes += packet.len();
        self.tx.push(packet);
    }

    pub(crate) fn take_tx(&mut self) -> Vec<Vec<u8>> {
        self.tx_bytes = 0;
        core::mem::take(&mut self.tx)
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

/// A received tunnel packet.
#[derive(Debug)]
pub(crate) struct RxToken(Vec<u8>);

/// Room for one packet to the tunnel.
#[derive(Debug)]
pub(crate) struct TxToken<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    tx_bytes: &'a mut usize,
}

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut packet = vec![0; len];
        let r = f(&mut packet);
        *self.tx_bytes += len;
        self.tx.push(packet);
        r
    }
}

impl phy::Device for TunQueues {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let packet = self.rx.pop_front()?;
        self.rx_bytes = self.rx_bytes.saturating_sub(packet.len());
        Some((
            RxToken(packet),
            TxToken {
                tx: &mut self.tx,
                tx_bytes: &mut self.tx_bytes,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken {
            tx: &mut self.tx,
            tx_bytes: &mut self.tx_bytes,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        // smoltcp derives the MSS it advertises from this: MTU - 40 for IPv4.
        caps.max_transmission_unit = self.mtu;
        caps.max_burst_size = None;
        caps
    }
}

//! `nightjar memory`'s relay scenario: a reconnect storm through the real
//! relay (smoltcp stack, socket table, buffer pool, engine) against an
//! in-memory far side, with the relay sized as a phone build would size it.
//!
//! The storm is the case iOS extensions are killed in: after a network change
//! every app reconnects at once while its old connections linger. Here every
//! connection completes its handshake, sends a request, gets a 16 KiB answer
//! the device never acknowledges (so the socket's send buffer stays full) and
//! is abandoned without FIN or RST. Two waves of 20,000 attempts, 31 s apart:
//! the first fills the socket cap and is refused with RST beyond it, the
//! second finds the first wave idle long enough to be evicted.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nightjar_relay::{
    AllowAll, DialError, Dialer, Outbound, OutboundDatagram, Relay, RelayConfig, Token,
};
use nightjar_synth::packet::{IpPair, TcpFlags, TcpSegment, ip_tcp};
use nightjar_wire::{Transport, parse_ip, parse_transport};

use crate::error::CliError;
use crate::memory_cmd::Figures;

/// Connection attempts per wave.
const WAVE: u32 = 20_000;
/// Bytes the far side answers each connection with.
const REPLY: usize = 16 * 1024;

/// A far side that accepts every connection and answers once.
#[derive(Debug, Default)]
struct MemDialer;

#[derive(Debug)]
struct MemStream {
    reply_left: usize,
}

impl Outbound for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reply_left == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.reply_left);
        if let Some(b) = buf.get_mut(..n) {
            b.fill(b'x');
        }
        self.reply_left -= n;
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Dialer for MemDialer {
    fn dial_tcp(
        &mut self,
        _token: Token,
        _dst: SocketAddr,
    ) -> Result<Box<dyn Outbound>, DialError> {
        Ok(Box::new(MemStream { reply_left: REPLY }))
    }

    fn dial_udp(
        &mut self,
        _token: Token,
        _dst: SocketAddr,
    ) -> Result<Box<dyn OutboundDatagram>, DialError> {
        Err(DialError::Io(io::Error::other("the storm is TCP only")))
    }
}

/// The relay as a phone build sizes it: 256 sockets of 32 KiB each way.
pub fn phone_relay_config() -> RelayConfig {
    RelayConfig {
        max_tcp: 256,
        tcp_rx_buffer: 32 * 1024,
        tcp_tx_buffer: 32 * 1024,
        buffer_pool_bytes: 16 * 1024 * 1024,
        max_udp: 256,
        ..RelayConfig::default()
    }
}

fn synth(e: nightjar_synth::BuildError) -> CliError {
    CliError::Synth(e.to_string())
}

/// The sequence number, if `packet` is a SYN-ACK to `port`.
fn syn_ack_seq(packet: &[u8], port: u16) -> Option<u32> {
    let ip = parse_ip(packet).ok()?;
    match parse_transport(ip.protocol, ip.payload).ok()? {
        Transport::Tcp(t) if t.dst_port == port && t.flags.syn() && t.flags.ack() => Some(t.seq),
        _ => None,
    }
}

/// What the storm measured, besides RSS.
#[derive(Debug, Default, Clone, Copy)]
pub struct StormCounts {
    /// Attempts made.
    pub attempts: u64,
    /// Connections the relay admitted.
    pub accepted: u64,
    /// Refused with RST at the cap.
    pub refused: u64,
    /// Evicted to make room.
    pub evicted: u64,
}

/// Runs the storm; returns the figures (RSS filled in by the caller) and the counts.
pub fn reconnect_storm() -> Result<(Figures, StormCounts), CliError> {
    let config = phone_relay_config();
    let mut now = 1_800_000_000_000_000u64;
    let mut relay = Relay::new(
        config,
        Box::new(MemDialer),
        Box::new(AllowAll),
        Box::new(AllowAll),
        now,
    )
    .map_err(|e| CliError::Synth(format!("relay: {e}")))?;
    let dev = Ipv4Addr::new(10, 111, 0, 2);
    let mut peak_accounted = 0usize;
    let mut attempts = 0u64;
    for wave in 0..2u32 {
        for i in 0..WAVE {
            let n = wave * WAVE + i;
            let srv = Ipv4Addr::new(203, 0, 113, 1 + (n % 200) as u8);
            let sport = 10_000 + (n % 50_000) as u16;
            let up = IpPair::new(IpAddr::V4(dev), IpAddr::V4(srv)).map_err(synth)?;
            let isn = n.wrapping_mul(2_654_435_761);
            let syn =
                ip_tcp(up, &TcpSegment::new(sport, 443, TcpFlags::Syn, isn, 0)).map_err(synth)?;
            now += 100;
            attempts += 1;
            relay.on_tun_packet(now, &syn);
            // As the platform loops do: packets handed out of recycled buffers.
            let mut syn_ack = None;
            relay.poll_with(now, |p| syn_ack = syn_ack.or(syn_ack_seq(p, sport)));
            if let Some(seq) = syn_ack {
                let req = TcpSegment::new(
                    sport,
                    443,
                    TcpFlags::PshAck,
                    isn.wrapping_add(1),
                    seq.wrapping_add(1),
                )
                .with_payload(&[b'q'; 200]);
                now += 100;
                relay.on_tun_packet(now, &ip_tcp(up, &req).map_err(synth)?);
                // The answer goes out and is never acknowledged.
                relay.poll_with(now, |_| {});
            }
            while relay.engine_mut().next_event().is_some() {}
            if i % 256 == 0 {
                let m = relay.memory();
                peak_accounted = peak_accounted.max(m.relay_total() + m.engine.total());
            }
        }
        // The first wave goes idle past the eviction threshold before the second.
        now += 31_000_000;
        relay.poll_with(now, |_| {});
    }
    let m = relay.memory();
    peak_accounted = peak_accounted.max(m.relay_total() + m.engine.total());
    let s = relay.stats();
    let engine_now = m.relay_total() + m.engine.total() - m.engine.name_cache;
    let figures = Figures {
        scenario: String::new(),
        peak_rss: 0,
        rss: 0,
        rss_anon: 0,
        // The peak the relay and engine accounted during the storm, so the table compares
        // like with like (peak RSS against peak accounting).
        engine: peak_accounted.max(engine_now) as u64 - m.engine.name_cache as u64,
        name_cache: m.engine.name_cache as u64,
        engine_cap: (m.tcp_buffers_cap + m.engine.total_cap()) as u64,
        index_filter: 0,
        index_resident: 0,
    };
    Ok((
        figures,
        StormCounts {
            attempts,
            accepted: s.tcp_accepted,
            refused: s.tcp_refused_cap,
            evicted: s.tcp_evicted,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The storm is refused at the cap and evicts idle connections, and what the relay
    /// accounts stays within its caps.
    #[test]
    fn storm_is_refused_at_the_cap_and_evicts_the_idle() {
        let (f, c) = reconnect_storm().unwrap();
        let cap = phone_relay_config().tcp_cap() as u64;
        assert_eq!(c.attempts, 2 * u64::from(WAVE));
        assert!(c.accepted >= 2 * cap, "{c:?}");
        assert!(c.refused > 0, "{c:?}");
        assert!(c.evicted >= cap / 2, "{c:?}");
        assert_eq!(c.accepted, c.attempts - c.refused, "{c:?}");
        assert!(f.engine <= f.engine_cap, "{f:?}");
    }
}

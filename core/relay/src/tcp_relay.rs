//! One relayed TCP connection: a smoltcp socket facing the device and an
//! outbound stream facing the network, with bytes moved between them only
//! as fast as the slower side takes them (the other side's window closes).

use core::net::SocketAddr;
use std::io::ErrorKind;

use hashbrown::HashMap;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};

use crate::dialer::{Outbound, Token};
use crate::dns_stream::{DnsStream, DnsStreamWork};
use crate::policy::DnsPolicy;

/// A socket still listening this long after its SYN was fed never got it.
const STALE_LISTEN_US: u64 = 10_000_000;

#[derive(Debug)]
pub(crate) struct TcpConn {
    pub(crate) handle: SocketHandle,
    out: Option<Box<dyn Outbound>>,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    out_readable: bool,
    out_writable: bool,
    /// The far side closed; our FIN towards the device is queued.
    out_eof: bool,
    /// The device closed; we shut the outbound sending half.
    out_shut: bool,
    created_us: u64,
    pub(crate) last_active_us: u64,
    /// For DNS over TCP to the tunnel's resolver: the stream cut into
    /// messages, so the policy sees every query.
    dns: Option<DnsStream>,
}

/// What servicing a connection did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Serviced {
    /// Bytes device to network.
    pub(crate) up: u64,
    /// Bytes network to device.
    pub(crate) down: u64,
    /// Something changed that smoltcp must act on (data queued, close, abort).
    pub(crate) changed: bool,
    /// The connection is over: drop it.
    pub(crate) remove: bool,
    /// It ended because the outbound side failed.
    pub(crate) out_failed: bool,
}

impl TcpConn {
    pub(crate) fn new(
        handle: SocketHandle,
        out: Box<dyn Outbound>,
        src: SocketAddr,
        dst: SocketAddr,
        now_us: u64,
        dns: bool,
    ) -> Self {
        TcpConn {
            handle,
            out: Some(out),
            src,
            dst,
            out_readable: true,
            out_writable: true,
            out_eof: false,
            out_shut: false,
            created_us: now_us,
            last_active_us: now_us,
            dns: dns.then(DnsStream::default),
        }
    }

    /// The local address of the outbound socket, if it has one.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.out.as_ref().and_then(|o| o.local_addr())
    }

    /// Closes the outbound socket; the next service resets the device side.
    pub(crate) fn drop_outbound(&mut self) {
        self.out = None;
    }

    pub(crate) fn set_readable(&mut self) {
        self.out_readable = true;
    }

    pub(crate) fn set_writable(&mut self) {
        self.out_writable = true;
    }

    /// Move what can be moved between the socket and the outbound stream.
    /// A DNS connection's queries meet `policy`; what it decided lands in `work`.
    pub(crate) fn service(
        &mut self,
        sock: &mut tcp::Socket<'_>,
        now_us: u64,
        policy: &dyn DnsPolicy,
        work: &mut DnsStreamWork,
    ) -> Serviced {
        let mut done = Serviced::default();
        match sock.state() {
            // Aborted sockets keep their tuple until smoltcp has sent the RST.
            State::Closed if sock.remote_endpoint().is_none() => {
                done.remove = true;
                return done;
            }
            State::Closed => return done,
            State::Listen => {
                done.remove = now_us.saturating_sub(self.created_us) > STALE_LISTEN_US;
                return done;
            }
            _ => {}
        }
        if self.out.is_none() {
            sock.abort();
            done.changed = true;
            return done;
        }
        let failed = if self.dns.is_some() {
            self.move_dns(sock, policy, work, &mut done)
        } else {
            self.move_bytes(sock, &mut done)
        };
        if failed {
            // Refused, reset or unreachable: the device gets a RST.
            sock.abort();
            self.out = None;
            done.changed = true;
            done.out_failed = true;
        }
        if done.up > 0 || done.down > 0 {
            self.last_active_us = now_us;
        }
        // Both sides closed and every byte delivered. A stray retransmission
        // from the device now gets a RST, which costs less than holding the
        // socket through TIME-WAIT.
        if !failed && sock.state() == State::TimeWait && sock.recv_queue() == 0 && self.out_shut {
            done.remove = true;
        }
        done
    }

    /// Relays bytes as they come; true if the outbound side failed.
    fn move_bytes(&mut self, sock: &mut tcp::Socket<'_>, done: &mut Serviced) -> bool {
        let Some(out) = self.out.as_mut() else {
            return false;
        };
        let mut failed = false;

        // Device to network: only take from the socket what the outbound
        // stream accepts, so a slow network closes the device's window.
        while self.out_writable && sock.can_recv() {
            let r = sock.recv(|buf| match out.write(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Ok(Ok(0)) | Err(_) => break,
                Ok(Ok(n)) => {
                    done.up += n as u64;
                    done.changed = true;
                }
                Ok(Err(e)) if e.kind() == ErrorKind::WouldBlock => self.out_writable = false,
                Ok(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Ok(Err(_)) => {
                    failed = true;
                    break;
                }
            }
        }

        // The device sent FIN and everything before it is out: pass it on.
        let device_closed = matches!(
            sock.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        );
        if !failed && device_closed && !self.out_shut && sock.recv_queue() == 0 {
            self.out_shut = true;
            // ENOTCONN here means the far side already went away; the read
            // side reports that.
            let _ = out.shutdown_write();
        }

        // Network to device: only read what the socket's send buffer holds.
        while !failed && self.out_readable && !self.out_eof && sock.can_send() {
            let r = sock.send(|buf| match out.read(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Err(_) => break,
                Ok(Ok(0)) => {
                    self.out_eof = true;
                    sock.close();
                    done.changed = true;
                }
                Ok(Ok(n)) => {
                    done.down += n as u64;
                    done.changed = true;
                }
                Ok(Err(e)) if e.kind() == ErrorKind::WouldBlock => self.out_readable = false,
                Ok(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Ok(Err(_)) => failed = true,
            }
        }
        failed
    }

    /// Relays a DNS connection message by message (see [`DnsStream`]);
    /// true if the outbound side failed.
    fn move_dns(
        &mut self,
        sock: &mut tcp::Socket<'_>,
        policy: &dyn DnsPolicy,
        work: &mut DnsStreamWork,
        done: &mut Serviced,
    ) -> bool {
        let (Some(out), Some(stream)) = (self.out.as_mut(), self.dns.as_mut()) else {
            return false;
        };
        let mut failed = false;
        while sock.can_recv() && stream.device_room() > 0 {
            let room = stream.device_room();
            let r = sock.recv(|buf| {
                let n = buf.len().min(room);
                stream.take_device(buf.get(..n).unwrap_or_default(), policy, work);
                (n, n)
            });
            match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    done.up += n as u64;
                    done.changed = true;
                }
            }
        }
        while self.out_writable && !stream.out_pending().is_empty() {
            match out.write(stream.out_pending()) {
                Ok(0) => break,
                Ok(n) => stream.out_written(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.out_writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let device_closed = matches!(
            sock.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        );
        if !failed
            && device_closed
            && !self.out_shut
            && sock.recv_queue() == 0
            && stream.out_pending().is_empty()
        {
            self.out_shut = true;
            let _ = out.shutdown_write();
        }
        let mut buf = [0u8; 4096];
        while !failed && self.out_readable && !self.out_eof && stream.out_room() > 0 {
            match out.read(&mut buf) {
                Ok(0) => self.out_eof = true,
                Ok(n) => {
                    stream.take_out(buf.get(..n).unwrap_or_default(), work);
                    done.down += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.out_readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => failed = true,
            }
        }
        while !failed && sock.can_send() && !stream.device_pending().is_empty() {
            match sock.send_slice(stream.device_pending()) {
                Ok(n) if n > 0 => {
                    stream.device_written(n);
                    done.changed = true;
                }
                _ => break,
            }
        }
        // The far side closed and every answer it gave is with the device.
        if !failed
            && self.out_eof
            && stream.device_pending().is_empty()
            && matches!(sock.state(), State::Established | State::CloseWait)
        {
            sock.close();
            done.changed = true;
        }
        failed
    }
}

/// The live connections, by token and by device-side tuple.
#[derive(Debug, Default)]
pub(crate) struct TcpTable {
    pub(crate) conns: HashMap<Token, TcpConn>,
    pub(crate) by_tuple: HashMap<(SocketAddr, SocketAddr), Token>,
}

impl TcpTable {
    pub(crate) fn insert(&mut self, token: Token, conn: TcpConn) {
        self.by_tuple.insert((conn.src, conn.dst), token);
        self.conns.insert(token, conn);
    }

    pub(crate) fn remove(&mut self, token: Token) -> Option<TcpConn> {
        let conn = self.conns.remove(&token)?;
        if self.by_tuple.get(&(conn.src, conn.dst)) == Some(&token) {
            self.by_tuple.remove(&(conn.src, conn.dst));
        }
        Some(conn)
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The least recently active connection idle at least `min_idle_us`.
    pub(crate) fn stalest(&self, now_us: u64, min_idle_us: u64) -> Option<Token> {
        self.conns
            .iter()
            .filter(|(_, c)| now_us.saturating_sub(c.last_active_us) >= min_idle_us)
            .min_by_key(|(_, c)| c.last_active_us)
            .map(|(t, _)| *t)
    }
}

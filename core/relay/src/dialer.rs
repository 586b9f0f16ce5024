//! Outbound sockets: the trait the host implements to open them (so Android
//! can `protect()` them and iOS can bind them outside the tunnel), and the
//! plain one for Linux.

use core::net::SocketAddr;
use std::io::{self, Read, Write};
use std::net::Shutdown;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Names one relayed connection or flow in readiness reports. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

/// A non-blocking outbound TCP stream. `read`/`write` follow `std::io`:
/// `ErrorKind::WouldBlock` means "wait for the next readiness report", and
/// `read` returning 0 means the far side closed its half.
pub trait Outbound: core::fmt::Debug + Send {
    /// Read what the far side sent.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Send towards the far side.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Close our sending half (the device sent FIN).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// The local address the socket is bound to (which network path it
    /// leaves by); None if unknown, which a network change treats as the
    /// old path.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// A non-blocking outbound UDP socket connected to one destination.
pub trait OutboundDatagram: core::fmt::Debug + Send {
    /// Send one datagram.
    fn send(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Receive one datagram.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// The local address the socket is bound to; see [`Outbound::local_addr`].
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// Opens outbound sockets. Both calls must not block: a TCP connect still in
/// progress is fine (report writability when it completes). The host reports
/// readiness of the returned socket under `token` via
/// [`crate::Relay::on_outbound_readable`] / [`crate::Relay::on_outbound_writable`],
/// edge-triggered: the relay reads and writes until `WouldBlock`.
///
/// `Send` (with the sockets it returns), so a [`crate::Relay`] can move to
/// or be shared behind a lock with an I/O thread.
pub trait Dialer: core::fmt::Debug + Send {
    /// Start a TCP connection to `dst`.
    fn dial_tcp(&mut self, token: Token, dst: SocketAddr) -> Result<Box<dyn Outbound>, DialError>;
    /// Open a UDP socket connected to `dst`.
    fn dial_udp(
        &mut self,
        token: Token,
        dst: SocketAddr,
    ) -> Result<Box<dyn OutboundDatagram>, DialError>;
}

/// Why an outbound socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The operating system refused.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The host's protect hook refused the socket.
    #[error("the protect hook refused the socket")]
    Protect,
}

/// Called with each new socket's descriptor before it connects; false
/// refuses it. Android's `VpnService.protect(fd)` goes here.
pub type ProtectFn = dyn Fn(std::os::fd::RawFd) -> bool + Send;

/// Plain sockets registered with a mio registry: the Linux dialer. A relay
/// [`Token`] `t` is registered as `mio::Token(token_base + t)`.
pub struct StdDialer {
    registry: mio::Registry,
    token_base: usize,
    protect: Option<Box<ProtectFn>>,
}

impl core::fmt::Debug for StdDialer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StdDialer")
            .field("token_base", &self.token_base)
            .field("protect", &self.protect.is_some())
            .finish()
    }
}

impl StdDialer {
    /// A dialer registering sockets with `registry`, relay tokens offset by `token_base`.
    pub fn new(registry: mio::Registry, token_base: usize) -> Self {
        StdDialer {
            registry,
            token_base,
            protect: None,
        }
    }

    /// Call `protect` on every socket before it connects.
    pub fn with_protect(mut self, protect: Box<ProtectFn>) -> Self {
        self.protect = Some(protect);
        self
    }

    /// The mio token `token` is registered under.
    pub fn mio_token(&self, token: Token) -> mio::Token {
        mio::Token(self.token_base.wrapping_add(token.0 as usize))
    }

    /// The relay token behind a mio token, if it is one of ours.
    pub fn relay_token(&self, token: mio::Token) -> Option<Token> {
        token
            .0
            .checked_sub(self.token_base)
            .map(|t| Token(t as u64))
    }

    fn socket(&self, dst: SocketAddr, ty: Type, proto: Protocol) -> Result<Socket, DialError> {
        let socket = Socket::new(Domain::for_address(dst), ty, Some(proto))?;
        if let Some(protect) = &self.protect {
            use std::os::fd::AsRawFd;
            if !protect(socket.as_raw_fd()) {
                return Err(DialError::Protect);
            }
        }
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

fn connect_in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EINPROGRESS)
}

impl Dialer for StdDialer {
    fn dial_tcp(&mut self, token: Token, dst: SocketAddr) -> Result<Box<dyn Outbound>, DialError> {
        let socket = self.socket(dst, Type::STREAM, Protocol::TCP)?;
        socket.set_tcp_nodelay(true)?;
        match socket.connect(&SockAddr::from(dst)) {
            Ok(()) => {}
            Err(e) if connect_in_progress(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let mut stream = mio::net::TcpStream::from_std(socket.into());
        self.registry.register(
            &mut stream,
            self.mio_token(token),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )?;
        Ok(Box::new(StdTcp(stream)))
    }

    fn dial_udp(
        &mut self,
        token: Token,
        dst: SocketAddr,
    ) -> Result<Box<dyn OutboundDatagram>, DialError> {
        let socket = self.socket(dst, Type::DGRAM, Protocol::UDP)?;
        socket.connect(&SockAddr::from(dst))?;
        let mut udp = mio::net::UdpSocket::from_std(socket.into());
        self.registry
            .register(&mut udp, self.mio_token(token), mio::Interest::READABLE)?;
        Ok(Box::new(StdUdp(udp)))
    }
}

/// A TCP stream opened by [`StdDialer`].
#[derive(Debug)]
struct StdTcp(mio::net::TcpStream);

impl Outbound for StdTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.shutdown(Shutdown::Write)
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

/// A UDP socket opened by [`StdDialer`].
#[derive(Debug)]
struct StdUdp(mio::net::UdpSocket);

impl OutboundDatagram for StdUdp {
    fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf)
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.local_addr().ok()
    }
}

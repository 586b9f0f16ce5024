//! Relay mode's edge: the [`Relay`] under the engine lock, the `nightjar-relay` I/O thread that
//! waits on its outbound sockets, and the bounded queue of tunnel packets nobody has taken yet.
//!
//! # How packets move
//! * `ingest` feeds each device packet to [`Relay::on_tun_packet_verdict`] (the engine inside the
//!   relay watches it, as in monitor mode) and polls the relay every [`POLL_EVERY`] packets and
//!   at the end of the batch; what the relay produced then comes back in
//!   `IngestResult::to_tunnel`, after any packets still queued from the thread.
//! * The `nightjar-relay` thread owns a `mio::Poll`; the relay's [`StdDialer`] registers each
//!   outbound socket with it. The thread sleeps until a socket is ready, the relay's
//!   [`Relay::next_deadline`], or a wake from `ingest` (only when the batch moved the deadline
//!   earlier than the thread's). Each round it reports readiness, polls the relay under the
//!   engine lock, and hands what the relay produced to the [`TunnelWriter`] with no lock held,
//!   or, without a writer, queues it (at most [`TUNNEL_QUEUE`] packets; more are dropped and
//!   counted) for the next `ingest` or `poll`.
//!
//! # Failures
//! Nothing here panics on bad input; a panic anyway (a bug) ends the thread, is logged, and
//! marks the engine unusable, as a panic caught at the FFI boundary does. A failed `mio` poll is
//! counted and retried after [`POLL_RETRY`].

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::{Events, Poll, Waker};
use nightjar_relay::{
    PipelinePolicy, Relay, RelayConfig, SecureDnsConfig, SharedPipeline, StdDialer, lock_pipeline,
    record_relay_event,
};

use crate::callbacks::{SocketProtector, TunnelWriter};
use crate::error::{NightjarError, Result};
use crate::handle::Inner;
use crate::records::{RelayCounters, RelayMemoryReport};

/// Tunnel packets kept for the host at most while no [`TunnelWriter`] is set; above it new ones
/// are dropped and counted (`RelayCounters::tunnel_queue_dropped`). TCP retransmits them.
pub const TUNNEL_QUEUE: usize = 1024;

/// Device packets `ingest` feeds the relay between two polls, well under its input queue
/// (`RelayConfig::max_rx_queue`), so a large batch is never shed there.
pub(crate) const POLL_EVERY: usize = 64;

/// Readiness events taken per wait.
const EVENTS: usize = 256;

/// The waker's mio token; the dialer's sockets start above it.
const WAKE: mio::Token = mio::Token(0);
const TOKEN_BASE: usize = 1;

/// How long the thread waits before polling again after `mio` failed.
const POLL_RETRY: Duration = Duration::from_millis(100);

/// The thread's sleep, as seen by `ingest`: it will wake by itself at this time (µs).
const ASLEEP_FOREVER: u64 = u64::MAX;

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // These locks guard an `Option<Arc<_>>` no panic can leave half-written.
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// What the relay thread, the dialer's protect hook and the handle share without the engine
/// lock.
#[derive(Default)]
pub(crate) struct RelayShared {
    pub(crate) protector: RwLock<Option<Arc<dyn SocketProtector>>>,
    pub(crate) writer: RwLock<Option<Arc<dyn TunnelWriter>>>,
    stop: AtomicBool,
    /// The thread ended by a panic.
    failed: AtomicBool,
    protect_calls: AtomicU64,
    protect_refused: AtomicU64,
    protect_failures: AtomicU64,
    writer_packets: AtomicU64,
    writer_failures: AtomicU64,
    poll_errors: AtomicU64,
}

impl RelayShared {
    /// The dialer's protect hook: asks the host's protector, if one is set.
    fn protect(&self, fd: RawFd) -> bool {
        let Some(p) = lock(&self.protector).clone() else {
            return true;
        };
        self.protect_calls.fetch_add(1, Ordering::Relaxed);
        // Foreign code: an exception refuses the socket instead of unwinding through the relay.
        match catch_unwind(AssertUnwindSafe(|| p.protect(fd))) {
            Ok(true) => true,
            Ok(false) => {
                self.protect_refused.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(_) => {
                self.protect_failures.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn deliver(&self, writer: &Arc<dyn TunnelWriter>, packets: Vec<Vec<u8>>) {
        let n = packets.len() as u64;
        // Counted before the call, so whatever the writer does next sees its packets counted.
        self.writer_packets.fetch_add(n, Ordering::Relaxed);
        if catch_unwind(AssertUnwindSafe(|| writer.write_packets(packets))).is_err() {
            log::warn!("tunnel writer failed; {n} packets lost");
            self.writer_failures.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The relay and what the bindings keep around it; lives in the engine's `Inner`, under its
/// lock.
pub(crate) struct RelayCore {
    pub(crate) relay: Relay,
    /// Packets the thread produced while no writer was set, oldest first.
    queued: VecDeque<Vec<u8>>,
    queue_dropped: u64,
    /// Packets from the network side (`outbound == false`) given to `ingest`: not relayed.
    inbound_ignored: u64,
    /// The relay's clock (µs since the epoch), never going back.
    clock_us: u64,
    /// When the thread wakes by itself; `None` while it works.
    asleep_until: Option<u64>,
    /// Device packets fed since the last poll.
    since_poll: usize,
    waker: Arc<Waker>,
    /// Told what the relay refused, so the alert about it says how.
    pipeline: SharedPipeline,
}

impl std::fmt::Debug for RelayCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayCore")
            .field("relay", &self.relay)
            .field("queued", &self.queued.len())
            .finish_non_exhaustive()
    }
}

impl RelayCore {
    /// A relay whose dialer registers with a new `mio::Poll` (returned, for the thread) and
    /// protects each socket through `shared`, and whose DNS and flow policies ask `pipeline`
    /// (monitor-only unless `EngineSettings::block_at` set a block). With `secure`, the
    /// tunnel's DNS goes to an encrypted upstream.
    pub(crate) fn new(
        config: RelayConfig,
        secure: Option<SecureDnsConfig>,
        shared: &Arc<RelayShared>,
        pipeline: SharedPipeline,
    ) -> Result<(Self, Poll)> {
        let io = |e: io::Error| NightjarError::io("relay event loop", &e);
        let poll = Poll::new().map_err(io)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(io)?);
        let registry = poll.registry().try_clone().map_err(io)?;
        let hook = Arc::clone(shared);
        let dialer =
            StdDialer::new(registry, TOKEN_BASE).with_protect(Box::new(move |fd| hook.protect(fd)));
        let now = wall_us();
        let policy = PipelinePolicy::new(Arc::clone(&pipeline), wall_us);
        let mut relay = Relay::new(
            config,
            Box::new(dialer),
            Box::new(policy.clone()),
            Box::new(policy),
            now,
        )
        .map_err(|e| NightjarError::InvalidConfig {
            reason: format!("relay: {e}"),
        })?;
        if let Some(secure) = secure {
            relay
                .set_secure_dns(secure)
                .map_err(|e| NightjarError::InvalidConfig {
                    reason: format!("relay: {e}"),
                })?;
        }
        Ok((
            RelayCore {
                relay,
                queued: VecDeque::new(),
                queue_dropped: 0,
                inbound_ignored: 0,
                clock_us: now,
                asleep_until: None,
                since_poll: 0,
                waker,
                pipeline,
            },
            poll,
        ))
    }

    /// The relay's clock now. The relay (and its engine) run on this clock rather than the
    /// packets' `ts_us`: smoltcp's timers need one clock that never goes back.
    pub(crate) fn now(&mut self) -> u64 {
        self.clock_us = self.clock_us.max(wall_us());
        self.clock_us
    }

    /// One device packet into the relay. Returns the engine's verdict, or `None` for a packet
    /// from the network side, which relay mode neither relays nor observes (counted).
    pub(crate) fn on_packet(
        &mut self,
        outbound: bool,
        bytes: &[u8],
    ) -> Option<nightjar_engine::Verdict> {
        if !outbound {
            self.inbound_ignored += 1;
            return None;
        }
        let now = self.now();
        let v = self.relay.on_tun_packet_verdict(now, bytes);
        self.since_poll += 1;
        Some(v)
    }

    /// Whether enough packets were fed that the relay should be polled before the next.
    pub(crate) fn poll_due(&self) -> bool {
        self.since_poll >= POLL_EVERY
    }

    /// Polls the relay, appending what it produced to `out` (after the queued packets, which
    /// are older).
    pub(crate) fn poll_into(&mut self, out: &mut Vec<Vec<u8>>) {
        self.since_poll = 0;
        out.extend(self.queued.drain(..));
        let now = self.now();
        self.relay.poll_with(now, |p| out.push(p.to_vec()));
        self.record_blocks();
    }

    /// Tells the pipeline the blocks the relay applied since the last call. Called before
    /// every drain of the engine's events (the relay decides on the request, the engine
    /// reports on the answer), so the alert those events raise carries its enforcement. The
    /// relay does not know the app; the alert's own app decides (an unknown app matches).
    pub(crate) fn record_blocks(&mut self) {
        // Called after every packet that left engine events: the clock is read only when the
        // relay has something to report.
        while let Some(event) = self.relay.next_event() {
            let now = self.now();
            record_relay_event(&mut lock_pipeline(&self.pipeline), now, None, &event);
        }
    }

    /// Wakes the thread if the relay now wants attention before the thread would wake.
    pub(crate) fn wake_if_sooner(&mut self) {
        let Some(asleep) = self.asleep_until else {
            return;
        };
        let now = self.now();
        if self.relay.next_deadline(now).is_some_and(|d| d < asleep) {
            self.asleep_until = None;
            if let Err(e) = self.waker.wake() {
                log::warn!("relay thread could not be woken: {e}");
            }
        }
    }

    fn enqueue(&mut self, packets: &mut Vec<Vec<u8>>) {
        for p in packets.drain(..) {
            if self.queued.len() >= TUNNEL_QUEUE {
                self.queue_dropped += 1;
            } else {
                self.queued.push_back(p);
            }
        }
    }

    pub(crate) fn counters(&self, shared: &RelayShared) -> RelayCounters {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut c = RelayCounters::from(&self.relay.stats());
        c.inbound_ignored = self.inbound_ignored;
        c.tunnel_queue_dropped = self.queue_dropped;
        c.protect_calls = n(&shared.protect_calls);
        c.protect_refused = n(&shared.protect_refused);
        c.protect_failures = n(&shared.protect_failures);
        c.writer_packets = n(&shared.writer_packets);
        c.writer_failures = n(&shared.writer_failures);
        c.poll_errors = n(&shared.poll_errors);
        c
    }

    pub(crate) fn memory(&self) -> RelayMemoryReport {
        RelayMemoryReport::new(&self.relay.memory(), self.queued.len(), TUNNEL_QUEUE)
    }
}

/// The handle's side of the thread: stop it, wake it, ask whether it died.
pub(crate) struct RelayThread {
    pub(crate) shared: Arc<RelayShared>,
    waker: Arc<Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RelayThread {
    /// Starts the `nightjar-relay` thread on `poll`, working on the relay inside `inner`.
    pub(crate) fn spawn(
        inner: Arc<Mutex<Option<Inner>>>,
        shared: Arc<RelayShared>,
        waker: Arc<Waker>,
        poll: Poll,
    ) -> Result<Self> {
        let s = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("nightjar-relay".into())
            .spawn(move || {
                if catch_unwind(AssertUnwindSafe(|| io_loop(&inner, &s, poll))).is_err() {
                    s.failed.store(true, Ordering::Release);
                    log::error!("relay thread panicked; engine marked unusable");
                }
            })
            .map_err(|e| NightjarError::io("nightjar-relay thread", &e))?;
        Ok(RelayThread {
            shared,
            waker,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// The thread ended by a panic.
    pub(crate) fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Wakes the thread (a writer was set: it delivers what is queued).
    pub(crate) fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Stops the thread and waits for it, unless called from it (a writer that shuts the
    /// engine down).
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle
            && h.thread().id() != std::thread::current().id()
        {
            // A panic in the thread was caught inside it; nothing is left to clean up.
            let _ = h.join();
        }
    }
}

/// The waker of a relay core, for the thread handle.
pub(crate) fn waker_of(core: &RelayCore) -> Arc<Waker> {
    Arc::clone(&core.waker)
}

/// The thread: wait for readiness or the deadline, then work under the engine lock and deliver
/// with no lock held. Ends when stopped, when the engine is shut down, or when its lock is
/// poisoned.
fn io_loop(inner: &Mutex<Option<Inner>>, shared: &RelayShared, mut poll: Poll) {
    let mut events = Events::with_capacity(EVENTS);
    let mut out = Vec::new();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let writer = lock(&shared.writer).clone();
        let deadline = {
            let Ok(mut guard) = inner.lock() else { return };
            let Some(inner) = guard.as_mut() else { return };
            let Some(core) = inner.relay_core() else {
                return;
            };
            core.asleep_until = None;
            for ev in events.iter() {
                let Some(t) = ev.token().0.checked_sub(TOKEN_BASE) else {
                    continue;
                };
                let token = nightjar_relay::Token(t as u64);
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    core.relay.on_outbound_readable(token);
                }
                if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                    core.relay.on_outbound_writable(token);
                }
            }
            core.poll_into(&mut out);
            if writer.is_none() {
                core.enqueue(&mut out);
            }
            let now = core.now();
            let deadline = core.relay.next_deadline(now);
            core.asleep_until = Some(deadline.unwrap_or(ASLEEP_FOREVER));
            // Packets to the device completed flows or carried DNS answers: store and detect.
            inner.drain();
            deadline
        };
        if let Some(w) = &writer
            && !out.is_empty()
        {
            shared.deliver(w, core::mem::take(&mut out));
        }
        let timeout = deadline.map(|d| Duration::from_micros(d.saturating_sub(wall_us())));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => events.clear(),
            Err(e) => {
                shared.poll_errors.fetch_add(1, Ordering::Relaxed);
                log::warn!("relay event loop: {e}");
                events.clear();
                std::thread::sleep(POLL_RETRY);
            }
        }
    }
}

//! Calls into the host app: who owns a flow ([`AppResolver`]), alerts ([`AlertListener`]) and,
//! in relay mode, outbound sockets ([`SocketProtector`]) and packets for the tunnel
//! ([`TunnelWriter`]).
//!
//! # Threads
//! * [`AppResolver::owner`] runs on the thread that called `ingest` (the packet thread), after
//!   the engine lock is released, once per new flow of the batch. It must answer quickly
//!   (Android's `getConnectionOwnerUid` does).
//! * [`AlertListener::on_alert`] runs on one dedicated thread named `nightjar-alerts`, fed by a
//!   bounded queue ([`ALERT_QUEUE`]): never on the packet thread, never while the engine lock
//!   is held, one alert at a time, in the order raised. A full queue sheds and counts
//!   (`Stats::alerts_shed`). Either callback may call back into the engine.
//! * [`SocketProtector::protect`] (relay mode) runs on the thread that called `ingest`, once
//!   per outbound socket, before it connects, **with the engine lock held** (the relay opens
//!   the socket in the middle of taking the SYN): it must not call into the engine (that call
//!   would wait for the lock it is holding) and must answer quickly (`VpnService.protect` does).
//! * [`TunnelWriter::write_packets`] (relay mode) runs on the one relay I/O thread, named
//!   `nightjar-relay`, with no lock held, one batch at a time in the order produced. It may
//!   call into the engine.
//!
//! A callback that throws is caught: a failed `protect` refuses the socket (the device's flow
//! gets RST or ICMP unreachable), a failed `write_packets` loses that batch (counted in
//! `RelayCounters::writer_failures`); neither poisons the engine.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::records::{Alert, FlowKey5};

/// Tells Nightjar which app owns a new flow.
#[uniffi::export(with_foreign)]
pub trait AppResolver: Send + Sync {
    /// The OS uid of the app that owns `flow`, or `None` when the OS does not know.
    fn owner(&self, flow: FlowKey5) -> Option<u32>;
}

/// Receives alerts, on the `nightjar-alerts` thread.
#[uniffi::export(with_foreign)]
pub trait AlertListener: Send + Sync {
    /// One alert. Return quickly: the next alert waits for this call.
    fn on_alert(&self, alert: Alert);
}

/// Protects relay mode's outbound sockets from the tunnel (Android: `VpnService.protect(fd)`).
/// Without one, sockets are opened unprotected: right on iOS and Linux, where the provider's
/// own sockets do not enter the tunnel, wrong on Android (they would loop back into it). Set it
/// before the first `ingest`.
#[uniffi::export(with_foreign)]
pub trait SocketProtector: Send + Sync {
    /// Called with each new outbound socket's file descriptor before it connects (see the
    /// module docs for the thread and the lock). `false` refuses the socket.
    fn protect(&self, fd: i32) -> bool;
}

/// Writes relay mode's packets to the tunnel (`NEPacketTunnelFlow.writePackets`, the
/// `VpnService` file descriptor) when they are produced outside `ingest`: answers from the
/// network, retransmissions, timers.
#[uniffi::export(with_foreign)]
pub trait TunnelWriter: Send + Sync {
    /// Raw IP packets to write to the tunnel, in order. Called on the `nightjar-relay` thread.
    fn write_packets(&self, packets: Vec<Vec<u8>>);
}

/// Alerts queued for the listener at most; above it they are shed and counted.
pub const ALERT_QUEUE: usize = 256;

/// What the delivery thread shares with the engine.
#[derive(Default)]
struct Shared {
    listener: Mutex<Option<Arc<dyn AlertListener>>>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// The bounded queue and the one thread that calls the [`AlertListener`].
#[derive(Default)]
pub(crate) struct AlertDispatcher {
    shared: Arc<Shared>,
    sender: Mutex<Option<SyncSender<Alert>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shed: AtomicU64,
}

impl std::fmt::Debug for AlertDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertDispatcher")
            .field("delivered", &self.delivered())
            .field("shed", &self.shed())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // These mutexes guard plain values no panic can leave half-written.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AlertDispatcher {
    /// Sets (or with `None` clears) the listener; the first listener starts the thread.
    pub(crate) fn set_listener(
        &self,
        listener: Option<Arc<dyn AlertListener>>,
    ) -> std::io::Result<()> {
        let start = listener.is_some();
        *lock(&self.shared.listener) = listener;
        let mut sender = lock(&self.sender);
        if start && sender.is_none() {
            let (tx, rx) = sync_channel(ALERT_QUEUE);
            let shared = Arc::clone(&self.shared);
            let handle = std::thread::Builder::new()
                .name("nightjar-alerts".into())
                .spawn(move || deliver(&shared, &rx))?;
            *sender = Some(tx);
            *lock(&self.thread) = Some(handle);
        }
        Ok(())
    }

    /// Queues `alert` for the listener without waiting. Returns false if it was shed (queue
    /// full) or nobody listens.
    pub(crate) fn offer(&self, alert: Alert) -> bool {
        if lock(&self.shared.listener).is_none() {
            return false;
        }
        let sender = lock(&self.sender);
        let Some(tx) = sender.as_ref() else {
            return false;
        };
        match tx.try_send(alert) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Alerts the listener returned from.
    pub(crate) fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// Alerts dropped because the queue was full.
    pub(crate) fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Closes the queue; the thread delivers what is queued, then ends. Waits for it unless
    /// called from that thread itself (a listener that shuts the engine down).
    pub(crate) fn close(&self) {
        drop(lock(&self.sender).take());
        let handle = lock(&self.thread).take();
        if let Some(h) = handle
            && h.thread().id() != std::thread::current().id()
        {
            // The thread catches the listener's panics, so join only fails if delivery itself
            // panicked; there is nothing left to clean up then.
            let _ = h.join();
        }
    }
}

fn deliver(shared: &Shared, rx: &Receiver<Alert>) {
    for alert in rx {
        let listener = lock(&shared.listener).clone();
        let Some(listener) = listener else { continue };
        // A listener that throws must not end the thread (or, uncaught, the process).
        match catch_unwind(AssertUnwindSafe(|| listener.on_alert(alert))) {
            Ok(()) => shared.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => {
                log::warn!("alert listener failed; alert dropped");
                shared.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{AlertAction, AlertSeverity, AlertState};
    use std::sync::mpsc::channel;
    use std::time::Duration;

    pub(crate) fn alert(n: u64) -> Alert {
        Alert {
            id: 0,
            ts_us: n,
            severity: AlertSeverity::High,
            score: 0.9,
            state: AlertState::New,
            app_uid: Some(10_123),
            domain: Some("synthetic.test".into()),
            ips: vec!["192.0.2.1".into()],
            flow_uids: vec![],
            detector: "synthetic".into(),
            attack: vec![],
            signals: vec![],
            provenance_json: "{}".into(),
            retroactive: false,
            action: AlertAction::Notify,
            enforcement: None,
        }
    }

    struct Chan(Mutex<std::sync::mpsc::Sender<(u64, String)>>);
    impl AlertListener for Chan {
        fn on_alert(&self, a: Alert) {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            lock(&self.0).send((a.ts_us, name)).unwrap();
        }
    }

    #[test]
    fn alerts_arrive_in_order_on_the_alert_thread() {
        let d = AlertDispatcher::default();
        assert!(!d.offer(alert(0)), "nobody listens yet");
        let (tx, rx) = channel();
        d.set_listener(Some(Arc::new(Chan(Mutex::new(tx)))))
            .unwrap();
        for i in 1..=5 {
            assert!(d.offer(alert(i)));
        }
        for i in 1..=5 {
            let (ts, thread) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(ts, i);
            assert_eq!(thread, "nightjar-alerts");
        }
        d.close();
        assert_eq!(d.delivered(), 5);
        assert!(!d.offer(alert(9)), "closed");
    }

    struct Slow(Mutex<Receiver<()>>);
    impl AlertListener for Slow {
        fn on_alert(&self, _: Alert) {
            let _ = lock(&self.0).recv();
        }
    }

    #[test]
    fn a_full_queue_sheds_and_counts() {
        let d = AlertDispatcher::default();
        let (gate_tx, gate_rx) = channel();
        d.set_listener(Some(Arc::new(Slow(Mutex::new(gate_rx)))))
            .unwrap();
        let offered = ALERT_QUEUE + 10;
        let accepted = (0..offered).filter(|&i| d.offer(alert(i as u64))).count();
        // The thread may hold one alert in the listener, so at most QUEUE + 1 fit.
        assert!(accepted <= ALERT_QUEUE + 1, "{accepted}");
        assert_eq!(d.shed() as usize, offered - accepted);
        drop(gate_tx);
        d.close();
        assert_eq!(d.delivered() as usize, accepted);
    }

    struct Throws;
    impl AlertListener for Throws {
        fn on_alert(&self, _: Alert) {
            panic!("listener bug");
        }
    }

    #[test]
    fn a_panicking_listener_does_not_stop_delivery() {
        let d = AlertDispatcher::default();
        d.set_listener(Some(Arc::new(Throws))).unwrap();
        assert!(d.offer(alert(1)));
        let (tx, rx) = channel();
        d.set_listener(Some(Arc::new(Chan(Mutex::new(tx)))))
            .unwrap();
        assert!(d.offer(alert(2)));
        let got: Vec<u64> = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(5)).ok())
            .map(|(ts, _)| ts)
            .take(1)
            .collect();
        // Alert 1 went to the thrower (or, if the swap won the race, to the channel).
        assert!(got == [2] || got == [1], "{got:?}");
        d.close();
        assert_eq!(d.shared.failed.load(Ordering::Relaxed) + d.delivered(), 2);
    }
}

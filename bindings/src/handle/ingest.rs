//! Packets in, events out: the ingest and poll paths, attribution of new flows through the
//! host's resolver, the drain of engine events to the store and the detectors, and the callbacks
//! the host sets (socket protector, tunnel writer, app resolver, alert listener, inventory).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use nightjar_engine::{AppId, Direction, Event, FlowRef};
use nightjar_relay::lock_pipeline;
use nightjar_store::engine_rows::{EngineRows, inventory_app};
use nightjar_wire::{Transport, parse_ip, parse_transport};

use crate::batch_ingest::PacketRef;
use crate::callbacks::{AlertListener, AppResolver, SocketProtector, TunnelWriter};
use crate::error::{NightjarError, Result};
use crate::records::{Action, Alert, AppInfo, FlowKey5, IngestResult, Packet, Verdict};
use crate::store_rows::app_row;

use super::{Core, Inner, MAX_APPS, NightjarEngine};

impl Inner {
    /// Feeds packets to the engine, appending their verdicts, until one opens a flow while
    /// `want_keys` is set: then it stops and returns the new flow's 5-tuple, so the caller can
    /// ask the app resolver before the flow's next packet (a short flow could otherwise complete
    /// before it is attributed). The packets not taken stay in `packets`.
    ///
    /// In relay mode the device's packets go to the relay, which is polled every
    /// [`crate::relay_mode::POLL_EVERY`] packets; what it produced is appended to `to_tunnel`.
    fn ingest_until_new<'p>(
        &mut self,
        packets: &mut impl Iterator<Item = PacketRef<'p>>,
        verdicts: &mut Vec<Verdict>,
        to_tunnel: &mut Vec<Vec<u8>>,
        want_keys: bool,
    ) -> Option<(FlowRef, FlowKey5)> {
        for p in packets {
            let v = match &mut self.core {
                Core::Monitor(engine) => {
                    let direction = if p.outbound {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    Some(engine.on_packet(p.ts_us, direction, p.bytes))
                }
                Core::Relay(r) => {
                    let v = r.on_packet(p.outbound, p.bytes);
                    if r.poll_due() {
                        r.poll_into(to_tunnel);
                    }
                    v
                }
            };
            verdicts.push(Verdict {
                action: match v.map(|v| v.action) {
                    Some(nightjar_engine::Action::Drop) => Action::Drop,
                    _ => Action::Pass,
                },
                flow_id: v.and_then(|v| v.flow).map(|f| f.id.0),
                is_new: v.and_then(|v| v.flow).is_some_and(|f| f.is_new),
            });
            // Drained after every packet, so the engine's event cap only bites when a sweep
            // completes more flows at once than it holds.
            if self.engine().pending_events() > 0 {
                self.drain();
            }
            if want_keys
                && let Some(flow) = v.and_then(|v| v.flow).filter(|f| f.is_new)
                && let Some(key) = flow_key(p.bytes, p.outbound)
            {
                return Some((flow, key));
            }
        }
        None
    }

    /// Ends a relay-mode batch: polls the relay into `to_tunnel` and wakes its thread if the
    /// relay now wants attention sooner than the thread would wake. Nothing in monitor mode.
    fn finish_relay_batch(&mut self, to_tunnel: &mut Vec<Vec<u8>>) {
        if let Core::Relay(r) = &mut self.core {
            r.poll_into(to_tunnel);
            r.wake_if_sooner();
        }
        if self.engine().pending_events() > 0 {
            self.drain();
        }
    }

    /// Moves the engine's events to the store and the detectors, and raises what they find.
    pub(crate) fn drain(&mut self) {
        if let Core::Relay(r) = &mut self.core {
            r.record_blocks();
        }
        while let Some(event) = self.engine_mut().next_event() {
            // The store first: a detector's alert names flows whose rows are already queued.
            if let Some(sink) = self.sink.as_mut() {
                match &event {
                    Event::FlowCompleted(r) => sink.flow(r, &self.apps),
                    Event::Dns(tx) => sink.dns(tx),
                    Event::Hello(h) => sink.hello(h),
                    Event::Http(h) => sink.http(h),
                    _ => {}
                }
            }
            let now_us = match &event {
                Event::FlowCompleted(r) => r.last_us,
                Event::Dns(tx) => tx.ts_us.saturating_add(tx.rtt_us.unwrap_or(0)),
                Event::Hello(h) => h.ts_us,
                Event::Http(h) => h.ts_us,
                _ => continue,
            };
            let alerts: Vec<_> = {
                let mut pipeline = lock_pipeline(&self.pipeline);
                pipeline.on_event(now_us, &event);
                std::iter::from_fn(|| pipeline.next_alert()).collect()
            };
            for a in alerts {
                let row = match &self.sink {
                    Some(sink) => sink.alert_row(&a),
                    // No database: uids as a store would give them to a fresh engine's flows.
                    None => EngineRows::new(0, self.uid_salt, 0).alert_row(&a),
                };
                self.raise_alert(Alert::from(&row));
            }
        }
    }

    /// The one way an alert leaves the engine: to the store (when configured) and to the
    /// listener's queue. Never blocks and never calls the listener itself.
    pub(super) fn raise_alert(&mut self, alert: Alert) {
        if let Some(sink) = &self.sink {
            sink.alert(alert.to_row());
        }
        self.alerts.offer(alert);
    }
}

/// A new flow's 5-tuple seen from the device.
fn flow_key(bytes: &[u8], outbound: bool) -> Option<FlowKey5> {
    let ip = parse_ip(bytes).ok()?;
    let (sport, dport) = if ip.fragment.is_none() {
        match parse_transport(ip.protocol, ip.payload) {
            Ok(Transport::Tcp(seg)) => (seg.src_port, seg.dst_port),
            Ok(
                Transport::Udp {
                    src_port, dst_port, ..
                }
                | Transport::Sctp { src_port, dst_port },
            ) => (src_port, dst_port),
            _ => (0, 0),
        }
    } else {
        (0, 0)
    };
    let (local, lport, remote, rport) = if outbound {
        (ip.src, sport, ip.dst, dport)
    } else {
        (ip.dst, dport, ip.src, sport)
    };
    Some(FlowKey5 {
        protocol: ip.protocol,
        local_ip: local.to_string(),
        local_port: lport,
        remote_ip: remote.to_string(),
        remote_port: rport,
    })
}

impl NightjarEngine {
    /// The body of both `ingest` forms: `count` packets (for the verdicts' capacity), stopping
    /// at each new flow to ask the app resolver with the engine lock released.
    pub(crate) fn ingest_packets<'p>(
        &self,
        packets: &mut impl Iterator<Item = PacketRef<'p>>,
        count: usize,
    ) -> Result<IngestResult> {
        let resolver = self
            .resolver
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut verdicts = Vec::with_capacity(count);
        let mut to_tunnel = Vec::new();
        loop {
            let new_flow = self.with_inner(|inner| {
                Ok(inner.ingest_until_new(
                    packets,
                    &mut verdicts,
                    &mut to_tunnel,
                    resolver.is_some(),
                ))
            })?;
            match (&resolver, new_flow) {
                (Some(r), Some((flow, key))) => self.attribute(r, flow, key)?,
                _ => break,
            }
        }
        if self.relay.is_some() {
            self.with_inner(|inner| {
                inner.finish_relay_batch(&mut to_tunnel);
                Ok(())
            })?;
        }
        self.maintain()?;
        Ok(IngestResult {
            verdicts,
            to_tunnel,
        })
    }

    /// Asks the resolver who owns a new flow (no lock held), then attributes it under the lock.
    fn attribute(
        &self,
        resolver: &Arc<dyn AppResolver>,
        flow: FlowRef,
        key: FlowKey5,
    ) -> Result<()> {
        // The resolver is foreign code: an exception there must not poison the engine.
        let uid = match catch_unwind(AssertUnwindSafe(|| resolver.owner(key))) {
            Ok(Some(uid)) => uid,
            Ok(None) => return Ok(()),
            Err(_) => {
                self.resolver_failures.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        self.with_inner(|inner| {
            lock_pipeline(&inner.pipeline).attribute(flow.id.0, uid);
            if inner.engine_mut().attribute(flow, AppId(uid)) {
                self.attributed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }
}

impl NightjarEngine {
    pub(super) fn ingest_inner(&self, packets: Vec<Packet>) -> Result<IngestResult> {
        let mut refs = packets.iter().map(|p| PacketRef {
            ts_us: p.ts_us,
            outbound: p.outbound,
            bytes: &p.bytes,
        });
        self.ingest_packets(&mut refs, packets.len())
    }

    pub(super) fn poll_inner(&self, now_us: u64) -> Result<Vec<Vec<u8>>> {
        let out = self.with_inner(|inner| {
            let mut out = Vec::new();
            match &mut inner.core {
                Core::Monitor(engine) => engine.poll(now_us),
                Core::Relay(r) => {
                    let now = r.now();
                    r.relay.engine_mut().poll(now);
                }
            }
            inner.drain();
            inner.finish_relay_batch(&mut out);
            Ok(out)
        })?;
        self.maintain()?;
        Ok(out)
    }

    pub(super) fn set_socket_protector_inner(
        &self,
        protector: Option<Arc<dyn SocketProtector>>,
    ) -> Result<()> {
        let relay = self.relay.as_ref().ok_or_else(not_relay)?;
        *relay
            .shared
            .protector
            .write()
            .unwrap_or_else(PoisonError::into_inner) = protector;
        Ok(())
    }

    pub(super) fn set_tunnel_writer_inner(
        &self,
        writer: Option<Arc<dyn TunnelWriter>>,
    ) -> Result<()> {
        let relay = self.relay.as_ref().ok_or_else(not_relay)?;
        *relay
            .shared
            .writer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = writer;
        relay.wake();
        Ok(())
    }

    pub(super) fn set_app_resolver_inner(
        &self,
        resolver: Option<Arc<dyn AppResolver>>,
    ) -> Result<()> {
        *self
            .resolver
            .write()
            .unwrap_or_else(PoisonError::into_inner) = resolver;
        Ok(())
    }

    pub(super) fn set_alert_listener_inner(
        &self,
        listener: Option<Arc<dyn AlertListener>>,
    ) -> Result<()> {
        self.alerts
            .set_listener(listener)
            .map_err(|e| NightjarError::Internal {
                detail: format!("cannot start the alert thread: {e}"),
            })
    }

    pub(super) fn set_app_inventory_inner(&self, apps: Vec<AppInfo>) -> Result<()> {
        self.with_inner(|inner| {
            inner.apps.clear();
            for app in apps {
                if inner.apps.len() >= MAX_APPS && !inner.apps.contains_key(&app.uid) {
                    inner.apps_shed += 1;
                    continue;
                }
                if let Some(sink) = &inner.sink {
                    sink.app(&app);
                }
                inner.apps.insert(app.uid, app);
            }
            let inventory: Vec<_> = inner
                .apps
                .values()
                .map(|a| inventory_app(&app_row(a)))
                .collect();
            lock_pipeline(&inner.pipeline).set_inventory(&inventory);
            Ok(())
        })
    }
}

fn not_relay() -> NightjarError {
    NightjarError::arg("only relay mode opens sockets and writes to the tunnel")
}

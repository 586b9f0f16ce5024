//! The relay's DNS and flow policies answered by the detection pipeline, and what the relay did
//! told back to it. One decision then drives both the block and the alert that reports it, so
//! the two cannot disagree: the pipeline's policy per severity says block, the relay refuses
//! the query or the flow, and the alert records how ([`Enforcement`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nightjar_detect::{Action, Enforcement, Pipeline};

use crate::policy::{DnsDecision, DnsPolicy, FlowDecision, FlowPolicy};
use crate::relay::{RelayEvent, Transport};

/// A pipeline shared by the relay's hooks and whoever feeds it the engine's events. The hooks
/// run inside [`Relay`](crate::Relay) calls, so the caller must not hold the lock while it
/// calls the relay.
pub type SharedPipeline = Arc<Mutex<Pipeline>>;

/// Locks `p`. A panic while the pipeline was held (a bug) leaves it usable: its state is
/// tables of counts and names, and failing open beats refusing every later query.
pub fn lock_pipeline(p: &Mutex<Pipeline>) -> MutexGuard<'_, Pipeline> {
    p.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Both relay policies, asking the pipeline ([`Pipeline::name_action`],
/// [`Pipeline::address_action`]). Only a `Block` action refuses anything; with the pipeline's
/// default (monitor-only) policy everything passes.
#[derive(Debug, Clone)]
pub struct PipelinePolicy {
    pipeline: SharedPipeline,
    clock: fn() -> u64,
}

impl PipelinePolicy {
    /// Policies over `pipeline`, asking it at `clock()` (µs since the epoch: the relay's hooks
    /// carry no time, and indicator validity windows need one).
    pub fn new(pipeline: SharedPipeline, clock: fn() -> u64) -> Self {
        PipelinePolicy { pipeline, clock }
    }
}

impl DnsPolicy for PipelinePolicy {
    fn decide(&self, qname: &str, app: Option<u32>) -> DnsDecision {
        match lock_pipeline(&self.pipeline).name_action((self.clock)(), app, qname) {
            Action::Block => DnsDecision::NxDomain,
            _ => DnsDecision::Forward,
        }
    }
}

impl FlowPolicy for PipelinePolicy {
    fn decide(&self, dst: SocketAddr, name: Option<&str>, app: Option<u32>) -> FlowDecision {
        let p = lock_pipeline(&self.pipeline);
        let now = (self.clock)();
        let by_name = name.is_some_and(|n| p.name_action(now, app, n) == Action::Block);
        if by_name || p.address_action(now, app, dst.ip()) == Action::Block {
            FlowDecision::Block
        } else {
            FlowDecision::Allow
        }
    }
}

/// Tells the pipeline what the relay did (`event`), so the next alert about that name or
/// address carries it. Call it before feeding the engine events of the same poll: the relay
/// decides on the request, the engine reports on the answer. `app` is the app the caller
/// attributes the event to, if it knows.
pub fn record_relay_event(
    pipeline: &mut Pipeline,
    now_us: u64,
    app: Option<u32>,
    event: &RelayEvent,
) {
    match event {
        RelayEvent::FlowBlocked(b) => {
            let what = match b.transport {
                Transport::Tcp => Enforcement::TcpReset,
                Transport::Udp => Enforcement::IcmpUnreachable,
            };
            pipeline.record_enforcement(now_us, what, app, b.name.as_deref(), Some(b.dst.ip()));
        }
        RelayEvent::DnsBlocked {
            qname, decision, ..
        } => {
            let what = match decision {
                DnsDecision::Sinkhole => Enforcement::DnsSinkhole,
                _ => Enforcement::DnsNxdomain,
            };
            pipeline.record_enforcement(now_us, what, app, Some(qname), None);
        }
    }
}

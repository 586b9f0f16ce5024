//! The engine's application layer: which packets it reads (decided from the
//! flow entry's inspection bits, so an established flow with nothing left to
//! reveal never touches its extras), the per-flow inspectors, and the DNS,
//! hello and HTTP findings they turn into names and events.

use super::*;

impl Engine {
    /// The application layer: name the flow and read what it reveals.
    pub(super) fn inspect(
        &mut self,
        now_us: u64,
        idx: u32,
        transport: &Transport<'_>,
        from_orig: bool,
        is_new: bool,
    ) {
        let Some(e) = self.flows.entry(idx) else {
            return;
        };
        let (first_payload, dns_ports) = match transport {
            Transport::Tcp(seg) => (
                !seg.payload.is_empty(),
                is_dns_port(seg.src_port) || is_dns_port(seg.dst_port),
            ),
            Transport::Udp {
                src_port, dst_port, ..
            } => (is_new, is_dns_port(*src_port) || is_dns_port(*dst_port)),
            _ => (is_new, false),
        };
        let inspecting = e.inspection & INSPECTOR_LIVE != 0;
        let started = e.inspection & INSPECTION_STARTED != 0;
        let ssdp = matches!(transport, Transport::Udp { src_port, dst_port, .. }
            if inspect::is_ssdp(*src_port, *dst_port));
        if !is_new && !inspecting && !dns_ports && !ssdp && (started || !first_payload) {
            return;
        }
        let (lo, hi) = e.key.sockets();
        let (orig, resp) = if e.orig_is_lo { (lo, hi) } else { (hi, lo) };
        let ctx = FlowCtx {
            now_us,
            flow: FlowId(e.id),
            orig,
            resp,
            app: e.app(),
        };
        // A flow to an address learns the name that most recently resolved
        // to it (the app is not known yet; `attribute` refines it).
        if is_new
            && let Some(hit) = self.names.lookup(now_us, resp.ip(), None)
            && let Some(x) = self.flows.extras_mut(idx)
        {
            x.name.offer_arc(hit.name, NameSource::Dns);
        }
        // TCP inspection starts with the first payload, so a SYN flood costs
        // no inspection state; a QUIC Initial is the first client datagram.
        if first_payload && !started {
            let inspector = match transport {
                Transport::Tcp(_) => Some(Inspector::tcp(dns_ports)),
                Transport::Udp { payload, .. }
                    if from_orig && !dns_ports && looks_like_quic(payload) =>
                {
                    Some(Inspector::quic())
                }
                _ => None,
            };
            if let Some(mut i) = inspector {
                if let Some(e) = self.flows.entry(idx) {
                    i.seed_syns(e.tcp, e.isn);
                }
                if self.flows.inspection().0 < self.config.max_inspected_flows {
                    self.flows.set_inspector(idx, i);
                } else {
                    self.app.inspections_shed += 1;
                    self.flows.skip_inspection(idx);
                }
            }
        }
        if let Transport::Udp { payload, .. } = transport
            && dns_ports
        {
            self.on_dns_payload(&ctx, nightjar_dns::Transport::Udp, from_orig, payload);
        }
        if let Transport::Udp { payload, .. } = transport
            && ssdp
        {
            let found = inspect::on_udp_http(&ctx, payload);
            self.apply(&ctx, idx, found);
        }
        let Some(inspector) = self.flows.inspector_mut(idx) else {
            return;
        };
        let mut found = Findings::default();
        match transport {
            Transport::Tcp(seg) => {
                inspector.on_tcp(
                    &ctx,
                    from_orig,
                    seg.flags.syn(),
                    seg.seq,
                    seg.payload,
                    &mut found,
                );
            }
            Transport::Udp { payload, .. } if from_orig => {
                inspector.on_quic(&ctx, payload, &mut found)
            }
            _ => {}
        }
        let (charge, finished) = (inspector.charged_bytes(), inspector.finished());
        let reads_responder = inspector.reads_responder();
        if reads_responder && !finished {
            self.flows.set_reads_responder(idx);
        }
        if finished {
            self.flows.drop_inspector(idx);
        } else if self.flows.recharge(idx, charge) > self.config.max_inspection_bytes {
            self.app.inspections_shed += 1;
            self.flows.drop_inspector(idx);
        }
        self.apply(&ctx, idx, found);
    }

    pub(super) fn apply(&mut self, ctx: &FlowCtx, idx: u32, found: Findings) {
        self.app.malformed_hellos += found.malformed_hellos;
        self.app.broken_streams += found.broken_streams;
        if let Some(x) = self.flows.extras_mut(idx) {
            for (name, source) in &found.names {
                x.name.offer(name, *source);
            }
            x.name.ech |= found.ech;
        }
        for (msg, from_orig) in &found.dns_messages {
            self.on_dns_payload(ctx, nightjar_dns::Transport::Tcp, *from_orig, msg);
        }
        let mut events = EventSink {
            queue: &mut self.events,
            cap: self.config.max_events,
            shed: &mut self.events_shed,
            app: &mut self.app,
        };
        if let Some(h) = found.hello {
            if h.quic_version.is_some() {
                events.app.quic_hellos += 1;
            } else {
                events.app.tls_hellos += 1;
            }
            events.push(Event::Hello(Box::new(h)));
        }
        for r in found.http {
            events.app.http_requests += 1;
            events.push(Event::Http(Box::new(r)));
        }
    }

    pub(super) fn on_dns_payload(
        &mut self,
        ctx: &FlowCtx,
        transport: nightjar_dns::Transport,
        from_orig: bool,
        bytes: &[u8],
    ) {
        let msg = match nightjar_dns::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.app.dns_parse_errors += 1;
                self.dns.on_parse_error();
                return;
            }
        };
        self.app.dns_messages += 1;
        if msg.is_response {
            self.names
                .on_response(ctx.now_us, ctx.app.map(|a| a.0), &msg);
        }
        let ends = Endpoints {
            client: ctx.orig,
            server: ctx.resp,
            transport,
        };
        self.dns
            .on_message(ctx.now_us, ends, from_orig, &msg, ctx.flow.0);
        let mut events = EventSink {
            queue: &mut self.events,
            cap: self.config.max_events,
            shed: &mut self.events_shed,
            app: &mut self.app,
        };
        while let Some(tx) = self.dns.pop_ready() {
            events.push(Event::Dns(Box::new(tx)));
        }
    }
}

/// Whether a packet of a flow that is not new has nothing to give the
/// application layer, judged from the entry's inspection bits alone so that
/// the common case (an established flow with nothing left to reveal) never
/// reads the flow's extras. `Engine::inspect` makes the same decision in full.
pub(super) fn nothing_to_inspect(
    inspection: u8,
    transport: &Transport<'_>,
    from_orig: bool,
) -> bool {
    let live = inspection & INSPECTOR_LIVE != 0;
    match transport {
        Transport::Tcp(seg) => {
            if is_dns_port(seg.src_port) || is_dns_port(seg.dst_port) {
                // DNS over TCP: both sides' bytes are read.
                false
            } else if live {
                // A live inspector reads the client's bytes and SYNs (which
                // place either stream); the server's only for DNS over HTTP.
                !from_orig && !seg.flags.syn() && inspection & INSPECTOR_READS_RESPONDER == 0
            } else {
                // Inspection starts at the first payload, once.
                inspection & INSPECTION_STARTED != 0 || seg.payload.is_empty()
            }
        }
        Transport::Udp {
            src_port, dst_port, ..
        } => {
            // DNS and SSDP datagrams are read both ways; a live inspector reads the client's.
            let read = is_dns_port(*src_port)
                || is_dns_port(*dst_port)
                || inspect::is_ssdp(*src_port, *dst_port)
                || (live && from_orig);
            !read
        }
        _ => !live,
    }
}

/// A QUIC client Initial: a long header (first two bits set) in a datagram
/// padded to the 1,200 bytes RFC 9000 requires of a client's first flight.
/// Google QUIC pads a CHLO to at least 1,024 bytes (`kClientHelloMinimumSize`).
/// A DTLS ClientHello shares the inspector (one datagram, one hello).
fn looks_like_quic(payload: &[u8]) -> bool {
    (payload.len() >= 1_200 && payload.first().is_some_and(|b| b & 0xc0 == 0xc0))
        || (payload.len() >= 1_024 && nightjar_dissect::gquic::looks_like_gquic(payload))
        || nightjar_dissect::dtls::looks_like_client_hello(payload)
}

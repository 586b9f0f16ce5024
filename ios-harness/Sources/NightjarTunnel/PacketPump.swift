import Foundation
import NightjarFFI

/// One packet as the tunnel delivered it, with the app that sent it when iOS says
/// (per-app VPN only: `NEPacket.metadata?.sourceAppSigningIdentifier`).
public struct TunnelPacket: Sendable {
    public var data: Data
    public var sourceApp: String?

    public init(data: Data, sourceApp: String? = nil) {
        self.data = data
        self.sourceApp = sourceApp
    }
}

/// The tunnel's packet interface as the pump needs it; `NEPacketTunnelFlow` is adapted by
/// [`NEPacketFlowIO`], and unit tests use a fake.
public protocol TunnelPacketIO: AnyObject {
    /// Asks for the next packets the device sent; `handler` is called once, on any queue.
    func readPackets(_ handler: @escaping ([TunnelPacket]) -> Void)
    /// Injects packets towards the device.
    func writePackets(_ packets: [Data])
}

/// Monitor mode's upstream: the product's own VPN transport (WireGuard, IPsec, ...) that
/// carries device packets to its server and brings the replies back. Nightjar observes both
/// directions on the way.
public protocol PacketTransport: AnyObject {
    /// Sends device packets upstream. Must not block: it runs on the reader path.
    func send(_ packets: [Data])
    /// Starts delivering packets from upstream to `deliver` (any queue).
    func start(deliver: @escaping ([Data]) -> Void)
    func stop()
}

/// What the pump needs of the engine; `NightjarEngine` conforms as it is.
public protocol EngineIngesting: AnyObject {
    func ingest(packets: [Packet]) throws -> IngestResult
    /// Lets time pass; returns packets for the tunnel (relay mode; empty in monitor mode).
    func poll(nowUs: UInt64) throws -> [Data]
    func commit(timeoutMs: UInt32) throws -> Bool
}

extension NightjarEngine: EngineIngesting {}

/// PENDING BINDINGS: the hook through which memory pressure will reach the engine's own
/// load shedding (shrinking inspection and caches). The bindings have no such call yet; until
/// they do, the pump sheds on the Swift side (it stops feeding the engine at `.critical`).
/// Expected FFI shape: `NightjarEngine.setMemoryPressure(level:)`.
public protocol EngineLoadShedding: AnyObject {
    func setMemoryPressure(_ level: MemoryPressure)
}

/// Moves packets between the tunnel, the upstream transport (monitor mode) and the engine.
///
/// Reading: one `readPackets` outstanding at a time; each delivery is forwarded upstream
/// first (monitor mode: observation never delays a packet) and then queued for the engine.
/// The next read is only requested while the [`IngestQueue`] is under its high-water mark:
/// that is the backpressure. Engine work runs on one serial queue, in batches; what the
/// engine returns for the tunnel (relay mode) is written back.
///
/// Fail open: an engine error is counted and the batch dropped; an unusable engine is
/// replaced through `recover` (at most every `recoverInterval`). Forwarding never waits for
/// the engine in monitor mode.
public final class PacketPump {
    public struct Stats: Equatable, Sendable {
        public var readPackets: UInt64 = 0
        public var ingestedPackets: UInt64 = 0
        public var batches: UInt64 = 0
        public var toTunnel: UInt64 = 0
        public var shedQueueFull: UInt64 = 0
        public var shedMemoryPressure: UInt64 = 0
        public var engineErrors: UInt64 = 0
        public var recoveries: UInt64 = 0
        public var droppedWithoutEngine: UInt64 = 0
        public var readPauses: UInt64 = 0

        public init() {}
    }

    private let io: TunnelPacketIO
    private let transport: PacketTransport?
    private var engine: EngineIngesting?
    private let recover: () -> EngineIngesting?
    private let attribution: PerAppResolver?
    private let clock: () -> UInt64
    private let recoverInterval: UInt64
    private let work = DispatchQueue(label: "org.nightjar.pump")
    private var queue: IngestQueue<Packet>
    private var stats = Stats()
    private var reading = false
    private var paused = false
    private var drainScheduled = false
    private var running = false
    private var pressure: MemoryPressure = .normal
    private var lastRecoverUs: UInt64?
    private var idleTimer: DispatchSourceTimer?

    /// `clock` gives µs since the Unix epoch; `transport` is nil in relay mode and for
    /// observe-only test routes.
    public init(
        io: TunnelPacketIO,
        transport: PacketTransport?,
        engine: EngineIngesting?,
        limits: IngestQueue<Packet>.Limits = .init(),
        attribution: PerAppResolver? = nil,
        recoverInterval: UInt64 = 5_000_000,
        clock: @escaping () -> UInt64 = PacketPump.nowUs,
        recover: @escaping () -> EngineIngesting?
    ) {
        self.io = io
        self.transport = transport
        self.engine = engine
        self.queue = IngestQueue(limits: limits, sizeOf: { $0.bytes.count })
        self.attribution = attribution
        self.recoverInterval = recoverInterval
        self.clock = clock
        self.recover = recover
    }

    public static func nowUs() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    public func start() {
        work.async {
            guard !self.running else { return }
            self.running = true
            self.transport?.start { [weak self] packets in self?.fromUpstream(packets) }
            self.readMore()
            // A quiet tunnel still ages flows out and commits the record.
            let t = DispatchSource.makeTimerSource(queue: self.work)
            t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(200))
            t.setEventHandler { [weak self] in self?.idleTick() }
            t.resume()
            self.idleTimer = t
        }
    }

    /// Stops reading, drops what is queued (counted) and returns the engine for shutdown.
    public func stop() -> EngineIngesting? {
        work.sync {
            running = false
            idleTimer?.cancel()
            idleTimer = nil
            transport?.stop()
            queue.removeAll()
            stats.shedQueueFull = queue.shedPackets
            let e = engine
            engine = nil
            return e
        }
    }

    public func setPressure(_ level: MemoryPressure) {
        work.async {
            self.pressure = level
            (self.engine as? EngineLoadShedding)?.setMemoryPressure(level)
            if level >= .elevated {
                // Flush the store writer's queue: it is the largest buffer that can shrink now.
                _ = try? self.engine?.commit(timeoutMs: 0)
            }
        }
    }

    public func snapshot() -> Stats { work.sync { stats } }

    /// Runs `body` on the pump's queue after everything queued so far (tests, status).
    public func sync<T>(_ body: () -> T) -> T { work.sync(execute: body) }

    // MARK: - reading

    private func readMore() {
        guard running, !reading else { return }
        guard queue.hasRoom else {
            if !paused { stats.readPauses &+= 1 }
            paused = true
            return
        }
        paused = false
        reading = true
        io.readPackets { [weak self] packets in
            guard let self else { return }
            self.work.async { self.fromDevice(packets) }
        }
    }

    private func fromDevice(_ packets: [TunnelPacket]) {
        reading = false
        guard running else { return }
        stats.readPackets &+= UInt64(packets.count)
        transport?.send(packets.map(\.data))
        if let attribution {
            for p in packets { attribution.record(outbound: p.data, signingIdentifier: p.sourceApp) }
        }
        let now = clock()
        offer(packets.map { Packet(bytes: $0.data, outbound: true, tsUs: now) })
        scheduleDrain()
        // Reads go on while the engine works through the queue, up to its high-water mark.
        readMore()
    }

    private func fromUpstream(_ packets: [Data]) {
        // Towards the device first, then observe.
        io.writePackets(packets)
        work.async {
            guard self.running else { return }
            let now = self.clock()
            self.offer(packets.map { Packet(bytes: $0, outbound: false, tsUs: now) })
            self.scheduleDrain()
        }
    }

    private func offer(_ packets: [Packet]) {
        if pressure == .critical && transport != nil {
            // Monitor mode under memory pressure: forward only.
            stats.shedMemoryPressure &+= UInt64(packets.count)
            return
        }
        queue.enqueue(packets)
        stats.shedQueueFull = queue.shedPackets
    }

    // MARK: - engine

    /// One batch per turn of the serial queue, so reads and upstream deliveries interleave
    /// with engine work instead of waiting for the whole queue.
    private func scheduleDrain() {
        guard !drainScheduled else { return }
        drainScheduled = true
        work.async { self.drainStep() }
    }

    private func drainStep() {
        drainScheduled = false
        guard running else { return }
        if let batch = queue.nextBatch() { ingest(batch) }
        if !queue.isEmpty { scheduleDrain() }
        if paused { readMore() }
    }

    /// True when nothing is queued or scheduled (tests wait for it).
    var isIdle: Bool { work.sync { queue.isEmpty && !drainScheduled } }

    private func ingest(_ batch: [Packet]) {
        guard let engine = usableEngine() else {
            // No engine (it failed and recovery is backing off): forwarding goes on.
            stats.droppedWithoutEngine &+= UInt64(batch.count)
            return
        }
        do {
            let result = try engine.ingest(packets: batch)
            stats.batches &+= 1
            stats.ingestedPackets &+= UInt64(batch.count)
            if !result.toTunnel.isEmpty {
                io.writePackets(result.toTunnel)
                stats.toTunnel &+= UInt64(result.toTunnel.count)
            }
        } catch NightjarError.EngineUnusable {
            stats.engineErrors &+= 1
            self.engine = nil
        } catch NightjarError.Internal {
            stats.engineErrors &+= 1
            self.engine = nil
        } catch {
            // A typed refusal of this batch: count it and go on.
            stats.engineErrors &+= 1
        }
    }

    private func usableEngine() -> EngineIngesting? {
        if let engine { return engine }
        let now = clock()
        if let last = lastRecoverUs, now &- last < recoverInterval { return nil }
        lastRecoverUs = now
        guard let fresh = recover() else { return nil }
        engine = fresh
        stats.recoveries &+= 1
        return fresh
    }

    private func idleTick() {
        guard running else { return }
        // Relay mode: what the relay produced meanwhile goes to the device.
        if let out = try? usableEngine()?.poll(nowUs: clock()), !out.isEmpty {
            io.writePackets(out)
            stats.toTunnel &+= UInt64(out.count)
        }
    }
}

#if canImport(NetworkExtension)
import NetworkExtension

/// `NEPacketTunnelFlow` as a [`TunnelPacketIO`].
public final class NEPacketFlowIO: TunnelPacketIO {
    private let flow: NEPacketTunnelFlow

    public init(_ flow: NEPacketTunnelFlow) { self.flow = flow }

    public func readPackets(_ handler: @escaping ([TunnelPacket]) -> Void) {
        flow.readPacketObjects { packets in
            handler(packets.map { TunnelPacket(data: $0.data, sourceApp: $0.metadata?.sourceAppSigningIdentifier) })
        }
    }

    public func writePackets(_ packets: [Data]) {
        guard !packets.isEmpty else { return }
        flow.writePackets(packets, withProtocols: packets.map(PacketFamily.protocolNumber))
    }
}
#endif

/// The address family `writePackets` wants per packet, from the IP version nibble.
public enum PacketFamily {
    public static func protocolNumber(_ packet: Data) -> NSNumber {
        let version = packet.first.map { $0 >> 4 } ?? 4
        return NSNumber(value: version == 6 ? AF_INET6 : AF_INET)
    }
}

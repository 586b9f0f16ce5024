import Foundation
import NightjarFFI
import Security
import os

/// Everything the packet tunnel runs, without `NEPacketTunnelProvider`: the engine (database
/// and index in the shared container), the per-app resolver, the pump and the memory
/// watchdog. The provider owns one; so does the sample app's in-process host in the
/// simulator, where iOS does not launch packet-tunnel extensions.
public final class TunnelCore {
    public struct Status: Codable, Equatable {
        public var mode: String
        public var packets: UInt64
        public var flowsCreated: UInt64
        public var flowsAttributed: UInt64
        public var pumpRead: UInt64
        public var pumpShed: UInt64
        public var engineErrors: UInt64
        public var memoryPressure: Int
        public var availableMemoryLowWater: Int
    }

    public let plan: TunnelPlan
    public let container: SharedContainer
    public let resolver: PerAppResolver
    private(set) var pump: PacketPump?
    private let watchdog: MemoryWatchdog
    private let control = DispatchQueue(label: "org.nightjar.core")
    private var engine: NightjarEngine?
    /// Relay mode's uplink watcher (`network_changed`).
    private var pathWatcher: PathWatcher?
    /// The tunnel's packet interface, once `start` has it: relay mode's writer needs it.
    private var io: TunnelPacketIO?
    private let log = Logger(subsystem: "org.nightjar.tunnel", category: "core")

    public init(plan: TunnelPlan, container: SharedContainer, watchdog: MemoryWatchdog = MemoryWatchdog()) {
        self.plan = plan
        self.container = container
        self.resolver = PerAppResolver(known: container.loadAppIds())
        self.watchdog = watchdog
    }

    /// Creates the engine. Relay mode cannot run without it (it is the forwarding path), so
    /// its failure is thrown; in monitor mode the caller may start the tunnel anyway (fail
    /// open) and the pump retries.
    public func makeEngine() throws -> NightjarEngine {
        var seed: UInt64 = 0
        if SecRandomCopyBytes(kSecRandomDefault, MemoryLayout<UInt64>.size, &seed) != errSecSuccess {
            seed = UInt64.random(in: .min ... .max)
        }
        let settings = EngineSettings(
            dbPath: container.database.path,
            intelIndexPath: container.intelIndexIfPresent(),
            mode: plan.mode == .relay ? .relay : .monitor,
            caps: defaultMemoryCaps(),
            hashSeed: seed,
            relay: relaySettings(),
            blockAt: plan.mode == .relay ? plan.blockAt.map { $0 == .high ? AlertSeverity.high : AlertSeverity.critical } : nil
        )
        let e = try NightjarEngine(settings: settings)
        try e.setAppResolver(resolver: resolver)
        if plan.mode == .relay, let io {
            // No socket protector: the extension's own sockets never enter its tunnel.
            try e.setTunnelWriter(writer: TunnelIOWriter(io))
        }
        return e
    }

    /// Relay mode's addresses, MTU and DNS service, from the plan.
    private func relaySettings() -> RelaySettings {
        var r = defaultRelaySettings()
        r.ipv4 = TunnelPlan.relayAddressV4
        r.ipv6 = TunnelPlan.relayAddressV6
        r.mtu = UInt32(plan.mtu)
        if let up = plan.relayDnsUpstream, plan.dnsServers.contains(TunnelPlan.relayResolver) {
            r.dnsAddress = TunnelPlan.relayResolver
            r.dnsUpstream = up
        }
        return r
    }

    /// Starts moving packets between `io` and the engine.
    public func start(io: TunnelPacketIO, transport: PacketTransport?) throws {
        try? initLogging(level: .info)
        self.io = io
        let first: NightjarEngine?
        do {
            first = try makeEngine()
        } catch {
            if plan.mode == .relay { throw error }
            log.error("engine did not start, tunnel runs without telemetry: \(String(describing: error), privacy: .public)")
            first = nil
        }
        engine = first
        let pump = PacketPump(
            io: io,
            transport: plan.mode == .monitor ? transport : nil,
            engine: first,
            attribution: resolver,
            recover: { [weak self] in
                guard let self else { return nil }
                let e = try? self.makeEngine()
                self.control.sync { self.engine = e }
                return e
            }
        )
        self.pump = pump
        pump.start()
        if plan.mode == .relay {
            let paths = PathWatcher(engine: { [weak self] in self?.currentEngine() })
            paths.start()
            pathWatcher = paths
        }
        watchdog.start(queue: control) { [weak self] level in
            self?.log.notice("memory pressure \(level.rawValue)")
            self?.pump?.setPressure(level)
        }
    }

    /// Stops the pump, flushes the engine into the database and saves the app ids.
    public func stop() {
        pathWatcher?.stop()
        pathWatcher = nil
        watchdog.stop()
        _ = pump?.stop()
        pump = nil
        let e = control.sync { () -> NightjarEngine? in
            let e = engine
            engine = nil
            return e
        }
        if let e {
            do {
                _ = try e.shutdown()
            } catch {
                log.error("shutdown: \(String(describing: error), privacy: .public)")
            }
        }
        try? container.saveAppIds(resolver.snapshot())
    }

    public func status() -> Status {
        let e = control.sync { engine }
        let s = try? e?.stats()
        let p = pump?.snapshot() ?? PacketPump.Stats()
        return Status(
            mode: plan.mode.rawValue,
            packets: s?.packets ?? 0,
            flowsCreated: s?.flowsCreated ?? 0,
            flowsAttributed: s?.flowsAttributed ?? 0,
            pumpRead: p.readPackets,
            pumpShed: p.shedQueueFull + p.shedMemoryPressure,
            engineErrors: p.engineErrors,
            memoryPressure: control.sync { watchdog.level.rawValue },
            availableMemoryLowWater: control.sync { watchdog.lowWater }
        )
    }

    /// The engine for queries from the same process, when running.
    public func currentEngine() -> NightjarEngine? { control.sync { engine } }
}

/// Relay mode's packets produced outside `ingest` (answers from the network, timers), written
/// to the tunnel. The bindings call it on their `nightjar-relay` thread with no lock held;
/// `NEPacketTunnelFlow.writePackets` may be called from any thread.
final class TunnelIOWriter: TunnelWriter, @unchecked Sendable {
    private let io: TunnelPacketIO

    init(_ io: TunnelPacketIO) { self.io = io }

    func writePackets(packets: [Data]) {
        io.writePackets(packets)
    }
}

import XCTest
import NightjarFFI
@testable import NightjarTunnel

/// A packet flow driven by the test: reads are answered from `pending` when the test says.
final class FakeIO: TunnelPacketIO {
    private let lock = NSLock()
    private var handler: (([TunnelPacket]) -> Void)?
    private(set) var reads = 0
    private(set) var written: [Data] = []

    func readPackets(_ handler: @escaping ([TunnelPacket]) -> Void) {
        lock.lock(); defer { lock.unlock() }
        reads += 1
        self.handler = handler
    }

    func writePackets(_ packets: [Data]) {
        lock.lock(); defer { lock.unlock() }
        written += packets
    }

    var isReadOutstanding: Bool { lock.lock(); defer { lock.unlock() }; return handler != nil }

    /// Delivers `packets` to the outstanding read; false when the pump has not asked.
    @discardableResult
    func deliver(_ packets: [TunnelPacket]) -> Bool {
        lock.lock()
        let h = handler
        handler = nil
        lock.unlock()
        guard let h else { return false }
        h(packets)
        return true
    }

    var writtenCount: Int { lock.lock(); defer { lock.unlock() }; return written.count }
}

final class FakeEngine: EngineIngesting {
    var batches: [[Packet]] = []
    var reply: ([Packet]) throws -> [Data] = { _ in [] }
    var polls = 0
    var commits = 0
    var gate: DispatchSemaphore?

    func ingest(packets: [Packet]) throws -> IngestResult {
        gate?.wait()
        batches.append(packets)
        return IngestResult(verdicts: [], toTunnel: try reply(packets))
    }

    func poll(nowUs: UInt64) throws -> [Data] { polls += 1; return [] }
    func commit(timeoutMs: UInt32) throws -> Bool { commits += 1; return true }
}

final class FakeTransport: PacketTransport {
    var sent: [Data] = []
    var deliver: (([Data]) -> Void)?
    func send(_ packets: [Data]) { sent += packets }
    func start(deliver: @escaping ([Data]) -> Void) { self.deliver = deliver }
    func stop() { deliver = nil }
}

/// Waits until the pump has worked through everything queued.
func settle(_ pump: PacketPump, timeout: TimeInterval = 5) {
    let deadline = Date().addingTimeInterval(timeout)
    while !pump.isIdle && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    pump.sync {}
}

func waitUntil(_ timeout: TimeInterval = 5, _ cond: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !cond() && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    return cond()
}

final class PacketPumpTests: XCTestCase {
    private let device: [UInt8] = [198, 18, 0, 2]
    private let peer: [UInt8] = [198, 18, 0, 1]

    private func packets(_ n: Int, port: UInt16 = 40000) -> [TunnelPacket] {
        (0..<n).map { TunnelPacket(data: Build.udp4(device, port + UInt16($0), peer, 9)) }
    }

    func testMonitorModeForwardsThenIngestsBothDirections() {
        let io = FakeIO()
        let engine = FakeEngine()
        let transport = FakeTransport()
        let pump = PacketPump(io: io, transport: transport, engine: engine, recover: { nil })
        pump.start()
        pump.sync {}
        XCTAssertTrue(io.deliver(packets(3)))
        settle(pump)
        XCTAssertEqual(transport.sent.count, 3, "forwarded upstream")
        transport.deliver?([Build.udp4(peer, 9, device, 40000)])
        settle(pump)
        XCTAssertEqual(io.writtenCount, 1, "the reply reached the device")
        let all = pump.sync { engine.batches.flatMap { $0 } }
        XCTAssertEqual(all.map(\.outbound), [true, true, true, false])
        XCTAssertTrue(io.isReadOutstanding, "the pump asked for more")
        let s = pump.snapshot()
        XCTAssertEqual(s.readPackets, 3)
        XCTAssertEqual(s.ingestedPackets, 4)
        _ = pump.stop()
    }

    func testRelayModeWritesWhatTheEngineReturns() {
        let io = FakeIO()
        let engine = FakeEngine()
        engine.reply = { batch in batch.map { _ in Data([0x45, 0, 0, 20]) } }
        let pump = PacketPump(io: io, transport: nil, engine: engine, recover: { nil })
        pump.start()
        pump.sync {}
        io.deliver(packets(5))
        settle(pump)
        XCTAssertEqual(io.writtenCount, 5)
        XCTAssertEqual(pump.snapshot().toTunnel, 5)
        _ = pump.stop()
    }

    func testTheReaderPausesAboveTheHighWaterMarkAndResumes() {
        let io = FakeIO()
        let engine = FakeEngine()
        let gate = DispatchSemaphore(value: 0)
        engine.gate = gate
        let limits = IngestQueue<Packet>.Limits(maxBatchPackets: 4, maxBatchBytes: 1 << 20, highWaterPackets: 4, maxQueuedPackets: 16, maxQueuedBytes: 1 << 20)
        let pump = PacketPump(io: io, transport: nil, engine: engine, limits: limits, recover: { nil })
        pump.start()
        pump.sync {}
        // The engine is stuck inside the first batch: the pump cannot drain.
        io.deliver(packets(10))
        Thread.sleep(forTimeInterval: 0.1)
        XCTAssertFalse(io.isReadOutstanding, "no read while the engine is behind")
        for _ in 0..<10 { gate.signal() }
        settle(pump)
        XCTAssertTrue(waitUntil { io.isReadOutstanding }, "reading resumed")
        XCTAssertGreaterThanOrEqual(pump.snapshot().readPauses, 1)
        XCTAssertEqual(pump.snapshot().ingestedPackets, 10)
        _ = pump.stop()
    }

    func testCriticalMemoryShedsObservationButNotForwarding() {
        let io = FakeIO()
        let engine = FakeEngine()
        let transport = FakeTransport()
        let pump = PacketPump(io: io, transport: transport, engine: engine, recover: { nil })
        pump.start()
        pump.setPressure(.critical)
        pump.sync {}
        io.deliver(packets(4))
        settle(pump)
        XCTAssertEqual(transport.sent.count, 4)
        XCTAssertEqual(pump.snapshot().shedMemoryPressure, 4)
        XCTAssertEqual(pump.snapshot().ingestedPackets, 0)
        XCTAssertEqual(pump.sync { engine.commits }, 1, "pressure flushed the writer")
        pump.setPressure(.normal)
        pump.sync {}
        io.deliver(packets(2))
        settle(pump)
        XCTAssertEqual(pump.snapshot().ingestedPackets, 2)
        _ = pump.stop()
    }

    func testAnUnusableEngineIsReplacedAfterTheBackoff() {
        let io = FakeIO()
        let broken = FakeEngine()
        broken.reply = { _ in throw NightjarError.EngineUnusable }
        let fresh = FakeEngine()
        var now: UInt64 = 1_000_000
        var recoveries = 0
        let pump = PacketPump(io: io, transport: FakeTransport(), engine: broken, recoverInterval: 1_000, clock: { now },
                              recover: { recoveries += 1; return fresh })
        pump.start()
        pump.sync {}
        io.deliver(packets(1))
        settle(pump)
        XCTAssertEqual(pump.snapshot().engineErrors, 1)
        XCTAssertTrue(waitUntil { io.isReadOutstanding })
        io.deliver(packets(1))
        settle(pump)
        XCTAssertEqual(recoveries, 1)
        XCTAssertEqual(pump.sync { fresh.batches.count }, 1)
        XCTAssertEqual(pump.snapshot().recoveries, 1)
        now += 1
        _ = pump.stop()
    }

    func testWritesUseTheRightAddressFamily() {
        XCTAssertEqual(PacketFamily.protocolNumber(Data([0x45])).int32Value, AF_INET)
        XCTAssertEqual(PacketFamily.protocolNumber(Data([0x60])).int32Value, AF_INET6)
        XCTAssertEqual(PacketFamily.protocolNumber(Data()).int32Value, AF_INET)
    }

    /// The real engine behind the pump: packets in, a flow counted and attributed by the
    /// per-app resolver.
    func testTheRealEngineCountsAndAttributesAFlow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        let container = try SharedContainer(root: dir)
        let core = TunnelCore(plan: TunnelPlan(appGroup: "unused"), container: container)
        let io = FakeIO()
        try core.start(io: io, transport: FakeTransport())
        let deadline = Date().addingTimeInterval(5)
        while !io.isReadOutstanding && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let p = TunnelPacket(data: Build.udp4(device, 40000, peer, 9), sourceApp: "com.example.weather")
        XCTAssertTrue(io.deliver([p, p, p]))
        var status = core.status()
        while status.packets < 3 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            status = core.status()
        }
        XCTAssertEqual(status.packets, 3)
        XCTAssertEqual(status.flowsCreated, 1)
        XCTAssertEqual(status.flowsAttributed, 1)
        core.stop()
        XCTAssertEqual(container.loadAppIds()["com.example.weather"], PerAppResolver.firstUid)
        try? FileManager.default.removeItem(at: dir)
    }
}

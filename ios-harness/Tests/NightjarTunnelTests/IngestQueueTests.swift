import XCTest
@testable import NightjarTunnel

final class IngestQueueTests: XCTestCase {
    private func queue(_ l: IngestQueue<Data>.Limits) -> IngestQueue<Data> { IngestQueue(limits: l, sizeOf: { $0.count }) }

    func testBatchesAreCutByCountThenBytesAndKeepOrder() {
        var q = queue(.init(maxBatchPackets: 3, maxBatchBytes: 250, highWaterPackets: 100, maxQueuedPackets: 100, maxQueuedBytes: 100_000))
        q.enqueue((0..<7).map { Data(repeating: UInt8($0), count: 100) })
        let sizes = sequence(state: q) { (s: inout IngestQueue<Data>) in s.nextBatch()?.count }.map { $0 }
        // 250 bytes hold two 100-byte packets.
        XCTAssertEqual(sizes, [2, 2, 2, 1])
        var q2 = queue(.init(maxBatchPackets: 3, maxBatchBytes: 10_000, highWaterPackets: 100, maxQueuedPackets: 100, maxQueuedBytes: 100_000))
        q2.enqueue((0..<7).map { Data([UInt8($0)]) })
        XCTAssertEqual(q2.nextBatch()?.map { $0[0] }, [0, 1, 2])
        XCTAssertEqual(q2.nextBatch()?.map { $0[0] }, [3, 4, 5])
        XCTAssertEqual(q2.nextBatch()?.map { $0[0] }, [6])
        XCTAssertNil(q2.nextBatch())
    }

    func testAnOversizedPacketIsABatchOfItsOwn() {
        var q = queue(.init(maxBatchPackets: 8, maxBatchBytes: 100, highWaterPackets: 8, maxQueuedPackets: 8, maxQueuedBytes: 100))
        XCTAssertEqual(q.enqueue([Data(count: 5_000)]), 1, "an empty queue takes any packet")
        XCTAssertEqual(q.nextBatch()?.count, 1)
    }

    func testShedsAtTheCapAndCountsEveryPacket() {
        var q = queue(.init(maxBatchPackets: 4, maxBatchBytes: 400, highWaterPackets: 6, maxQueuedPackets: 8, maxQueuedBytes: 100_000))
        XCTAssertEqual(q.enqueue((0..<20).map { _ in Data(count: 10) }), 8)
        XCTAssertEqual(q.offeredPackets, 20)
        XCTAssertEqual(q.shedPackets, 12)
        XCTAssertEqual(q.shedBytes, 120)
        XCTAssertEqual(q.offeredPackets, q.shedPackets + UInt64(q.count))
        XCTAssertFalse(q.hasRoom, "above the high-water mark the reader pauses")
        _ = q.nextBatch()
        XCTAssertTrue(q.hasRoom)
        XCTAssertEqual(q.queuedBytes, 40)
    }

    func testByteCapSheds() {
        var q = queue(.init(maxBatchPackets: 4, maxBatchBytes: 100, highWaterPackets: 100, maxQueuedPackets: 100, maxQueuedBytes: 250))
        XCTAssertEqual(q.enqueue((0..<5).map { _ in Data(count: 100) }), 2)
        XCTAssertEqual(q.shedPackets, 3)
    }

    func testMemoryFollowsTheQueueAcrossManyBatches() {
        var q = queue(.init(maxBatchPackets: 64, maxBatchBytes: 1 << 20, highWaterPackets: 512, maxQueuedPackets: 2048, maxQueuedBytes: 1 << 24))
        var out = 0
        for round in 0..<200 {
            q.enqueue((0..<50).map { _ in Data([UInt8(round & 0xff)]) })
            while let b = q.nextBatch() { out += b.count }
        }
        XCTAssertEqual(out, 10_000)
        XCTAssertEqual(q.count, 0)
        XCTAssertEqual(q.queuedBytes, 0)
    }

    func testLimitsAreMadeConsistent() {
        let l = IngestQueue<Data>.Limits(maxBatchPackets: 0, maxBatchBytes: -5, highWaterPackets: 10_000, maxQueuedPackets: 10, maxQueuedBytes: 0)
        XCTAssertEqual(l.maxBatchPackets, 1)
        XCTAssertEqual(l.maxBatchBytes, 1)
        XCTAssertEqual(l.highWaterPackets, 10)
        XCTAssertEqual(l.maxQueuedBytes, 1)
    }
}

import Foundation

/// The bounded queue between `packetFlow` and `NightjarEngine.ingest`.
///
/// `NEPacketTunnelFlow` is pull-based: the provider asks for packets with
/// `readPacketObjects` and gets an array per call. Backpressure is therefore simply not
/// asking again while this queue is above its high-water mark ([`hasRoom`]): the kernel's
/// utun queue fills and TCP senders slow down. Above the hard cap the queue sheds and counts
/// (`shedPackets`) instead of growing: in monitor mode the packets are forwarded by the
/// product's transport anyway, so only telemetry is lost, never connectivity.
///
/// Batches for the engine are cut at `maxBatchPackets` / `maxBatchBytes`: one FFI call per
/// packet costs more than the engine's work on it.
///
/// Not thread-safe: the pump uses it from its one serial queue.
public struct IngestQueue<Element> {
    public struct Limits: Equatable {
        public var maxBatchPackets: Int
        public var maxBatchBytes: Int
        /// Stop reading `packetFlow` at or above this many queued packets.
        public var highWaterPackets: Int
        /// Shed above this many queued packets / bytes.
        public var maxQueuedPackets: Int
        public var maxQueuedBytes: Int

        public init(
            maxBatchPackets: Int = 64,
            maxBatchBytes: Int = 256 * 1024,
            highWaterPackets: Int = 512,
            maxQueuedPackets: Int = 2048,
            maxQueuedBytes: Int = 4 * 1024 * 1024
        ) {
            self.maxBatchPackets = max(1, maxBatchPackets)
            self.maxBatchBytes = max(1, maxBatchBytes)
            self.maxQueuedPackets = max(self.maxBatchPackets, maxQueuedPackets)
            self.highWaterPackets = min(max(1, highWaterPackets), self.maxQueuedPackets)
            self.maxQueuedBytes = max(self.maxBatchBytes, maxQueuedBytes)
        }
    }

    public let limits: Limits
    private let sizeOf: (Element) -> Int
    // A ring would avoid the O(n) removeFirst, but batches are cut in one slice below.
    private var items: [Element] = []
    private var head = 0
    public private(set) var queuedBytes = 0
    public private(set) var offeredPackets: UInt64 = 0
    public private(set) var shedPackets: UInt64 = 0
    public private(set) var shedBytes: UInt64 = 0
    public private(set) var batches: UInt64 = 0

    public init(limits: Limits = Limits(), sizeOf: @escaping (Element) -> Int) {
        self.limits = limits
        self.sizeOf = sizeOf
    }

    public var count: Int { items.count - head }
    public var isEmpty: Bool { count == 0 }

    /// True while the reader may ask `packetFlow` for more.
    public var hasRoom: Bool { count < limits.highWaterPackets }

    /// Queues what fits under the caps, sheds (and counts) the rest. Returns how many were queued.
    @discardableResult
    public mutating func enqueue<S: Sequence>(_ packets: S) -> Int where S.Element == Element {
        var accepted = 0
        for p in packets {
            offeredPackets &+= 1
            let size = max(0, sizeOf(p))
            if !isEmpty && (count >= limits.maxQueuedPackets || queuedBytes + size > limits.maxQueuedBytes) {
                shedPackets &+= 1
                shedBytes &+= UInt64(size)
                continue
            }
            items.append(p)
            queuedBytes += size
            accepted += 1
        }
        return accepted
    }

    /// The next batch for the engine (at least one packet, however large), or nil when empty.
    public mutating func nextBatch() -> [Element]? {
        guard !isEmpty else { return nil }
        var end = head
        var bytes = 0
        while end < items.count && end - head < limits.maxBatchPackets {
            let size = max(0, sizeOf(items[end]))
            if end > head && bytes + size > limits.maxBatchBytes { break }
            bytes += size
            end += 1
        }
        let batch = Array(items[head..<end])
        head = end
        queuedBytes -= bytes
        batches &+= 1
        // Compact once the consumed prefix dominates, so memory follows the queue's length.
        if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        } else if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        return batch
    }

    /// Drops everything queued (shutdown), counting it as shed.
    public mutating func removeAll() {
        shedPackets &+= UInt64(count)
        shedBytes &+= UInt64(queuedBytes)
        items.removeAll()
        head = 0
        queuedBytes = 0
    }
}

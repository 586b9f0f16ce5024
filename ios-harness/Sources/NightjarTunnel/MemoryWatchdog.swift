import Foundation
#if os(iOS)
import os
#endif

/// How close the extension is to the jetsam limit (about 50 MiB for a packet tunnel).
public enum MemoryPressure: Int, Comparable, Sendable {
    case normal = 0
    /// Flush what can be flushed (the store writer's queue), keep observing.
    case elevated = 1
    /// Stop feeding the engine; forward only. Telemetry is lost, the device keeps its network.
    case critical = 2

    public static func < (a: MemoryPressure, b: MemoryPressure) -> Bool { a.rawValue < b.rawValue }
}

/// Samples the memory the process may still allocate (`os_proc_available_memory`, iOS 13+)
/// and turns it into a [`MemoryPressure`] with hysteresis, so a process hovering at a
/// threshold does not flap between levels.
///
/// The engine bounds its own tables (`MemoryCaps`); the watchdog covers what no cap sees:
/// Swift-side buffers, the OS's allocations in the process, fragmentation. Its level feeds
/// the pump's load shedding ([`PacketPump.setPressure`]) and, once the bindings expose it,
/// the engine's (see [`EngineLoadShedding`]).
public final class MemoryWatchdog {
    public struct Thresholds: Equatable {
        /// Enter `.elevated` below this many available bytes, `.critical` below `critical`.
        public var elevated: Int
        public var critical: Int
        /// Leave a level only once available memory is this much above its threshold.
        public var hysteresis: Int

        public init(elevated: Int = 16 << 20, critical: Int = 8 << 20, hysteresis: Int = 2 << 20) {
            // Clamped so threshold + hysteresis can never overflow (Swift traps on overflow).
            let cap = Int.max / 4
            self.critical = min(max(0, critical), cap)
            self.elevated = min(max(elevated, self.critical), cap)
            self.hysteresis = min(max(0, hysteresis), cap)
        }
    }

    public let thresholds: Thresholds
    public private(set) var level: MemoryPressure = .normal
    public private(set) var lastAvailable: Int = .max
    /// The lowest available memory seen: the number to report after a field test.
    public private(set) var lowWater: Int = .max
    private let probe: () -> Int
    private var timer: DispatchSourceTimer?

    /// `probe` returns the bytes still available; the default asks the OS.
    public init(thresholds: Thresholds = Thresholds(), probe: @escaping () -> Int = MemoryWatchdog.availableMemory) {
        self.thresholds = thresholds
        self.probe = probe
    }

    /// The OS's answer on iOS; elsewhere (macOS unit tests) "plenty".
    public static func availableMemory() -> Int {
        #if os(iOS)
        if #available(iOS 13.0, *) { return Int(os_proc_available_memory()) }
        #endif
        return .max
    }

    /// Takes one sample; returns the new level if it changed.
    @discardableResult
    public func sample() -> MemoryPressure? {
        let available = probe()
        lastAvailable = available
        lowWater = min(lowWater, available)
        let next = Self.nextLevel(from: level, available: available, thresholds: thresholds)
        guard next != level else { return nil }
        level = next
        return next
    }

    /// The transition rule, separate so it is tested without a probe.
    public static func nextLevel(from current: MemoryPressure, available: Int, thresholds t: Thresholds) -> MemoryPressure {
        // Going up is immediate; going down needs the margin above the threshold being left.
        if available < t.critical { return .critical }
        switch current {
        case .critical:
            if available >= t.elevated + t.hysteresis { return .normal }
            return available >= t.critical + t.hysteresis ? .elevated : .critical
        case .elevated:
            return available >= t.elevated + t.hysteresis ? .normal : .elevated
        case .normal:
            return available < t.elevated ? .elevated : .normal
        }
    }

    /// Samples every `interval` on `queue`, calling `onChange` with each new level.
    public func start(interval: DispatchTimeInterval = .seconds(1), queue: DispatchQueue, onChange: @escaping (MemoryPressure) -> Void) {
        stop()
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now(), repeating: interval, leeway: .milliseconds(100))
        t.setEventHandler { [weak self] in
            if let changed = self?.sample() { onChange(changed) }
        }
        t.resume()
        timer = t
    }

    public func stop() {
        timer?.cancel()
        timer = nil
    }

    deinit { timer?.cancel() }
}

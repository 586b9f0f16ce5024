import XCTest
@testable import NightjarTunnel

final class MemoryWatchdogTests: XCTestCase {
    private let mib = 1 << 20
    private lazy var t = MemoryWatchdog.Thresholds(elevated: 16 * mib, critical: 8 * mib, hysteresis: 2 * mib)

    func testLevelsRiseAtOnceAndFallWithHysteresis() {
        var available = 40 * mib
        let w = MemoryWatchdog(thresholds: t) { available }
        XCTAssertNil(w.sample())
        available = 15 * mib
        XCTAssertEqual(w.sample(), .elevated)
        available = 17 * mib // above the threshold, inside the margin
        XCTAssertNil(w.sample())
        XCTAssertEqual(w.level, .elevated)
        available = 7 * mib
        XCTAssertEqual(w.sample(), .critical)
        available = 9 * mib
        XCTAssertNil(w.sample(), "inside the critical margin")
        available = 11 * mib
        XCTAssertEqual(w.sample(), .elevated)
        available = 19 * mib
        XCTAssertEqual(w.sample(), .normal)
        XCTAssertEqual(w.lowWater, 7 * mib)
    }

    func testCriticalFallsStraightToNormalWhenMemoryReturns() {
        XCTAssertEqual(MemoryWatchdog.nextLevel(from: .critical, available: 30 * mib, thresholds: t), .normal)
        XCTAssertEqual(MemoryWatchdog.nextLevel(from: .normal, available: 1, thresholds: t), .critical)
        XCTAssertEqual(MemoryWatchdog.nextLevel(from: .normal, available: 16 * mib, thresholds: t), .normal)
    }

    func testThresholdsCannotOverflow() {
        let huge = MemoryWatchdog.Thresholds(elevated: .max, critical: .max, hysteresis: .max)
        XCTAssertEqual(MemoryWatchdog.nextLevel(from: .critical, available: .max, thresholds: huge), .normal)
        let inverted = MemoryWatchdog.Thresholds(elevated: 1, critical: 10)
        XCTAssertGreaterThanOrEqual(inverted.elevated, inverted.critical)
    }

    func testTheTimerDeliversChanges() {
        var available = 40 * mib
        let lock = NSLock()
        let w = MemoryWatchdog(thresholds: t) { lock.lock(); defer { lock.unlock() }; return available }
        let got = expectation(description: "critical")
        w.start(interval: .milliseconds(20), queue: DispatchQueue(label: "wd")) { level in
            if level == .critical { got.fulfill() }
        }
        lock.lock(); available = 1 * mib; lock.unlock()
        wait(for: [got], timeout: 5)
        w.stop()
    }

    #if os(iOS)
    func testTheOsReportsSomeMemory() {
        XCTAssertGreaterThan(MemoryWatchdog.availableMemory(), 0)
    }
    #endif
}

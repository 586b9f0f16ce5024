import XCTest

/// Taps Start in the sample app and waits for the status to show packets and flows counted
/// by the engine. In the simulator the app hosts the tunnel core in-process (iOS does not
/// launch packet-tunnel extensions there); on a device the same test drives the extension,
/// after the VPN permission alert is accepted.
final class StartTunnelUITests: XCTestCase {
    func testStartingTheTunnelCountsFlows() throws {
        let app = XCUIApplication()
        app.launch()
        addUIInterruptionMonitor(withDescription: "VPN permission") { alert in
            let allow = alert.buttons["Allow"]
            guard allow.exists else { return false }
            allow.tap()
            return true
        }
        app.buttons["start"].tap()
        let status = app.staticTexts["status"]
        let counted = NSPredicate { _, _ in
            let text = status.label
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flows: ") }),
                  let n = Int(line.dropFirst("flows: ".count).prefix { $0.isNumber }) else { return false }
            return n >= 2
        }
        expectation(for: counted, evaluatedWith: status)
        waitForExpectations(timeout: 30)
        XCTAssertTrue(status.label.contains("attributed"))
        app.buttons["start"].tap()
    }
}

import XCTest
@testable import NightjarTunnel

final class TunnelPlanTests: XCTestCase {
    func testProviderConfigurationRoundTrips() throws {
        let p = TunnelPlan(mode: .relay, routes: .all, mtu: 1400, dnsServers: ["198.18.0.53"], appGroup: "group.org.nightjar", relayDnsUpstream: "192.0.2.53", blockAt: .high)
        XCTAssertEqual(try TunnelPlan(providerConfiguration: p.providerConfiguration), p)
    }

    func testBlockingIsRelayOnlyAndOffByDefault() throws {
        XCTAssertNil(try TunnelPlan(providerConfiguration: ["appGroup": "g", "mode": "relay", "routes": "all"]).blockAt)
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: ["appGroup": "g", "blockAt": "high"])) {
            XCTAssertEqual($0 as? TunnelPlan.PlanError, .blockNeedsRelay)
        }
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: ["appGroup": "g", "mode": "relay", "routes": "all", "blockAt": "medium"])) {
            XCTAssertEqual($0 as? TunnelPlan.PlanError, .invalid(key: "blockAt", value: "medium"))
        }
    }

    func testDefaultsAreTheSafeTestRoutes() throws {
        let p = try TunnelPlan(providerConfiguration: ["appGroup": "group.x"])
        XCTAssertEqual(p.mode, .monitor)
        XCTAssertEqual(p.routes, .testPrefix)
        XCTAssertEqual(p.includedRoutesV4.map { $0.0 }, ["198.18.0.0"])
        XCTAssertEqual(p.includedRoutesV4.map { $0.1 }, [15])
        XCTAssertTrue(p.includedRoutesV6.isEmpty)
    }

    func testBadConfigurationsAreRefused() {
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: [:])) {
            XCTAssertEqual($0 as? TunnelPlan.PlanError, .missing("appGroup"))
        }
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: ["appGroup": "g", "mode": "tap"])) {
            XCTAssertEqual($0 as? TunnelPlan.PlanError, .invalid(key: "mode", value: "tap"))
        }
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: ["appGroup": "g", "mode": "relay"])) {
            XCTAssertEqual($0 as? TunnelPlan.PlanError, .relayNeedsAllRoutes)
        }
        XCTAssertThrowsError(try TunnelPlan(providerConfiguration: ["appGroup": "g", "routes": "all", "dnsServers": ["dns.example"]]))
    }

    func testRelayGetsTheRelayResolverAndMtuIsClamped() throws {
        let p = try TunnelPlan(providerConfiguration: ["appGroup": "g", "mode": "relay", "routes": "all", "mtu": 100])
        XCTAssertEqual(p.dnsServers, [TunnelPlan.relayResolver])
        XCTAssertEqual(p.mtu, 1280)
    }

    #if canImport(NetworkExtension)
    func testNetworkSettingsCarryThePlan() throws {
        let test = TunnelPlan(appGroup: "g").networkSettings()
        XCTAssertEqual(test.mtu, 1500)
        let r = try XCTUnwrap(test.ipv4Settings?.includedRoutes?.first)
        XCTAssertEqual(r.destinationAddress, "198.18.0.0")
        XCTAssertEqual(r.destinationSubnetMask, "255.254.0.0")
        XCTAssertNil(test.dnsSettings)
        let all = TunnelPlan(mode: .relay, routes: .all, dnsServers: ["198.18.0.53"], appGroup: "g").networkSettings()
        XCTAssertEqual(all.ipv4Settings?.includedRoutes?.first?.destinationAddress, "0.0.0.0")
        XCTAssertEqual(all.dnsSettings?.servers, ["198.18.0.53"])
        XCTAssertEqual(all.dnsSettings?.matchDomains, [""])
        XCTAssertEqual(TunnelPlan.mask(15), "255.254.0.0")
        XCTAssertEqual(TunnelPlan.mask(32), "255.255.255.255")
        XCTAssertEqual(TunnelPlan.mask(0), "0.0.0.0")
    }
    #endif
}

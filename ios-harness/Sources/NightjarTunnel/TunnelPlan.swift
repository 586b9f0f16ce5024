import Foundation

/// What the tunnel routes and how the engine runs, as plain values: the provider turns it
/// into `NEPacketTunnelNetworkSettings` ([`networkSettings()`]); the containing app passes it
/// in `NETunnelProviderProtocol.providerConfiguration` ([`providerConfiguration`]).
///
/// - `.monitor` observes packets that the product's own transport forwards (a packet tunnel
///   must forward what it reads; iOS has no passive tap).
/// - `.relay` is the local VPN: Nightjar's relay forwards the traffic itself through sockets
///   the extension opens (a provider's own sockets bypass its tunnel); DNS sent to
///   [`relayResolver`] is forwarded to [`relayDnsUpstream`].
/// - `.testPrefix` routes only 198.18.0.0/15 (RFC 2544 benchmarking space, never on the
///   internet): the sample app and the UI test send into it, nothing else is captured.
public struct TunnelPlan: Equatable, Sendable {
    public enum Mode: String, Sendable { case monitor, relay }
    public enum Routes: String, Sendable { case testPrefix, all }
    /// The lowest alert severity whose domain or address the relay refuses (DNS answered
    /// NXDOMAIN or sinkholed, the flow reset). Only the intel detections reach these levels.
    public enum BlockAt: String, Sendable { case high, critical }

    public var mode: Mode
    public var routes: Routes
    public var mtu: Int
    /// DNS servers the device should use while the tunnel is up (`.all` only). In relay mode
    /// the relay answers what is sent to them; in monitor mode they are the transport's.
    public var dnsServers: [String]
    /// App group shared with the containing app: the database and the intel index live there.
    public var appGroup: String
    /// Relay mode: where DNS sent to [`relayResolver`] goes (`IP`, `IP:PORT`, `udp://IP:PORT`).
    /// nil: the relay runs no DNS service, so queries to the resolver address go unanswered.
    public var relayDnsUpstream: String?
    /// Relay mode only: refuse what an alert of this severity or above names. nil (the
    /// default) only records and alerts; monitor mode cannot block (it forwards nothing).
    public var blockAt: BlockAt?

    public static let tunnelAddressV4 = "198.18.0.2"
    public static let tunnelAddressV6 = "fd6e:6a00::2"
    public static let relayResolver = "198.18.0.53"
    /// The relay's own addresses: the device's gateway inside the tunnel.
    public static let relayAddressV4 = "198.18.0.1"
    public static let relayAddressV6 = "fd6e:6a00::1"

    public init(mode: Mode = .monitor, routes: Routes = .testPrefix, mtu: Int = 1500,
                dnsServers: [String] = [], appGroup: String, relayDnsUpstream: String? = nil,
                blockAt: BlockAt? = nil) {
        self.mode = mode
        self.relayDnsUpstream = relayDnsUpstream
        self.blockAt = blockAt
        self.routes = routes
        self.mtu = min(max(mtu, 1280), 9000)
        self.dnsServers = dnsServers
        self.appGroup = appGroup
    }

    public enum PlanError: Error, Equatable {
        case missing(String)
        case invalid(key: String, value: String)
        case relayNeedsAllRoutes
        case blockNeedsRelay
    }

    /// Reads the plan from `providerConfiguration`; refuses unknown values rather than
    /// guessing, since a wrong mode either blackholes traffic or observes nothing.
    public init(providerConfiguration c: [String: Any]) throws {
        guard let group = c["appGroup"] as? String, !group.isEmpty else { throw PlanError.missing("appGroup") }
        let modeRaw = c["mode"] as? String ?? Mode.monitor.rawValue
        guard let mode = Mode(rawValue: modeRaw) else { throw PlanError.invalid(key: "mode", value: modeRaw) }
        let routesRaw = c["routes"] as? String ?? Routes.testPrefix.rawValue
        guard let routes = Routes(rawValue: routesRaw) else { throw PlanError.invalid(key: "routes", value: routesRaw) }
        if mode == .relay && routes != .all { throw PlanError.relayNeedsAllRoutes }
        var blockAt: BlockAt?
        if let raw = c["blockAt"] as? String {
            guard let b = BlockAt(rawValue: raw) else { throw PlanError.invalid(key: "blockAt", value: raw) }
            guard mode == .relay else { throw PlanError.blockNeedsRelay }
            blockAt = b
        }
        let dns = c["dnsServers"] as? [String] ?? (mode == .relay ? [Self.relayResolver] : [])
        for d in dns where PacketTuple.ipBytes(d) == nil { throw PlanError.invalid(key: "dnsServers", value: d) }
        self.init(mode: mode, routes: routes, mtu: c["mtu"] as? Int ?? 1500, dnsServers: dns, appGroup: group,
                  relayDnsUpstream: c["relayDnsUpstream"] as? String, blockAt: blockAt)
    }

    public var providerConfiguration: [String: Any] {
        var c: [String: Any] = ["mode": mode.rawValue, "routes": routes.rawValue, "mtu": mtu, "dnsServers": dnsServers, "appGroup": appGroup]
        if let up = relayDnsUpstream { c["relayDnsUpstream"] = up }
        if let b = blockAt { c["blockAt"] = b.rawValue }
        return c
    }

    /// The routes as (address, prefix length) pairs.
    public var includedRoutesV4: [(String, Int)] {
        routes == .all ? [("0.0.0.0", 0)] : [("198.18.0.0", 15)]
    }

    public var includedRoutesV6: [(String, Int)] {
        routes == .all ? [("::", 0)] : []
    }
}

#if canImport(NetworkExtension)
import NetworkExtension

extension TunnelPlan {
    public func networkSettings() -> NEPacketTunnelNetworkSettings {
        // A local tunnel has no server; the remote address only labels the interface.
        let s = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: "127.0.0.1")
        s.mtu = NSNumber(value: mtu)
        let v4 = NEIPv4Settings(addresses: [Self.tunnelAddressV4], subnetMasks: ["255.255.255.255"])
        v4.includedRoutes = includedRoutesV4.map { addr, len in
            len == 0 ? NEIPv4Route.default() : NEIPv4Route(destinationAddress: addr, subnetMask: Self.mask(len))
        }
        s.ipv4Settings = v4
        let v6 = NEIPv6Settings(addresses: [Self.tunnelAddressV6], networkPrefixLengths: [128])
        v6.includedRoutes = includedRoutesV6.map { addr, len in
            len == 0 ? NEIPv6Route.default() : NEIPv6Route(destinationAddress: addr, networkPrefixLength: NSNumber(value: len))
        }
        s.ipv6Settings = v6
        if routes == .all && !dnsServers.isEmpty {
            let dns = NEDNSSettings(servers: dnsServers)
            // Every lookup goes to these servers, not only those of listed domains.
            dns.matchDomains = [""]
            s.dnsSettings = dns
        }
        return s
    }

    static func mask(_ len: Int) -> String {
        let l = min(max(len, 0), 32)
        let m: UInt32 = l == 0 ? 0 : ~UInt32(0) << UInt32(32 - l)
        return "\(m >> 24).\((m >> 16) & 0xff).\((m >> 8) & 0xff).\(m & 0xff)"
    }
}
#endif

#if canImport(Network)
import Darwin
import Foundation
import Network
import os

/// Tells relay mode when the uplink changes (Wi-Fi to cellular, a new address, the interface
/// gone), so connections relayed on the old path are reset at once instead of hanging until
/// the apps' own timeouts, and the encrypted DNS upstream is dialled again.
///
/// `NWPathMonitor` in the extension sees the physical path the relay's sockets leave by (they
/// bypass the tunnel). On each update whose interfaces or addresses differ from the last, it
/// calls `engine.networkChanged(addresses:)` with the addresses of the path's interfaces
/// (`getifaddrs`), or none when the path is unsatisfied (every relayed connection is then on
/// the old path). The first update is the path the relay started on and resets nothing.
public final class PathWatcher {
    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "org.nightjar.tunnel.path")
    private let engine: () -> NightjarEngine?
    private let log = Logger(subsystem: "org.nightjar.tunnel", category: "path")
    private var last: [String]?

    public init(engine: @escaping () -> NightjarEngine?) {
        self.engine = engine
    }

    public func start() {
        monitor.pathUpdateHandler = { [weak self] path in self?.update(path) }
        monitor.start(queue: queue)
    }

    public func stop() {
        monitor.cancel()
    }

    private func update(_ path: NWPath) {
        let addresses = path.status == .satisfied
            ? Self.addresses(of: Set(path.availableInterfaces.filter { $0.type != .other }.map(\.name)))
            : []
        defer { last = addresses }
        guard let previous = last, previous != addresses, let e = engine() else { return }
        do {
            let change = try e.networkChanged(addresses: addresses)
            log.notice("uplink changed: \(change.tcpReset) tcp reset, \(change.udpDropped) udp dropped, dns redialled \(change.dnsRedialled)")
        } catch {
            log.error("network_changed: \(String(describing: error), privacy: .public)")
        }
    }

    /// The IPv4 and IPv6 addresses of the named interfaces, sorted.
    static func addresses(of interfaces: Set<String>) -> [String] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var out: [String] = []
        for ifa in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let sa = ifa.pointee.ifa_addr,
                  interfaces.contains(String(cString: ifa.pointee.ifa_name)) else { continue }
            let family = Int32(sa.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let len = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            if getnameinfo(sa, len, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                // Link-local IPv6 comes back as "fe80::1%en0"; the relay parses the address alone.
                out.append(String(cString: host).split(separator: "%").first.map(String.init) ?? "")
            }
        }
        return out.filter { !$0.isEmpty }.sorted()
    }
}
#endif

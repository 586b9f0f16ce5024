import Foundation
import NightjarFFI

/// The 5-tuple of an IP packet, read with checked offsets only: a packet the tunnel hands
/// us can be anything, and a Swift out-of-bounds read traps.
public struct PacketTuple: Hashable, Sendable {
    public var proto: UInt8
    /// 4 or 16 bytes.
    public var source: [UInt8]
    public var sourcePort: UInt16
    public var destination: [UInt8]
    public var destinationPort: UInt16

    public init(proto: UInt8, source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16) {
        self.proto = proto
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
    }

    /// Nil for anything that is not a well-formed IPv4/IPv6 header; ports are 0 for protocols
    /// without them, for later fragments and for truncated transport headers. IPv6
    /// extension headers are not walked: such packets get ports 0 and simply stay
    /// unattributed.
    public static func parse(_ packet: Data) -> PacketTuple? {
        let b = [UInt8](packet)
        guard let first = b.first else { return nil }
        switch first >> 4 {
        case 4:
            guard b.count >= 20 else { return nil }
            let ihl = Int(first & 0x0f) * 4
            guard ihl >= 20, b.count >= ihl else { return nil }
            let proto = b[9]
            let fragOffset = (UInt16(b[6] & 0x1f) << 8) | UInt16(b[7])
            let ports = fragOffset == 0 ? Self.ports(b, at: ihl, proto: proto) : (0, 0)
            return PacketTuple(proto: proto, source: Array(b[12..<16]), sourcePort: ports.0,
                               destination: Array(b[16..<20]), destinationPort: ports.1)
        case 6:
            guard b.count >= 40 else { return nil }
            let next = b[6]
            let ports = Self.ports(b, at: 40, proto: next)
            return PacketTuple(proto: next, source: Array(b[8..<24]), sourcePort: ports.0,
                               destination: Array(b[24..<40]), destinationPort: ports.1)
        default:
            return nil
        }
    }

    private static func ports(_ b: [UInt8], at offset: Int, proto: UInt8) -> (UInt16, UInt16) {
        // TCP 6, UDP 17, SCTP 132 start with source and destination port.
        guard proto == 6 || proto == 17 || proto == 132, offset >= 0, b.count >= offset + 4 else { return (0, 0) }
        return ((UInt16(b[offset]) << 8) | UInt16(b[offset + 1]), (UInt16(b[offset + 2]) << 8) | UInt16(b[offset + 3]))
    }

    /// The engine's view of this outbound packet's flow (device side = source), or nil when
    /// an address from the engine is not a literal.
    public static func key(of flow: FlowKey5) -> PacketTuple? {
        guard let local = ipBytes(flow.localIp), let remote = ipBytes(flow.remoteIp) else { return nil }
        return PacketTuple(proto: flow.`protocol`, source: local, sourcePort: flow.localPort,
                           destination: remote, destinationPort: flow.remotePort)
    }

    /// Parses an address literal into 4 or 16 bytes (`inet_pton`: never a DNS lookup).
    public static func ipBytes(_ literal: String) -> [UInt8]? {
        var v4 = in_addr()
        if literal.withCString({ inet_pton(AF_INET, $0, &v4) }) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if literal.withCString({ inet_pton(AF_INET6, $0, &v6) }) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// Per-app attribution on iOS. A packet tunnel sees no app at all, except in per-app VPN
/// mode (`NETunnelProviderManager.forPerAppVPN()`, MDM-managed apps), where each packet
/// read with `readPacketObjects` carries `NEPacket.metadata.sourceAppSigningIdentifier`.
/// This remembers, per flow, the app that sent its packets, and answers the engine's
/// `AppResolver` question from that. The engine's app ids are `UInt32`; iOS has none, so
/// each signing identifier gets one (stable for the registry's lifetime; persist
/// [`snapshot`] in the app group container to keep them across restarts).
///
/// Bounded: at most `maxFlows` remembered flows (oldest forgotten first) and `maxApps` apps.
/// Thread-safe (the reader records, the engine's ingest thread asks).
public final class PerAppResolver: AppResolver, @unchecked Sendable {
    public static let firstUid: UInt32 = 100_000

    private let lock = NSLock()
    private let maxFlows: Int
    private let maxApps: Int
    private var flowOwner: [PacketTuple: UInt32] = [:]
    private var order: [PacketTuple] = []
    private var orderHead = 0
    private var uids: [String: UInt32]
    private var nextUid: UInt32
    public private(set) var forgottenFlows: UInt64 = 0
    public private(set) var refusedApps: UInt64 = 0

    public init(maxFlows: Int = 16_384, maxApps: Int = 2_048, known: [String: UInt32] = [:]) {
        self.maxFlows = max(1, maxFlows)
        self.maxApps = max(1, maxApps)
        self.uids = known
        self.nextUid = max(Self.firstUid, (known.values.max() ?? 0) &+ 1)
    }

    /// The id for a signing identifier, assigning the next free one on first sight.
    public func uid(for signingIdentifier: String) -> UInt32? {
        lock.lock(); defer { lock.unlock() }
        return uidLocked(signingIdentifier)
    }

    /// Records that the app `signingIdentifier` sent `packet` (read from the tunnel).
    public func record(outbound packet: Data, signingIdentifier: String?) {
        guard let id = signingIdentifier, !id.isEmpty, let tuple = PacketTuple.parse(packet) else { return }
        lock.lock(); defer { lock.unlock() }
        guard let uid = uidLocked(id) else { return }
        if flowOwner.updateValue(uid, forKey: tuple) == nil {
            order.append(tuple)
            while order.count - orderHead > maxFlows {
                flowOwner.removeValue(forKey: order[orderHead])
                orderHead += 1
                forgottenFlows &+= 1
            }
            if orderHead >= 4_096 && orderHead * 2 >= order.count {
                order.removeFirst(orderHead)
                orderHead = 0
            }
        }
    }

    public func owner(flow: FlowKey5) -> UInt32? {
        guard let key = PacketTuple.key(of: flow) else { return nil }
        lock.lock(); defer { lock.unlock() }
        return flowOwner[key]
    }

    /// Signing identifier → id, to persist and to build the engine's app inventory.
    public func snapshot() -> [String: UInt32] {
        lock.lock(); defer { lock.unlock() }
        return uids
    }

    public var rememberedFlows: Int {
        lock.lock(); defer { lock.unlock() }
        return flowOwner.count
    }

    private func uidLocked(_ id: String) -> UInt32? {
        if let u = uids[id] { return u }
        guard uids.count < maxApps, nextUid < UInt32.max else {
            refusedApps &+= 1
            return nil
        }
        let u = nextUid
        nextUid += 1
        uids[id] = u
        return u
    }
}

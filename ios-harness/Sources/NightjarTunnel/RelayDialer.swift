import Foundation
import Network

/// Outbound connections from Swift, outside the tunnel, on Network.framework.
///
/// Relay mode does not use it: the bindings' relay opens its own BSD sockets inside the
/// extension (`nightjar-relay`'s `StdDialer`) and needs no dialer callback. This protocol and
/// [`NetworkFrameworkDialer`] remain for Swift-side connections (a product's transport, feed
/// downloads) and as the shape of a Network.framework dialer should the bindings ever take
/// one (for per-connection interface choice the BSD sockets do not offer).
///
/// Connections opened by the packet-tunnel process never enter its own tunnel (iOS's NECP
/// policy for network extensions); [`NetworkFrameworkDialer`] additionally prohibits the
/// `other` interface type (utun) so a misconfiguration fails loudly instead of looping.
public protocol NightjarRelayDialer: AnyObject {
    /// Opens a TCP connection (`udp` false) or a connected UDP socket to `host:port` for
    /// relay connection `token`; events arrive on `events`.
    func dial(token: UInt64, host: String, port: UInt16, udp: Bool, events: RelayDialerEvents)
    /// Queues `data` on `token`'s connection. Returns false when the connection's send
    /// buffer is full: the relay must stop reading from the device side (backpressure) until
    /// `writable(token:)`.
    func send(token: UInt64, data: Data) -> Bool
    func close(token: UInt64)
}

/// What a dialer reports back to the relay.
public protocol RelayDialerEvents: AnyObject {
    func connected(token: UInt64)
    func received(token: UInt64, data: Data)
    /// Room in the send buffer again after `send` returned false.
    func writable(token: UInt64)
    /// The connection is gone (`error` nil: orderly close by the peer).
    func closed(token: UInt64, error: Error?)
}

/// [`NightjarRelayDialer`] on Network.framework.
public final class NetworkFrameworkDialer: NightjarRelayDialer {
    /// Bytes queued per connection before `send` says "full".
    public let maxPendingBytes: Int
    /// Connections open at once; beyond it `dial` fails at once (the relay answers RST).
    public let maxConnections: Int
    private let queue = DispatchQueue(label: "org.nightjar.dialer")
    // A lock, not the queue: `send` may be called from an event handler running on `queue`.
    private let lock = NSLock()
    private var connections: [UInt64: Entry] = [:]

    private final class Entry {
        let connection: NWConnection
        let events: RelayDialerEvents
        let udp: Bool
        var pending = 0
        var full = false
        init(_ c: NWConnection, _ e: RelayDialerEvents, udp: Bool) {
            connection = c
            events = e
            self.udp = udp
        }
    }

    public enum DialError: Error { case tooManyConnections, invalidPort }

    public init(maxPendingBytes: Int = 256 * 1024, maxConnections: Int = 512) {
        self.maxPendingBytes = maxPendingBytes
        self.maxConnections = maxConnections
    }

    public func dial(token: UInt64, host: String, port: UInt16, udp: Bool, events: RelayDialerEvents) {
        guard let p = NWEndpoint.Port(rawValue: port), port != 0 else {
            queue.async { events.closed(token: token, error: DialError.invalidPort) }
            return
        }
        let params: NWParameters = udp ? .udp : .tcp
        params.prohibitedInterfaceTypes = [.other]
        let c = NWConnection(host: NWEndpoint.Host(host), port: p, using: params)
        lock.lock()
        let admitted = connections.count < maxConnections && connections[token] == nil
        if admitted { connections[token] = Entry(c, events, udp: udp) }
        lock.unlock()
        guard admitted else {
            queue.async { events.closed(token: token, error: DialError.tooManyConnections) }
            return
        }
        do {
            c.stateUpdateHandler = { [weak self] state in
                switch state {
                case .ready:
                    events.connected(token: token)
                    self?.receive(token: token)
                case .failed(let error):
                    self?.finish(token: token, error: error)
                case .cancelled:
                    self?.finish(token: token, error: nil)
                default:
                    break
                }
            }
            c.start(queue: queue)
        }
    }

    public func send(token: UInt64, data: Data) -> Bool {
        lock.lock()
        guard let e = connections[token] else {
            lock.unlock()
            return false
        }
        if e.pending + data.count > maxPendingBytes && e.pending > 0 {
            e.full = true
            lock.unlock()
            return false
        }
        e.pending += data.count
        lock.unlock()
        e.connection.send(content: data, completion: .contentProcessed { [weak self, weak e] error in
            guard let self, let e else { return }
            self.lock.lock()
            e.pending -= data.count
            let wake = error == nil && e.full && e.pending <= self.maxPendingBytes / 2
            if wake { e.full = false }
            self.lock.unlock()
            if let error {
                self.finish(token: token, error: error)
            } else if wake {
                e.events.writable(token: token)
            }
        })
        return true
    }

    public func close(token: UInt64) {
        lock.lock()
        let c = connections[token]?.connection
        lock.unlock()
        c?.cancel()
    }

    public var openConnections: Int {
        lock.lock(); defer { lock.unlock() }
        return connections.count
    }

    private func receive(token: UInt64) {
        lock.lock()
        let entry = connections[token]
        lock.unlock()
        guard let e = entry else { return }
        if e.udp {
            e.connection.receiveMessage { [weak self] data, _, _, error in
                if let data, !data.isEmpty { e.events.received(token: token, data: data) }
                if let error { self?.finish(token: token, error: error) } else { self?.receive(token: token) }
            }
        } else {
            e.connection.receive(minimumIncompleteLength: 1, maximumLength: 64 * 1024) { [weak self] data, _, isComplete, error in
                if let data, !data.isEmpty { e.events.received(token: token, data: data) }
                if let error {
                    self?.finish(token: token, error: error)
                } else if isComplete {
                    self?.finish(token: token, error: nil)
                } else {
                    self?.receive(token: token)
                }
            }
        }
    }

    private func finish(token: UInt64, error: Error?) {
        lock.lock()
        let entry = connections.removeValue(forKey: token)
        lock.unlock()
        guard let e = entry else { return }
        e.connection.stateUpdateHandler = nil
        e.connection.cancel()
        e.events.closed(token: token, error: error)
    }
}

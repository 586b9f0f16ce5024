#if canImport(NetworkExtension)
import Foundation
import NetworkExtension
import os

/// The packet tunnel provider a product's extension uses as its principal class (directly,
/// or subclassed to supply a transport): set `NSExtensionPrincipalClass` to
/// `$(PRODUCT_MODULE_NAME).PacketTunnelProvider` in a subclass declared in the extension.
///
/// Start: reads the [`TunnelPlan`] from `providerConfiguration`, applies its network
/// settings, starts the [`TunnelCore`] on `packetFlow` and only then reports success.
/// Stop: flushes the engine into the database. Messages from the containing app
/// (`NETunnelProviderSession.sendProviderMessage`): `"status"` answers the core's
/// [`TunnelCore.Status`] as JSON.
open class PacketTunnelProvider: NEPacketTunnelProvider {
    public private(set) var core: TunnelCore?
    private let log = Logger(subsystem: "org.nightjar.tunnel", category: "provider")

    /// Monitor mode's upstream: the product's VPN transport. The default (nil) only
    /// observes, which is right for the test routes and nothing else.
    open func makeTransport(plan: TunnelPlan) -> PacketTransport? { nil }

    open override func startTunnel(options: [String: NSObject]?, completionHandler: @escaping (Error?) -> Void) {
        let plan: TunnelPlan
        let container: SharedContainer
        do {
            let config = (protocolConfiguration as? NETunnelProviderProtocol)?.providerConfiguration ?? [:]
            plan = try TunnelPlan(providerConfiguration: config)
            container = try SharedContainer(appGroup: plan.appGroup)
        } catch {
            log.error("bad configuration: \(String(describing: error), privacy: .public)")
            completionHandler(error)
            return
        }
        setTunnelNetworkSettings(plan.networkSettings()) { [weak self] error in
            guard let self else { return }
            if let error {
                completionHandler(error)
                return
            }
            let core = TunnelCore(plan: plan, container: container)
            do {
                try core.start(io: NEPacketFlowIO(self.packetFlow), transport: self.makeTransport(plan: plan))
            } catch {
                self.log.error("tunnel did not start: \(String(describing: error), privacy: .public)")
                completionHandler(error)
                return
            }
            self.core = core
            completionHandler(nil)
        }
    }

    open override func stopTunnel(with reason: NEProviderStopReason, completionHandler: @escaping () -> Void) {
        log.notice("stopping: reason \(reason.rawValue)")
        core?.stop()
        core = nil
        completionHandler()
    }

    open override func handleAppMessage(_ messageData: Data, completionHandler: ((Data?) -> Void)?) {
        guard String(data: messageData, encoding: .utf8) == "status", let core else {
            completionHandler?(nil)
            return
        }
        completionHandler?(try? JSONEncoder().encode(core.status()))
    }

    open override func sleep(completionHandler: @escaping () -> Void) {
        // Commit what is buffered: the device may not wake this process again for a while.
        _ = try? core?.currentEngine()?.commit(timeoutMs: 500)
        completionHandler()
    }
}
#endif

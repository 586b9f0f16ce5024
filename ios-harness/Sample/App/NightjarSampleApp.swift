import NetworkExtension
import NightjarTunnel
import SwiftUI

/// The containing app: installs the VPN configuration, starts the tunnel and shows the
/// extension's status. In the simulator, where iOS does not launch packet-tunnel
/// extensions, it runs the same `TunnelCore` in-process on synthetic packets instead, so the
/// UI test exercises the engine, the pump and the watchdog end to end.
@main
struct NightjarSampleApp: App {
    var body: some Scene {
        WindowGroup { ContentView() }
    }
}

enum SampleConfig {
    static let appGroup = "group.org.nightjar.sample"
    static let providerBundleId = "org.nightjar.sample.PacketTunnel"
}

final class TunnelController: ObservableObject {
    @Published var text = "stopped"
    @Published var running = false
    private var timer: Timer?
    #if targetEnvironment(simulator)
    private var core: TunnelCore?
    private var io: SyntheticTraffic?
    #else
    private var manager: NETunnelProviderManager?
    #endif

    func toggle() { running ? stop() : start() }

    #if targetEnvironment(simulator)
    func start() {
        do {
            let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            let container = try SharedContainer(root: dir.appendingPathComponent("Nightjar"))
            let core = TunnelCore(plan: TunnelPlan(appGroup: SampleConfig.appGroup), container: container)
            let io = SyntheticTraffic()
            try core.start(io: io, transport: nil)
            self.core = core
            self.io = io
            running = true
            pollStatus()
        } catch {
            text = "error: \(error)"
        }
    }

    func stop() {
        timer?.invalidate()
        io?.stop()
        core?.stop()
        core = nil
        running = false
        text = "stopped"
    }

    private func pollStatus() {
        timer = Timer.scheduledTimer(withTimeInterval: 0.5, repeats: true) { [weak self] _ in
            guard let s = self?.core?.status() else { return }
            self?.text = Self.describe(s, host: "in-process (simulator)")
        }
    }
    #else
    func start() {
        NETunnelProviderManager.loadAllFromPreferences { managers, error in
            let m = managers?.first ?? NETunnelProviderManager()
            let proto = NETunnelProviderProtocol()
            proto.providerBundleIdentifier = SampleConfig.providerBundleId
            proto.serverAddress = "Nightjar (on device)"
            proto.providerConfiguration = TunnelPlan(appGroup: SampleConfig.appGroup).providerConfiguration
            m.protocolConfiguration = proto
            m.localizedDescription = "Nightjar sample"
            m.isEnabled = true
            m.saveToPreferences { error in
                if let error { DispatchQueue.main.async { self.text = "error: \(error)" }; return }
                // Reload after saving, or the first start fails with "configuration invalid".
                m.loadFromPreferences { _ in
                    do {
                        try m.connection.startVPNTunnel()
                        DispatchQueue.main.async {
                            self.manager = m
                            self.running = true
                            self.pollStatus()
                        }
                    } catch {
                        DispatchQueue.main.async { self.text = "error: \(error)" }
                    }
                }
            }
        }
    }

    func stop() {
        timer?.invalidate()
        manager?.connection.stopVPNTunnel()
        running = false
        text = "stopped"
    }

    private func pollStatus() {
        timer = Timer.scheduledTimer(withTimeInterval: 1, repeats: true) { [weak self] _ in
            guard let session = self?.manager?.connection as? NETunnelProviderSession else { return }
            try? session.sendProviderMessage(Data("status".utf8)) { data in
                guard let data, let s = try? JSONDecoder().decode(TunnelCore.Status.self, from: data) else { return }
                DispatchQueue.main.async { self?.text = Self.describe(s, host: "extension") }
            }
        }
    }
    #endif

    static func describe(_ s: TunnelCore.Status, host: String) -> String {
        "running: \(host)\npackets: \(s.packets)\nflows: \(s.flowsCreated) (attributed \(s.flowsAttributed))\n" +
            "shed: \(s.pumpShed), engine errors: \(s.engineErrors), memory pressure: \(s.memoryPressure)"
    }
}

struct ContentView: View {
    @StateObject private var tunnel = TunnelController()

    var body: some View {
        VStack(alignment: .leading, spacing: 16) {
            Button(tunnel.running ? "Stop tunnel" : "Start tunnel") { tunnel.toggle() }
                .accessibilityIdentifier("start")
            Text(tunnel.text)
                .font(.system(.body, design: .monospaced))
                .accessibilityIdentifier("status")
            Spacer()
        }
        .padding()
    }
}

#if targetEnvironment(simulator)
/// Stands in for `packetFlow` in the simulator: UDP datagrams from two "apps" to the test
/// prefix, a few per read, as a phone's traffic would arrive.
final class SyntheticTraffic: TunnelPacketIO {
    private let queue = DispatchQueue(label: "synthetic")
    private var stopped = false
    private var port: UInt16 = 40000

    func readPackets(_ handler: @escaping ([TunnelPacket]) -> Void) {
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [weak self] in
            guard let self, !self.stopped else { return }
            self.port = self.port == 40009 ? 40000 : self.port + 1
            let app = self.port % 2 == 0 ? "com.example.weather" : "com.example.news"
            handler([TunnelPacket(data: Self.udp(sport: self.port), sourceApp: app)])
        }
    }

    func writePackets(_ packets: [Data]) {}

    func stop() { queue.sync { stopped = true } }

    static func udp(sport: UInt16) -> Data {
        let body = Array("nightjar sample".utf8)
        let udpLen = 8 + body.count
        let total = 20 + udpLen
        var b: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, 17, 0, 0,
                          198, 18, 0, 2, 198, 18, 0, 1]
        b += [UInt8(sport >> 8), UInt8(sport & 0xff), 0, 9, UInt8(udpLen >> 8), UInt8(udpLen & 0xff), 0, 0]
        b += body
        return Data(b)
    }
}
#endif

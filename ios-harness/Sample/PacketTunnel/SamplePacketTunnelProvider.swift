import NightjarTunnel

/// The extension's principal class (`NSExtensionPrincipalClass`, set in project.yml). A product
/// overrides `makeTransport(plan:)` here to hand monitor-mode packets to its VPN transport.
final class SamplePacketTunnelProvider: PacketTunnelProvider {}

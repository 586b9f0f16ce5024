package org.nightjar.vpn

import android.os.Bundle

/**
 * What the tunnel routes and how the engine runs.
 *
 * [Mode.MONITOR] observes packets that something else forwards: a product's own VPN
 * transport ([PacketTransport]), which carries them to its server. [Mode.RELAY] is the
 * local VPN: Nightjar's relay forwards the traffic itself through protected sockets (see
 * [VpnProtector]).
 *
 * [Routes.TEST_PREFIX] routes only 198.18.0.0/15 (RFC 2544 benchmarking space, never on the
 * internet) into the tunnel: the sample app and the instrumentation tests send to it, so the
 * tunnel runs in the emulator without taking the device's traffic and without any upstream.
 */
data class TunnelConfig(
    val mode: Mode = Mode.MONITOR,
    val routes: Routes = Routes.TEST_PREFIX,
    val mtu: Int = 1500,
    val sessionName: String = "Nightjar",
    /**
     * Relay mode only: refuse what an alert of this severity or above names (DNS answered
     * NXDOMAIN or sinkholed, the flow reset). null, the default, records and alerts only;
     * monitor mode forwards nothing, so it cannot block and ignores this.
     */
    val blockAt: BlockAt? = null,
) {
    enum class Mode { MONITOR, RELAY }

    /** Only the intel detections reach these levels. */
    enum class BlockAt { HIGH, CRITICAL }

    enum class Routes {
        /** 198.18.0.0/15 only. */
        TEST_PREFIX,

        /** Everything, IPv4 and IPv6 (needs a transport in monitor mode, or relay mode). */
        ALL,
    }

    fun toBundle() = Bundle().apply {
        putString(KEY_MODE, mode.name)
        putString(KEY_ROUTES, routes.name)
        putInt(KEY_MTU, mtu)
        putString(KEY_SESSION, sessionName)
        blockAt?.let { putString(KEY_BLOCK_AT, it.name) }
    }

    companion object {
        const val KEY_MODE = "org.nightjar.vpn.MODE"
        const val KEY_ROUTES = "org.nightjar.vpn.ROUTES"
        const val KEY_MTU = "org.nightjar.vpn.MTU"
        const val KEY_SESSION = "org.nightjar.vpn.SESSION"
        const val KEY_BLOCK_AT = "org.nightjar.vpn.BLOCK_AT"

        /** Unknown or missing values fall back to the defaults (always-on starts with no extras). */
        fun fromBundle(b: Bundle?): TunnelConfig {
            val d = TunnelConfig()
            if (b == null) return d
            return TunnelConfig(
                mode = runCatching { Mode.valueOf(b.getString(KEY_MODE) ?: "") }.getOrDefault(d.mode),
                routes = runCatching { Routes.valueOf(b.getString(KEY_ROUTES) ?: "") }.getOrDefault(d.routes),
                mtu = b.getInt(KEY_MTU, d.mtu).coerceIn(1280, 9000),
                sessionName = b.getString(KEY_SESSION) ?: d.sessionName,
                // An unknown level does not block: failing open beats cutting traffic off.
                blockAt = b.getString(KEY_BLOCK_AT)?.let { runCatching { BlockAt.valueOf(it) }.getOrNull() },
            )
        }
    }
}

/**
 * Monitor mode's upstream: the product's own VPN transport (WireGuard, IPsec, ...), which
 * carries device packets to its server and brings the replies back. The harness only
 * observes what crosses it.
 */
interface PacketTransport {
    /** Sends one device packet upstream. Must not block for long: it runs on the reader thread. */
    fun send(packet: ByteArray)

    /** Starts delivering packets from upstream to `deliver` (any thread). */
    fun start(deliver: (ByteArray) -> Unit)

    fun stop()
}

/** No upstream: packets are observed and then dropped. Only for routes nothing answers ([TunnelConfig.Routes.TEST_PREFIX]). */
object ObserveOnlyTransport : PacketTransport {
    override fun send(packet: ByteArray) = Unit
    override fun start(deliver: (ByteArray) -> Unit) = Unit
    override fun stop() = Unit
}

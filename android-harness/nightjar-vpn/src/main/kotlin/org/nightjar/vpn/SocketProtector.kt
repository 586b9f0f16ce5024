package org.nightjar.vpn

import android.net.VpnService
import java.net.DatagramSocket
import java.net.InetSocketAddress
import java.net.Socket
import org.nightjar.ffi.SocketProtector

/**
 * Relay mode's way out of the tunnel: the engine's relay opens its own sockets and passes
 * each descriptor to the bindings' `SocketProtector` before it connects; sockets that are not
 * protected would be routed back into the VPN (a loop). The bindings call it on the thread
 * that called `ingest`, with the engine lock held, so it only calls `VpnService.protect`.
 * [NightjarVpnService.createEngine] sets it before the first packet.
 */
class VpnProtector(private val service: VpnService) : SocketProtector {
    override fun protect(fd: Int): Boolean = service.protect(fd)
}

/**
 * A dialer for Kotlin-side connections that must bypass the tunnel (feed downloads, the
 * product's own upstream transport; the relay's sockets go through [VpnProtector] instead):
 * every socket is protected before it connects, and refused if protection fails.
 */
class ProtectingDialer(private val service: VpnService) {
    class NotProtected : java.io.IOException("VpnService.protect() refused the socket")

    fun tcp(remote: InetSocketAddress, timeoutMs: Int = 10_000): Socket {
        val s = Socket()
        try {
            if (!service.protect(s)) throw NotProtected()
            s.connect(remote, timeoutMs)
            return s
        } catch (e: Exception) {
            s.close()
            throw e
        }
    }

    fun udp(remote: InetSocketAddress): DatagramSocket {
        val s = DatagramSocket()
        try {
            if (!service.protect(s)) throw NotProtected()
            s.connect(remote)
            return s
        } catch (e: Exception) {
            s.close()
            throw e
        }
    }
}

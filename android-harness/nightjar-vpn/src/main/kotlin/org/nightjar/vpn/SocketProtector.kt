package org.nightjar.vpn

import android.net.VpnService
import java.net.DatagramSocket
import java.net.InetSocketAddress
import java.net.Socket

/**
 * Relay mode's way out of the tunnel. Sockets the relay opens must not be routed back into
 * the VPN (a loop), so each is passed to `VpnService.protect()` before it connects.
 *
 * PENDING BINDINGS: the bindings do not expose the relay yet (`Mode.RELAY` is refused with
 * `Unsupported`). The core relay (`nightjar-relay`) opens its own sockets and calls a
 * protect hook with each descriptor (`ProtectFn(fd) -> bool`), so the expected FFI shape is a
 * foreign callback `SocketProtector { fun protect(fd: Int): Boolean }` given to the engine.
 * This interface has that shape; once the generated bindings carry the callback, the
 * service passes [VpnProtector] to it (one line in [NightjarVpnService.createEngine]).
 */
interface SocketProtector {
    /** Exempts socket `fd` from the VPN; false means it would loop and must not be used. */
    fun protect(fd: Int): Boolean
}

/** [SocketProtector] backed by the running VpnService. */
class VpnProtector(private val service: VpnService) : SocketProtector {
    override fun protect(fd: Int): Boolean = service.protect(fd)
}

/**
 * A dialer for Kotlin-side connections that must bypass the tunnel (feed downloads, the
 * product's own upstream transport, and relay sockets until the Rust relay dials itself):
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

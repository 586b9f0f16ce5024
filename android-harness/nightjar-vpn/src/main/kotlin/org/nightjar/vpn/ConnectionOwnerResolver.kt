package org.nightjar.vpn

import android.net.ConnectivityManager
import android.os.Build
import android.os.Process
import android.os.SystemClock
import org.nightjar.ffi.AppResolver
import org.nightjar.ffi.FlowKey5
import org.nightjar.vpn.core.IpKey
import org.nightjar.vpn.core.ProcNet
import org.nightjar.vpn.core.ProcNetOwners
import java.io.File
import java.net.InetAddress
import java.net.InetSocketAddress

/**
 * Tells the engine which app owns a new flow. Called by Nightjar once per new flow on the
 * ingest thread (with the engine lock released), so it must be quick and must not throw.
 *
 * API 29+: `ConnectivityManager.getConnectionOwnerUid`, which only the app that owns the
 * active VPN may call, and only for TCP and UDP. Below 29: the `/proc/net` tables, re-read
 * at most every [procNetMaxAgeMs] (a new flow's socket is usually listed by then; a miss
 * re-reads once).
 */
class ConnectionOwnerResolver(
    private val connectivity: ConnectivityManager,
    private val procNetMaxAgeMs: Long = 500,
) : AppResolver {
    private var owners: ProcNetOwners? = null
    private var readAt = 0L

    override fun owner(flow: FlowKey5): UInt? = try {
        val proto = flow.protocol.toInt()
        if (proto != TCP && proto != UDP) {
            null
        } else if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            val uid = connectivity.getConnectionOwnerUid(
                proto,
                InetSocketAddress(literal(flow.localIp) ?: return null, flow.localPort.toInt()),
                InetSocketAddress(literal(flow.remoteIp) ?: return null, flow.remotePort.toInt()),
            )
            if (uid == Process.INVALID_UID) null else uid.toUInt()
        } else {
            fromProcNet(flow)
        }
    } catch (e: SecurityException) {
        // Not the active VPN (the tunnel is being torn down): nobody.
        null
    } catch (e: IllegalArgumentException) {
        null
    }

    @Synchronized
    private fun fromProcNet(flow: FlowKey5): UInt? {
        val local = IpKey.parse(flow.localIp) ?: return null
        val remote = IpKey.parse(flow.remoteIp) ?: return null
        fun lookup(o: ProcNetOwners) =
            o.owner(flow.protocol.toInt(), local, flow.localPort.toInt(), remote, flow.remotePort.toInt())
        val now = SystemClock.elapsedRealtime()
        val cached = owners
        if (cached != null && now - readAt <= procNetMaxAgeMs) {
            lookup(cached)?.let { return it.toUInt() }
        }
        val fresh = ProcNetOwners(
            TABLES.mapNotNull { (name, p) ->
                runCatching { ProcNet.parse(p, File("/proc/net/$name").readText()) }.getOrNull()
            },
        )
        owners = fresh
        readAt = now
        return lookup(fresh)?.toUInt()
    }

    /** An address literal (the engine only ever passes literals, so this never resolves a name). */
    private fun literal(s: String): InetAddress? = IpKey.parse(s)?.let { InetAddress.getByName(s) }

    private companion object {
        const val TCP = 6
        const val UDP = 17
        val TABLES = listOf(
            "tcp" to ProcNet.Protocol.TCP, "tcp6" to ProcNet.Protocol.TCP,
            "udp" to ProcNet.Protocol.UDP, "udp6" to ProcNet.Protocol.UDP,
        )
    }
}

package org.nightjar.vpn.core

/**
 * The socket tables of `/proc/net/{tcp,tcp6,udp,udp6}`: the owner lookup for Android below
 * API 29, where `ConnectivityManager.getConnectionOwnerUid` does not exist. (From API 29 on,
 * SELinux denies apps these files, which is why the API was added.)
 *
 * Each row is `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`; addresses are
 * hex words in the kernel's byte order (little-endian on every Android ABI: arm64, armv7,
 * x86, x86_64), ports big hex numbers. Malformed rows are skipped and counted, never thrown:
 * the file is read while the kernel changes it.
 */
object ProcNet {
    enum class Protocol(val number: Int) { TCP(6), UDP(17) }

    data class Socket(
        val protocol: Protocol,
        val localIp: IpKey,
        val localPort: Int,
        val remoteIp: IpKey,
        val remotePort: Int,
        /** The kernel's state code (TCP: 01 established, 0A listen, ...; UDP: 07 unconnected). */
        val state: Int,
        val uid: Int,
        val inode: Long,
    )

    data class Table(val sockets: List<Socket>, val malformedRows: Int)

    /** Parses one file's text; `text` includes the header line. */
    fun parse(protocol: Protocol, text: String): Table {
        val out = ArrayList<Socket>()
        var malformed = 0
        for ((n, line) in text.lineSequence().withIndex()) {
            if (n == 0 || line.isBlank()) continue // header
            val s = parseRow(protocol, line)
            if (s == null) malformed++ else out += s
        }
        return Table(out, malformed)
    }

    internal fun parseRow(protocol: Protocol, line: String): Socket? {
        val f = line.trim().split(WHITESPACE)
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if (f.size < 10 || !f[0].endsWith(":")) return null
        val (lip, lport) = endpoint(f[1]) ?: return null
        val (rip, rport) = endpoint(f[2]) ?: return null
        val state = f[3].toIntOrNull(16) ?: return null
        val uid = f[7].toLongOrNull() ?: return null
        if (uid < 0 || uid > 0xffffffffL) return null
        val inode = f[9].toLongOrNull() ?: return null
        return Socket(protocol, lip, lport, rip, rport, state, uid.toInt(), inode)
    }

    private fun endpoint(s: String): Pair<IpKey, Int>? {
        val colon = s.indexOf(':')
        if (colon < 0 || s.indexOf(':', colon + 1) >= 0) return null
        val addr = s.substring(0, colon)
        val port = s.substring(colon + 1).takeIf { it.length == 4 }?.toIntOrNull(16) ?: return null
        val ip = when (addr.length) {
            8 -> IpKey.ofV4(leWord(addr, 0) ?: return null)
            32 -> {
                val w = LongArray(4)
                for (i in 0 until 4) w[i] = leWord(addr, i * 8) ?: return null
                IpKey((w[0] shl 32) or w[1], (w[2] shl 32) or w[3])
            }
            else -> return null
        }
        return ip to port
    }

    /** A 32-bit word printed as 8 hex digits of a little-endian value: "0100007F" is 127.0.0.1. */
    private fun leWord(s: String, at: Int): Long? {
        val v = s.substring(at, at + 8).toLongOrNull(16) ?: return null
        return ((v and 0xff) shl 24) or (((v ushr 8) and 0xff) shl 16) or
            (((v ushr 16) and 0xff) shl 8) or ((v ushr 24) and 0xff)
    }

    private val WHITESPACE = Regex("\\s+")
}

/**
 * Finds the uid that owns a flow in parsed socket tables, the way the kernel would deliver it:
 * an exact 4-tuple match first (connected TCP and UDP sockets, IPv4 also through IPv4-mapped
 * rows of the v6 tables); for UDP then a socket bound to the local port with no peer
 * (`sendto` without `connect`), on the flow's local address or a wildcard one.
 */
class ProcNetOwners(tables: List<ProcNet.Table>) {
    private val sockets = tables.flatMap { it.sockets }

    fun owner(protocol: Int, localIp: IpKey, localPort: Int, remoteIp: IpKey, remotePort: Int): Int? {
        val proto = ProcNet.Protocol.entries.firstOrNull { it.number == protocol } ?: return null
        val candidates = sockets.filter { it.protocol == proto && it.localPort == localPort }
        candidates.firstOrNull {
            it.localIp == localIp && it.remoteIp == remoteIp && it.remotePort == remotePort
        }?.let { return it.uid }
        if (proto != ProcNet.Protocol.UDP) return null
        return candidates.firstOrNull {
            it.remotePort == 0 && it.remoteIp.isUnspecified &&
                (it.localIp == localIp || it.localIp.isUnspecified)
        }?.uid
    }
}

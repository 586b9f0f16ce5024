package org.nightjar.vpn.core

/**
 * An IP address as 16 bytes (IPv4 as IPv4-mapped IPv6, `::ffff:a.b.c.d`), so an IPv4 flow
 * matches a socket the kernel lists in `/proc/net/tcp6` with a mapped address.
 *
 * Parsing is literal-only: unlike `InetAddress.getByName`, a string that is not an address
 * literal is refused and never triggers a DNS lookup (the resolver callback runs on the
 * packet path).
 */
data class IpKey(val hi: Long, val lo: Long) {
    val isV4Mapped: Boolean get() = hi == 0L && (lo ushr 32) == 0xffffL
    val isUnspecified: Boolean get() = (hi == 0L && lo == 0L) || (isV4Mapped && (lo and 0xffffffffL) == 0L)

    override fun toString(): String = if (isV4Mapped) {
        val v = lo and 0xffffffffL
        "${v ushr 24}.${(v ushr 16) and 0xff}.${(v ushr 8) and 0xff}.${v and 0xff}"
    } else {
        (0 until 8).joinToString(":") { i ->
            val word = if (i < 4) hi ushr (48 - 16 * i) else lo ushr (48 - 16 * (i - 4))
            (word and 0xffff).toString(16)
        }
    }

    companion object {
        val V4_UNSPECIFIED = IpKey(0L, 0xffffL shl 32)
        val V6_UNSPECIFIED = IpKey(0L, 0L)

        fun ofV4(v4: Long): IpKey = IpKey(0L, (0xffffL shl 32) or (v4 and 0xffffffffL))

        /** Parses a dotted IPv4 or an RFC 4291 IPv6 literal (with `::`, embedded IPv4, no zone). */
        fun parse(literal: String): IpKey? = if (':' in literal) parseV6(literal) else parseV4(literal)?.let(::ofV4)

        private fun parseV4(s: String): Long? {
            val parts = s.split('.')
            if (parts.size != 4) return null
            var v = 0L
            for (p in parts) {
                if (p.isEmpty() || p.length > 3 || !p.all { it in '0'..'9' }) return null
                val n = p.toInt()
                if (n > 255) return null
                v = (v shl 8) or n.toLong()
            }
            return v
        }

        private fun parseV6(s: String): IpKey? {
            if (s.count { it == '%' } > 0) return null
            val halves = s.split("::")
            if (halves.size > 2) return null
            val head = words(halves[0]) ?: return null
            val tail = if (halves.size == 2) words(halves[1]) ?: return null else emptyList()
            val all: List<Int> = if (halves.size == 2) {
                val fill = 8 - head.size - tail.size
                if (fill < 1) return null
                head + List(fill) { 0 } + tail
            } else {
                head
            }
            if (all.size != 8) return null
            var hi = 0L
            var lo = 0L
            for (i in 0 until 4) hi = (hi shl 16) or all[i].toLong()
            for (i in 4 until 8) lo = (lo shl 16) or all[i].toLong()
            return IpKey(hi, lo)
        }

        /** The 16-bit words of one side of `::`; a trailing dotted quad counts as two words. */
        private fun words(s: String): List<Int>? {
            if (s.isEmpty()) return emptyList()
            val groups = s.split(':')
            val out = ArrayList<Int>(8)
            for ((i, g) in groups.withIndex()) {
                if (i == groups.lastIndex && '.' in g) {
                    val v4 = parseV4(g) ?: return null
                    out += ((v4 ushr 16) and 0xffff).toInt()
                    out += (v4 and 0xffff).toInt()
                } else {
                    if (g.isEmpty() || g.length > 4) return null
                    out += g.toIntOrNull(16) ?: return null
                }
            }
            return out
        }
    }
}

package org.nightjar.vpn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assume.assumeTrue
import org.junit.Test
import java.io.File
import java.net.DatagramSocket
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket

class IpKeyTest {
    @Test
    fun parsesV4AsMapped() {
        val k = IpKey.parse("192.0.2.7")!!
        assertTrue(k.isV4Mapped)
        assertEquals("192.0.2.7", k.toString())
        assertEquals(k, IpKey.parse("::ffff:192.0.2.7"))
        assertEquals(k, IpKey.parse("0:0:0:0:0:ffff:c000:207"))
    }

    @Test
    fun parsesV6Forms() {
        assertEquals(IpKey(0x20010db8_00000000L, 1L), IpKey.parse("2001:db8::1"))
        assertEquals(IpKey(0L, 1L), IpKey.parse("::1"))
        assertEquals(IpKey.V6_UNSPECIFIED, IpKey.parse("::"))
        assertEquals("2001:db8:0:0:0:0:0:1", IpKey.parse("2001:db8::1").toString())
        assertEquals(IpKey.parse("fe80::"), IpKey.parse("fe80:0:0:0:0:0:0:0"))
    }

    @Test
    fun refusesWhatIsNotALiteral() {
        for (s in listOf("", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01234.1.1.1", "example.com", "1::2::3",
            "fe80::1%wlan0", "12345::", ":::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "g::1", "1.2.3.-4")) {
            assertNull("accepted '$s'", IpKey.parse(s))
        }
    }

    @Test
    fun agreesWithTheJdkOnValidLiterals() {
        for (s in listOf("10.1.2.3", "::ffff:10.1.2.3", "2001:db8:1:2:3:4:5:6", "ff02::fb", "64:ff9b::198.51.100.1")) {
            val jdk = InetAddress.getByName(s).address
            val bytes = if (jdk.size == 4) ByteArray(10) + byteArrayOf(-1, -1) + jdk else jdk
            var hi = 0L
            var lo = 0L
            for (i in 0 until 8) hi = (hi shl 8) or (bytes[i].toLong() and 0xff)
            for (i in 8 until 16) lo = (lo shl 8) or (bytes[i].toLong() and 0xff)
            assertEquals(s, IpKey(hi, lo), IpKey.parse(s))
        }
    }
}

class ProcNetTest {
    // Rows as a Linux/Android kernel prints them (little-endian address words).
    private val tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41311 1 0000000000000000 100 0 0 10 0
           1: 0F02000A:A2C4 22D8B85D:01BB 01 00000000:00000000 02:000A7B2D 00000000 10123        0 52210 2 0000000000000000 20 4 30 10 -1
    """.trimIndent()

    private val tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0000000000000000FFFF00000F02000A:B00C 0000000000000000FFFF0000016433C6:0050 01 00000000:00000000 00:00000000 00000000 10145        0 61102 1 0000000000000000 20 4 0 10 -1
           1: B80D0120000000000000000001000000:D431 B80D0120000000000000000002000000:01BB 01 00000000:00000000 00:00000000 00000000 10150        0 61200 1 0000000000000000 20 4 0 10 -1
    """.trimIndent()

    private val udp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
          12: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000 10077        0 33001 2 0000000000000000 0
          13: 0F02000A:9C40 08080808:0035 01 00000000:00000000 00:00000000 00000000 10088        0 33002 2 0000000000000000 0
    """.trimIndent()

    @Test
    fun decodesAddressesPortsStateAndUid() {
        val t = ProcNet.parse(ProcNet.Protocol.TCP, tcp)
        assertEquals(0, t.malformedRows)
        assertEquals(2, t.sockets.size)
        val listen = t.sockets[0]
        assertEquals("127.0.0.1", listen.localIp.toString())
        assertEquals(8080, listen.localPort)
        assertEquals(0x0A, listen.state)
        assertEquals(1000, listen.uid)
        assertEquals(41311L, listen.inode)
        val est = t.sockets[1]
        assertEquals("10.0.2.15", est.localIp.toString())
        assertEquals(41668, est.localPort)
        assertEquals("93.184.216.34", est.remoteIp.toString())
        assertEquals(443, est.remotePort)
        assertEquals(10123, est.uid)
    }

    @Test
    fun decodesV6RowsIncludingMappedV4() {
        val t = ProcNet.parse(ProcNet.Protocol.TCP, tcp6)
        assertEquals(0, t.malformedRows)
        assertEquals("10.0.2.15", t.sockets[0].localIp.toString())
        assertEquals("198.51.100.1", t.sockets[0].remoteIp.toString())
        assertEquals(IpKey.parse("2001:db8::1"), t.sockets[1].localIp)
        assertEquals(IpKey.parse("2001:db8::2"), t.sockets[1].remoteIp)
    }

    @Test
    fun findsOwnersExactlyThenByUdpWildcard() {
        val owners = ProcNetOwners(
            listOf(
                ProcNet.parse(ProcNet.Protocol.TCP, tcp),
                ProcNet.parse(ProcNet.Protocol.TCP, tcp6),
                ProcNet.parse(ProcNet.Protocol.UDP, udp),
            ),
        )
        fun ip(s: String) = IpKey.parse(s)!!
        assertEquals(10123, owners.owner(6, ip("10.0.2.15"), 41668, ip("93.184.216.34"), 443))
        // IPv4 flow owned by a dual-stack socket listed in tcp6.
        assertEquals(10145, owners.owner(6, ip("10.0.2.15"), 45068, ip("198.51.100.1"), 80))
        assertEquals(10150, owners.owner(6, ip("2001:db8::1"), 54321, ip("2001:db8::2"), 443))
        // Connected UDP socket: exact match.
        assertEquals(10088, owners.owner(17, ip("10.0.2.15"), 40000, ip("8.8.8.8"), 53))
        // Unconnected UDP socket bound to 0.0.0.0:5353 sends to anyone.
        assertEquals(10077, owners.owner(17, ip("10.0.2.15"), 5353, ip("224.0.0.251"), 5353))
        // TCP never matches a listener by port alone; wrong peer, unknown protocol: nobody.
        assertNull(owners.owner(6, ip("127.0.0.1"), 8080, ip("127.0.0.1"), 50000))
        assertNull(owners.owner(6, ip("10.0.2.15"), 41668, ip("93.184.216.35"), 443))
        assertNull(owners.owner(1, ip("10.0.2.15"), 0, ip("8.8.8.8"), 0))
    }

    @Test
    fun countsMalformedRowsAndNeverThrows() {
        val t = ProcNet.parse(
            ProcNet.Protocol.TCP,
            "header\n 0: zz:1F90 00000000:0000 0A 0:0 0:0 0 1000 0 1\n 1: 0100007F:1F90\n" +
                " 2: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 -5 0 1\n",
        )
        assertEquals(0, t.sockets.size)
        assertEquals(3, t.malformedRows)
        // Every prefix and every single-byte change of a valid table parses without throwing.
        for (n in 0..tcp.length) ProcNet.parse(ProcNet.Protocol.TCP, tcp.substring(0, n))
        val chars = "0123456789ABCDEF: xg-\n"
        for (i in tcp.indices) for (c in chars) {
            ProcNet.parse(ProcNet.Protocol.TCP, tcp.substring(0, i) + c + tcp.substring(i + 1))
        }
    }

    /** The real kernel's tables on this host (Linux only): our own sockets must be found as ours. */
    @Test
    fun findsThisProcessSocketsInTheLiveKernelTables() {
        val procTcp = File("/proc/net/tcp")
        assumeTrue("SKIPPED: no /proc/net (not Linux)", procTcp.canRead())
        val myUid = File("/proc/self/status").readLines().first { it.startsWith("Uid:") }
            .split(Regex("\\s+"))[1].toInt()
        ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")).use { server ->
            Socket().use { client ->
                client.connect(InetSocketAddress("127.0.0.1", server.localPort))
                server.accept().use {
                    DatagramSocket(0, InetAddress.getByName("127.0.0.1")).use { udpSock ->
                        val tables = listOf("tcp" to ProcNet.Protocol.TCP, "tcp6" to ProcNet.Protocol.TCP,
                            "udp" to ProcNet.Protocol.UDP, "udp6" to ProcNet.Protocol.UDP)
                            .mapNotNull { (f, p) -> File("/proc/net/$f").takeIf { it.canRead() }?.let { ProcNet.parse(p, it.readText()) } }
                        assertTrue(tables.all { it.malformedRows == 0 })
                        val owners = ProcNetOwners(tables)
                        val lo = IpKey.parse("127.0.0.1")!!
                        val tcpOwner = owners.owner(6, lo, client.localPort, lo, server.localPort)
                        assertNotNull("client socket not found in /proc/net/tcp{,6}", tcpOwner)
                        assertEquals(myUid, tcpOwner)
                        assertEquals(myUid, owners.owner(17, lo, udpSock.localPort, lo, 9))
                    }
                }
            }
        }
    }
}

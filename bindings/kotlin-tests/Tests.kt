// Host tests of the Kotlin bindings, run on the JVM against the host cdylib (see run.sh).
// They cover the bindings, not the engine's logic: every exported function, the callbacks
// arriving from Rust threads, every error variant, a caught panic, relay mode answering a SYN
// to a local socket, and a capture replayed through `ingest` compared with what
// `nightjar replay --json` says about the same file.

import org.nightjar.ffi.*
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

var passed = 0
var failed = 0

fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("PASS $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    }
}

fun check(cond: Boolean, msg: () -> String = { "check failed" }) {
    if (!cond) throw AssertionError(msg())
}

inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

val tmp: File = File(System.getProperty("nightjar.tmp") ?: System.getProperty("java.io.tmpdir"))

fun settings(db: File? = null, caps: MemoryCaps = defaultMemoryCaps(), mode: Mode = Mode.MONITOR) =
    EngineSettings(db?.path, null, mode, caps, 0x5eed_1234UL)

// ---- a minimal pcap reader: 24-byte header, 16-byte record headers, Ethernet or raw IP ----

data class Frame(val tsUs: Long, val ip: ByteArray)

fun readPcap(file: File): List<Frame> {
    val buf = ByteBuffer.wrap(file.readBytes())
    val magic = buf.order(ByteOrder.LITTLE_ENDIAN).getInt(0)
    val order = when (magic) {
        0xa1b2c3d4.toInt(), 0xa1b23c4d.toInt() -> ByteOrder.LITTLE_ENDIAN
        else -> ByteOrder.BIG_ENDIAN
    }
    buf.order(order)
    val nanos = buf.getInt(0) == 0xa1b23c4d.toInt()
    val link = buf.getInt(20)
    val strip = when (link) {
        1 -> 14      // Ethernet
        101, 12 -> 0 // raw IP
        113 -> 16    // Linux cooked
        else -> throw IllegalArgumentException("link type $link")
    }
    val frames = mutableListOf<Frame>()
    var off = 24
    while (off + 16 <= buf.limit()) {
        val sec = buf.getInt(off).toLong() and 0xffffffffL
        val frac = buf.getInt(off + 4).toLong() and 0xffffffffL
        val incl = buf.getInt(off + 8)
        val start = off + 16
        if (start + incl > buf.limit()) break
        if (incl > strip) {
            val bytes = ByteArray(incl - strip)
            System.arraycopy(buf.array(), start + strip, bytes, 0, bytes.size)
            frames.add(Frame(sec * 1_000_000 + if (nanos) frac / 1000 else frac, bytes))
        }
        off = start + incl
    }
    return frames
}

fun srcIp(ip: ByteArray): String = when (ip[0].toInt() shr 4) {
    4 -> java.net.InetAddress.getByAddress(ip.copyOfRange(12, 16)).hostAddress
    else -> java.net.InetAddress.getByAddress(ip.copyOfRange(8, 24)).hostAddress
}

// ---- synthetic packets built here (no fixture bytes in the repository) ----

fun checksum(b: ByteArray, from: Int, len: Int): Int {
    var sum = 0L
    var i = from
    while (i < from + len - 1) { sum += ((b[i].toInt() and 0xff) shl 8) or (b[i + 1].toInt() and 0xff); i += 2 }
    if (len % 2 == 1) sum += (b[from + len - 1].toInt() and 0xff) shl 8
    while (sum shr 16 != 0L) sum = (sum and 0xffff) + (sum shr 16)
    return (sum.inv() and 0xffff).toInt()
}

/** An IPv4/UDP packet from 10.0.0.2:sport to 192.0.2.dst:dport (checksum left 0: optional). */
fun udp(sport: Int, dport: Int, dst: Int, payload: ByteArray = ByteArray(8) { it.toByte() }, reverse: Boolean = false): ByteArray {
    val p = ByteArray(28 + payload.size)
    val len = p.size
    p[0] = 0x45; p[2] = (len shr 8).toByte(); p[3] = len.toByte(); p[8] = 64; p[9] = 17
    val a = byteArrayOf(10, 0, 0, 2); val b = byteArrayOf(192.toByte(), 0, 2, dst.toByte())
    System.arraycopy(if (reverse) b else a, 0, p, 12, 4); System.arraycopy(if (reverse) a else b, 0, p, 16, 4)
    val c = checksum(p, 0, 20); p[10] = (c shr 8).toByte(); p[11] = c.toByte()
    val (s, d) = if (reverse) dport to sport else sport to dport
    p[20] = (s shr 8).toByte(); p[21] = s.toByte(); p[22] = (d shr 8).toByte(); p[23] = d.toByte()
    val ul = 8 + payload.size; p[24] = (ul shr 8).toByte(); p[25] = ul.toByte()
    System.arraycopy(payload, 0, p, 28, payload.size)
    return p
}

/** An IPv4 TCP SYN (with an MSS option) from 10.111.0.2:sport to 127.0.0.1:dport, checksums set. */
fun tcpSyn(sport: Int, dport: Int, seq: Int): ByteArray {
    val p = ByteArray(44)
    p[0] = 0x45; p[3] = 44; p[8] = 64; p[9] = 6
    System.arraycopy(byteArrayOf(10, 111, 0, 2), 0, p, 12, 4)
    System.arraycopy(byteArrayOf(127, 0, 0, 1), 0, p, 16, 4)
    val c = checksum(p, 0, 20); p[10] = (c shr 8).toByte(); p[11] = c.toByte()
    p[20] = (sport shr 8).toByte(); p[21] = sport.toByte(); p[22] = (dport shr 8).toByte(); p[23] = dport.toByte()
    for (i in 0 until 4) p[24 + i] = (seq shr (24 - 8 * i)).toByte()
    p[32] = 0x60; p[33] = 0x02; p[34] = 0xff.toByte(); p[35] = 0xff.toByte()
    p[40] = 2; p[41] = 4; p[42] = 0x05; p[43] = 0xb4.toByte()
    val pseudo = ByteArray(12 + 24)
    System.arraycopy(p, 12, pseudo, 0, 8); pseudo[9] = 6; pseudo[11] = 24
    System.arraycopy(p, 20, pseudo, 12, 24)
    val t = checksum(pseudo, 0, pseudo.size); p[36] = (t shr 8).toByte(); p[37] = t.toByte()
    return p
}

/** An IPv4/UDP DNS query for the A record of `name` from 10.111.0.2:sport to 10.111.0.53:53, id = sport. */
fun dnsQuery(sport: Int, name: String): ByteArray {
    val q = java.io.ByteArrayOutputStream()
    q.write(byteArrayOf((sport shr 8).toByte(), sport.toByte(), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    for (label in name.split('.')) { q.write(label.length); q.write(label.toByteArray()) }
    q.write(byteArrayOf(0, 0, 1, 0, 1))
    val payload = q.toByteArray()
    val p = udp(sport, 53, 0, payload)
    System.arraycopy(byteArrayOf(10, 111, 0, 2), 0, p, 12, 4)
    System.arraycopy(byteArrayOf(10, 111, 0, 53), 0, p, 16, 4)
    p[10] = 0; p[11] = 0
    val c = checksum(p, 0, 20); p[10] = (c shr 8).toByte(); p[11] = c.toByte()
    return p
}

/** Asks relay-mode `e` for `name` over UDP; the answer's rcode and its A address (the last record), if any. */
fun askDns(e: NightjarEngine, sport: Int, name: String): Pair<Int, String?> {
    var out = e.ingest(listOf(Packet(dnsQuery(sport, name), true, 0UL))).toTunnel
    val deadline = System.nanoTime() + 20_000_000_000L
    while (System.nanoTime() < deadline) {
        for (p in out) {
            if (p[9].toInt() != 17 || be16(p, 22) != sport) continue
            val dns = p.copyOfRange(28, p.size)
            check(be16(dns, 0) == sport) { "answer id" }
            val rcode = dns[3].toInt() and 0x0f
            val addr = if (be16(dns, 6) > 0) java.net.InetAddress.getByAddress(p.copyOfRange(p.size - 4, p.size)).hostAddress else null
            return rcode to addr
        }
        Thread.sleep(10)
        out = e.poll(0UL)
    }
    throw AssertionError("no answer for $name")
}

fun be16(b: ByteArray, at: Int) = ((b[at].toInt() and 0xff) shl 8) or (b[at + 1].toInt() and 0xff)
fun be32(b: ByteArray, at: Int) = (be16(b, at) shl 16) or be16(b, at + 2)

fun syntheticAlert(ts: ULong) = Alert(
    0UL, ts, AlertSeverity.HIGH, 0.8f, AlertState.NEW, 10_100u, "synthetic.test",
    listOf("192.0.2.9"), listOf(), "synthetic", listOf("T1637.001"),
    listOf(AlertSignal("test_signal", 2.0, 0.5)), "{\"feed\":\"kotlin\"}", false, AlertAction.BLOCK,
    AlertEnforcement.TCP_RESET,
)

fun main() {
    val fixtures = File(System.getProperty("nightjar.fixtures") ?: "")
    val cliJson = System.getProperty("nightjar.cliJson")?.let { File(it) }

    test("generated bindings are up to date") {
        val stale = System.getProperty("nightjar.generatedStale") ?: "unknown"
        check(stale == "false") { "bindings/generated differs from a fresh generation (run bindings/generate.sh): $stale" }
    }

    test("free functions: version, caps, logging") {
        check(nightjarVersion().isNotEmpty())
        val caps = defaultMemoryCaps()
        check(caps.maxFlows > 0UL && caps.maxEvents > 0UL && caps.maxInspectionBytes > 0UL)
        initLogging(LogLevel.WARN)
        initLogging(LogLevel.ERROR) // a second call only changes the level
    }

    test("ingest, stats, memory, poll on a monitor engine") {
        NightjarEngine(settings()).use { e ->
            check(e.isUsable())
            val out = udp(40000, 9999, 1)
            val back = udp(40000, 9999, 1, reverse = true)
            val r = e.ingest(listOf(Packet(out, true, 1_000_000UL), Packet(back, false, 1_000_100UL), Packet(ByteArray(3), true, 1_000_200UL)))
            check(r.verdicts.size == 3)
            check(r.verdicts.all { it.action == Action.PASS })
            check(r.toTunnel.isEmpty())
            check(r.verdicts[0].isNew && r.verdicts[0].flowId != null)
            check(!r.verdicts[1].isNew && r.verdicts[1].flowId == r.verdicts[0].flowId)
            check(r.verdicts[2].flowId == null) { "3 bytes make no flow" }
            val s = e.stats()
            check(s.packets == 3UL && s.packetsInFlows == 2UL) { "$s" }
            check(s.noFlow.sumOf { it.packets } == 1UL)
            check(s.liveFlows == 1UL && s.writer == null)
            val m = e.memory()
            check(m.flowTable <= m.flowTableCap && m.total > 0UL)
            e.poll(1_000_000UL + 3_600_000_000UL) // an hour later the UDP flow has expired
            check(e.stats().liveFlows == 0UL)
        }
    }

    test("ingestBatch: one buffer, lengths and directions, verdicts as ingest gives them") {
        NightjarEngine(settings()).use { e ->
            val pk = listOf(udp(40000, 9999, 1), udp(40000, 9999, 1, reverse = true), ByteArray(3))
            val buf = ByteBuffer.allocate(pk.sumOf { it.size })
            pk.forEach { buf.put(it) }
            val r = e.ingestBatch(buf.array(), pk.map { it.size.toUInt() }, listOf(true, false, true), 1_000_000UL)
            check(r.verdicts.size == 3 && r.verdicts.all { it.action == Action.PASS })
            check(r.verdicts[0].isNew && r.verdicts[1].flowId == r.verdicts[0].flowId)
            check(r.verdicts[2].flowId == null) { "3 bytes make no flow" }
            check(e.stats().packets == 3UL)
            expectThrows<NightjarException.InvalidArgument> {
                e.ingestBatch(buf.array(), listOf(1u), listOf(true), 0UL)
            }
            expectThrows<NightjarException.InvalidArgument> {
                e.ingestBatch(buf.array(), pk.map { it.size.toUInt() }, listOf(true), 0UL)
            }
            check(e.stats().packets == 3UL) { "a refused batch ingests nothing" }
        }
    }

    test("app resolver is called from the ingesting thread with the device-side 5-tuple") {
        NightjarEngine(settings()).use { e ->
            val seen = LinkedBlockingQueue<Pair<FlowKey5, String>>()
            e.setAppResolver(object : AppResolver {
                override fun owner(flow: FlowKey5): UInt? {
                    seen.add(flow to Thread.currentThread().name)
                    return if (flow.remotePort.toInt() == 443) 10_055u else null
                }
            })
            var thread = ""
            val t = Thread({
                thread = Thread.currentThread().name
                e.ingest(listOf(Packet(udp(5555, 443, 7), true, 5UL), Packet(udp(5556, 53, 8), true, 6UL), Packet(udp(5556, 53, 8, reverse = true), false, 7UL)))
            }, "packet-thread")
            t.start(); t.join()
            check(seen.size == 2) { "one call per new flow: $seen" }
            val (k, name) = seen.take()
            check(name == "packet-thread" && thread == "packet-thread")
            check(k.protocol.toInt() == 17 && k.localIp == "10.0.0.2" && k.localPort.toInt() == 5555)
            check(k.remoteIp == "192.0.2.7" && k.remotePort.toInt() == 443) { "$k" }
            check(e.stats().flowsAttributed == 1UL)
            // A resolver that throws is counted; the engine stays usable.
            e.setAppResolver(object : AppResolver {
                override fun owner(flow: FlowKey5): UInt? = throw IllegalStateException("resolver bug")
            })
            e.ingest(listOf(Packet(udp(6000, 80, 9), true, 8UL)))
            check(e.isUsable())
            e.setAppResolver(null)
        }
    }

    test("alert listener receives synthetic alerts on the nightjar-alerts thread; alerts are stored") {
        val db = File(tmp, "alerts.db")
        NightjarEngine(settings(db)).use { e ->
            val got = LinkedBlockingQueue<Pair<Alert, String>>()
            e.setAlertListener(object : AlertListener {
                override fun onAlert(alert: Alert) { got.add(alert to Thread.currentThread().name) }
            })
            e.debugDeliverAlert(syntheticAlert(1_700_000_000_000_000UL))
            e.debugDeliverAlert(syntheticAlert(1_700_000_000_000_001UL))
            val (a1, t1) = got.poll(10, TimeUnit.SECONDS) ?: throw AssertionError("no alert")
            val (a2, t2) = got.poll(10, TimeUnit.SECONDS) ?: throw AssertionError("no second alert")
            // JNA attaches the Rust thread afresh for each callback and names it "Thread-N", so the
            // name cannot be compared with "nightjar-alerts" (the Rust tests do that); what shows
            // here is that delivery is not on the caller's thread.
            val me = Thread.currentThread().name
            check(t1 != me && t2 != me) { "$t1 $t2" }
            check(a1 == syntheticAlert(1_700_000_000_000_000UL) && a2.tsUs == 1_700_000_000_000_001UL)
            check(e.commit(5000u))
            val page = e.queryAlerts(QueryFilter(), null, 1u)
            check(page.items.size == 1 && page.nextCursor != null)
            val rest = e.queryAlerts(QueryFilter(), page.nextCursor, 10u)
            check(rest.items.size == 1 && rest.nextCursor == null)
            val newest = page.items[0]
            check(newest.domain == "synthetic.test" && newest.ips == listOf("192.0.2.9") && newest.signals.size == 1)
            check(e.setAlertState(newest.id, AlertState.RESOLVED))
            check(e.queryAlerts(QueryFilter(state = AlertState.RESOLVED), null, 10u).items.size == 1)
            check(e.stats().alertsDelivered == 2UL)
            e.setAlertListener(null)
            e.shutdown()
        }
    }

    test("feeds compile; reload_intel swaps the index; check_domain and check_ip answer") {
        val block = File(tmp, "block.hosts").apply { writeText("0.0.0.0 c2.bad-example.org\n0.0.0.0 ads.bad-example.net\n0.0.0.0 x.bad-example.com\n") }
        val allow = File(tmp, "allow.hosts").apply { writeText("0.0.0.0 ok.c2.bad-example.org\n") }
        val out = File(tmp, "intel.idx")
        val rep = compileFeeds(listOf("kt=${block.path}"), listOf(allow.path), out.path)
        check(rep.feeds.size == 2 && rep.feeds[0].name == "kt" && rep.feeds[0].accepted == 3UL && rep.feeds[1].allow)
        check(rep.domainEntries >= 4UL && rep.fileBytes > 0UL)
        NightjarEngine(EngineSettings(null, out.path, Mode.MONITOR, defaultMemoryCaps(), 1UL)).use { e ->
            val v = e.checkDomain("www.c2.bad-example.org", 0UL)
            check(v.outcome == IntelOutcome.BLOCKED && v.indicator == "c2.bad-example.org" && v.feed == "kt") { "$v" }
            check(e.checkDomain("ok.c2.bad-example.org", 0UL).outcome == IntelOutcome.ALLOWED)
            check(e.checkIp("192.0.2.1", 0UL).outcome == IntelOutcome.CLEAN)
            block.writeText("0.0.0.0 ads.bad-example.net\n")
            compileFeeds(listOf(block.path), listOf(), out.path)
            e.reloadIntel(out.path)
            check(e.checkDomain("www.c2.bad-example.org", 0UL).outcome == IntelOutcome.CLEAN)
            check(e.checkDomain("ads.bad-example.net", 0UL).outcome == IntelOutcome.BLOCKED)
        }
    }

    test("every error variant reaches Kotlin as a typed exception") {
        // An encrypted DNS upstream without the certificate's name is refused.
        val tlsDns = defaultRelaySettings().copy(dnsAddress = "10.111.0.53", dnsUpstream = "tls://192.0.2.1:853")
        expectThrows<NightjarException.InvalidConfig> { NightjarEngine(settings(mode = Mode.RELAY).copy(relay = tlsDns)) }
        expectThrows<NightjarException.InvalidConfig> { NightjarEngine(settings(caps = defaultMemoryCaps().copy(maxFlows = 0UL))) }
        File(tmp, "garbage.idx").writeText("not an index")
        // Fail open: a damaged index or an unopenable database still gives an engine; the calls
        // that need them throw Intel / Store.
        NightjarEngine(EngineSettings(null, File(tmp, "garbage.idx").path, Mode.MONITOR, defaultMemoryCaps(), 1UL)).use { e ->
            expectThrows<NightjarException.Intel> { e.reloadIntel(File(tmp, "garbage.idx").path) }
        }
        NightjarEngine(settings(File(tmp, "no/such/dir/x.db"))).use { e ->
            expectThrows<NightjarException.Store> { e.queryFlows(QueryFilter(), null, 10u) }
        }
        NightjarEngine(settings()).use { e ->
            expectThrows<NightjarException.NoDatabase> { e.queryFlows(QueryFilter(), null, 10u) }
            expectThrows<NightjarException.Intel> { e.checkDomain("example.org", 0UL) }
            expectThrows<NightjarException.Io> { e.reloadIntel(File(tmp, "missing.idx").path) }
        }
        NightjarEngine(settings(File(tmp, "errors.db"))).use { e ->
            expectThrows<NightjarException.InvalidArgument> { e.queryFlows(QueryFilter(), "not-a-cursor", 10u) }
            expectThrows<NightjarException.InvalidArgument> { e.queryDns(QueryFilter(ip = "999.0.0.1"), null, 10u) }
            expectThrows<NightjarException.InvalidArgument> { e.export(ExportFormat.CSV, ExportTable.TLS, QueryFilter(), File(tmp, "x").path) }
            expectThrows<NightjarException.Io> { e.export(ExportFormat.CSV, ExportTable.FLOWS, QueryFilter(), File(tmp, "no/dir/x.csv").path) }
            e.shutdown()
            check(!e.isUsable())
            expectThrows<NightjarException.EngineUnusable> { e.stats() }
        }
    }

    test("health: faults are reported to Kotlin while packets pass, and the engine recovers") {
        File(tmp, "health.nji").writeText("garbage, not an index")
        val st = EngineSettings(File(tmp, "health.db").path, File(tmp, "health.nji").path, Mode.MONITOR, defaultMemoryCaps(), 7UL)
        NightjarEngine(st).use { e ->
            var h = e.health()
            check(h.intel == IntelHealth.CORRUPT && h.intelLoadFailures == 1UL) { "$h" }
            check(h.store == StoreHealth.HEALTHY && h.storeFault == null) { "$h" }
            check(e.debugKillStoreWriter())
            var ts = 1_000_000UL
            for (i in 0 until 50) {
                val r = e.ingest(listOf(Packet(udp(40000 + i, 9999, 1), true, ts)))
                check(r.verdicts.all { it.action == Action.PASS })
                ts += 1_000UL
            }
            e.poll(ts + 3_600_000_000UL)
            h = e.health()
            check(h.store == StoreHealth.UNAVAILABLE && h.storeFault == StoreFault.WRITER_GONE) { "$h" }
            check(h.storeRowsLost > 0UL) { "$h" }
            e.reopenStore(false)
            h = e.health()
            check(h.store == StoreHealth.HEALTHY && h.storeRestarts == 1UL) { "$h" }
            val r = e.ingest(listOf(Packet(udp(41000, 9999, 1), true, ts + 3_600_000_001UL)))
            check(r.verdicts.all { it.action == Action.PASS })
        }
    }

    test("a panic inside Rust comes back as Internal; the process lives; the engine is unusable") {
        NightjarEngine(settings()).use { e ->
            val ex = expectThrows<NightjarException.Internal> { e.debugPanic() }
            check(ex.detail.contains("debug_panic")) { ex.detail }
            check(!e.isUsable())
            expectThrows<NightjarException.EngineUnusable> { e.ingest(listOf()) }
        }
        NightjarEngine(settings()).use { e2 -> check(e2.isUsable()) } // the library still works
    }

    test("replay of pcapdroid two_flows.pcap through ingest matches `nightjar replay --json`") {
        val pcap = File(fixtures, "pcap/pcapdroid/pcap/two_flows.pcap")
        if (!pcap.exists() || cliJson == null || !cliJson.exists()) {
            System.err.println("SKIPPED: fixtures not found at ${fixtures.path}")
            return@test
        }
        val frames = readPcap(pcap)
        val device = srcIp(frames[0].ip)
        val db = File(tmp, "replay.db")
        NightjarEngine(settings(db)).use { e ->
            val r = e.ingest(frames.map { Packet(it.ip, srcIp(it.ip) == device, it.tsUs.toULong()) })
            check(r.verdicts.size == frames.size)
            check(e.shutdown().flowsFlushed >= 1UL)
        }
        // The CLI's conn lines: proto, 5-tuple, packets each way, name.
        val want = cliJson.readLines().filter { it.contains("\"_path\":\"conn\"") }.map { line ->
            fun s(k: String) = Regex("\"$k\":\"([^\"]*)\"").find(line)!!.groupValues[1]
            fun n(k: String) = Regex("\"$k\":(\\d+)").find(line)!!.groupValues[1]
            listOf(s("proto"), s("id.orig_h"), n("id.orig_p"), s("id.resp_h"), n("id.resp_p"), n("orig_pkts"), n("resp_pkts"), s("name")).joinToString(" ")
        }.sorted()
        NightjarEngine(settings(db)).use { e ->
            val got = e.queryFlows(QueryFilter(), null, 100u).items.map {
                val proto = when (it.proto.toInt()) { 6 -> "tcp"; 17 -> "udp"; else -> "icmp" }
                listOf(proto, it.origIp, it.origPort, it.respIp, it.respPort, it.origPkts, it.respPkts, it.name ?: "").joinToString(" ")
            }.sorted()
            check(want.isNotEmpty())
            check(got == want) { "bindings: $got\ncli:      $want" }
            e.shutdown()
        }
    }

    test("store queries and exports: flows, dns, domains, apps, coverage, zeek/ocsf/csv, report") {
        val db = File(tmp, "queries.db")
        NightjarEngine(settings(db)).use { e ->
            e.setAppInventory(listOf(AppInfo(10_001u, "org.example.one", "One", 1UL, 2UL), AppInfo(10_002u, "org.example.two", null, null, null)))
            e.setAppResolver(object : AppResolver {
                override fun owner(flow: FlowKey5): UInt? = if (flow.localPort.toInt() % 2 == 0) 10_001u else 10_002u
            })
            val pk = mutableListOf<Packet>()
            for (i in 0 until 30) {
                val ts = 1_000_000UL + i.toULong() * 1000UL
                pk.add(Packet(udp(20000 + i, 7000, 10 + i % 5), true, ts))
                pk.add(Packet(udp(20000 + i, 7000, 10 + i % 5, reverse = true), false, ts + 10UL))
            }
            e.ingest(pk)
            e.shutdown()
        }
        NightjarEngine(settings(db)).use { e ->
            e.setAppInventory(listOf(AppInfo(10_001u, "org.example.one", "One", 1UL, 2UL)))
            var cursor: String? = null
            val all = mutableListOf<FlowItem>()
            do {
                val page = e.queryFlows(QueryFilter(), cursor, 7u)
                check(page.items.size <= 7)
                all += page.items
                cursor = page.nextCursor
            } while (cursor != null)
            check(all.size == 30 && all.map { it.id }.toSet().size == 30) { "${all.size}" }
            check(e.queryFlows(QueryFilter(appUid = 10_001u), null, 100u).items.all { it.appUid == 10_001u && it.appName == "org.example.one" })
            check(e.queryFlows(QueryFilter(ip = "192.0.2.10"), null, 100u).items.size == 6)
            check(e.queryDns(QueryFilter(), null, 10u).items.isEmpty())
            val apps = e.queryApps(QueryFilter(), null, 1u)
            check(apps.items.size == 1 && apps.nextCursor != null)
            val apps2 = e.queryApps(QueryFilter(), apps.nextCursor, 10u)
            val allApps = apps.items + apps2.items
            check(allApps.mapNotNull { it.uid }.toSet() == setOf(10_001u, 10_002u)) { "$allApps" }
            check(allApps.first { it.uid == 10_001u }.label == "One")
            val domains = e.queryDomains(QueryFilter(), null, 10u)
            check(domains.items.size == 1 && domains.items[0].domain == null && domains.items[0].flows == 30UL) { "${domains.items}" }
            val cov = e.coverage(0UL, 4_000_000_000_000_000UL)
            check(cov.flows == 30UL && cov.attributed == 30UL && cov.named == 0UL)
            check(cov.blindSpots.any { it is BlindSpot.NoDns }) { "${cov.blindSpots}" }
            for ((fmt, table) in listOf(ExportFormat.CSV to ExportTable.FLOWS, ExportFormat.OCSF to ExportTable.FLOWS, ExportFormat.ZEEK to ExportTable.FLOWS)) {
                val f = File(tmp, "export-$fmt.out")
                val n = e.export(fmt, table, QueryFilter(), f.path)
                check(n == 30UL) { "$fmt $n" }
                check(f.readLines().size == 30 + if (fmt == ExportFormat.CSV) 1 else 0)
            }
            // The analyst's report: one HTML page, its tags balanced, a row per stored flow.
            val html = e.report(null, null, null)
            check(html.startsWith("<!DOCTYPE html>") && html.trimEnd().endsWith("</html>"))
            check(html.replace("&#39;", "'").contains("content=\"default-src 'none';"))
            for (tag in listOf("html", "head", "body", "section", "table", "tbody", "tr", "details", "svg", "script", "style")) {
                val open = Regex("<$tag[ >]").findAll(html).count()
                val close = Regex("</$tag>").findAll(html).count()
                check(open == close && open > 0 || tag == "details" && open == 0) { "<$tag>: $open opened, $close closed" }
            }
            check(Regex("<tr id=\"flow-").findAll(html).count() == 30)
            check(e.report(null, null, 10_001u).contains("<tr class=\"tl-row\" data-app=\"10001\">"))
            val rep = e.shutdown()
            check(rep.writer != null && rep.flowsFlushed == 0UL)
        }
    }

    test("relay mode: a SYN to a local ServerSocket is answered with a SYN-ACK; the protector sees the socket") {
        java.net.ServerSocket(0, 8, java.net.InetAddress.getByName("127.0.0.1")).use { server ->
            server.soTimeout = 20_000
            val protects = LinkedBlockingQueue<Pair<Int, String>>()
            NightjarEngine(settings(mode = Mode.RELAY).copy(relay = defaultRelaySettings())).use { e ->
                e.setSocketProtector(object : SocketProtector {
                    override fun protect(fd: Int): Boolean {
                        protects.add(fd to Thread.currentThread().name)
                        return true
                    }
                })
                val seq = 0x2000_0000
                val r = e.ingest(listOf(Packet(tcpSyn(40_100, server.localPort, seq), true, 0UL)))
                check(r.verdicts.single().isNew) { "the SYN opens a flow" }
                val synAck = r.toTunnel.firstOrNull { p ->
                    val ihl = (p[0].toInt() and 0x0f) * 4
                    p[9].toInt() == 6 && be16(p, ihl + 2) == 40_100 && (p[ihl + 13].toInt() and 0x12) == 0x12
                }
                check(synAck != null) { "no SYN-ACK in ${r.toTunnel.size} packets" }
                check(be32(synAck!!, 28) == seq + 1) { "acknowledges the SYN" }
                val (fd, thread) = protects.poll(5, TimeUnit.SECONDS) ?: throw AssertionError("protect not called")
                check(fd > 2) { "fd $fd" }
                check(thread == Thread.currentThread().name) { "protect ran on $thread" }
                server.accept().close() // the relay's protected socket really connected
                val relay = e.stats().relay ?: throw AssertionError("no relay counters")
                check(relay.protectCalls == 1UL && relay.tcpAccepted == 1UL) { "$relay" }
                check(e.memory().relay != null)
                // The uplink moved to an address the relay's socket (bound to 127.0.0.1) is not on.
                check(e.networkChanged(listOf("127.0.0.1")).tcpReset == 0UL)
                val change = e.networkChanged(listOf("192.0.2.99"))
                check(change.tcpReset == 1UL) { "$change" }
                check(e.stats().relay!!.pathTcpReset == 1UL)
                expectThrows<NightjarException.InvalidArgument> { e.networkChanged(listOf("nope")) }
                e.setNat64Prefix("64:ff9b::/96")
                e.setNat64Prefix(null)
                expectThrows<NightjarException.InvalidArgument> { e.setNat64Prefix("64:ff9b::/80") }
                e.shutdown()
            }
        }
    }

    test("relay mode: DoT and DoH upstreams resolve with the platform verifier; a failed one answers SERVFAIL") {
        val dot = System.getProperty("nightjar.dot") ?: ""
        val doh = System.getProperty("nightjar.doh") ?: ""
        val ca = System.getProperty("nightjar.dnsCa")?.let { File(it).readText() }
        check(dot.isNotEmpty() && doh.isNotEmpty() && ca != null) { "run.sh starts nightjar-testserver" }
        for ((upstream, want) in listOf(
            "tls://$dot#dns.test" to "198.51.100.85",
            "https://$doh/dns-query#dns.test" to "198.51.100.43",
            "tls://$dot#wrong-name.test" to null,
        )) {
            val r = defaultRelaySettings().copy(dnsAddress = "10.111.0.53", dnsUpstream = upstream, dnsExtraRootsPem = ca)
            NightjarEngine(settings(mode = Mode.RELAY).copy(relay = r)).use { e ->
                val (rcode, addr) = askDns(e, 33_100, "www.example")
                if (want != null) {
                    check(rcode == 0 && addr == want) { "$upstream: rcode $rcode, $addr" }
                } else {
                    check(rcode == 2 && addr == null) { "$upstream: SERVFAIL expected, rcode $rcode" }
                    check(e.stats().relay!!.dnsServfail == 1UL)
                }
                e.shutdown()
            }
        }
    }

    test("ingest from two threads at once") {
        NightjarEngine(settings()).use { e ->
            val threads = (0 until 2).map { t ->
                Thread {
                    for (i in 0 until 200) e.ingest(listOf(Packet(udp(30000 + i, 53, 20 + t), true, 1_000UL + i.toULong())))
                }
            }
            threads.forEach { it.start() }; threads.forEach { it.join() }
            check(e.stats().packets == 400UL)
        }
    }

    // Timing only: printed, never asserted.
    test("timing: ingest overhead per packet from Kotlin") {
        NightjarEngine(settings(caps = defaultMemoryCaps())).use { e ->
            for (batch in listOf(1, 32, 256)) {
                val packets = (0 until batch).map { Packet(udp(40000 + it % 1000, 443, 30 + it % 50), true, 0UL) }
                val rounds = maxOf(20_000 / batch, 200)
                repeat(rounds) { e.ingest(packets) } // warm-up (JIT)
                val t0 = System.nanoTime()
                repeat(rounds) { e.ingest(packets) }
                val ns = (System.nanoTime() - t0).toDouble() / (rounds * batch)
                println("TIMING batch=$batch: ${"%.0f".format(ns)} ns/packet (${"%.1f".format(ns * batch / 1000)} µs/call)")
            }
        }
    }

    // Timing only: printed, never asserted. Batches of 64 in both forms, small packets and
    // full-size ones (the bytes are copied across the FFI, so size matters).
    test("timing: ingest and ingestBatch per packet from Kotlin, batches of 64") {
        for (payload in listOf(8, 1200)) {
            NightjarEngine(settings(caps = defaultMemoryCaps())).use { e ->
                val batch = 64
                val packets = (0 until batch).map { Packet(udp(40000 + it % 1000, 443, 30 + it % 50, ByteArray(payload)), true, 0UL) }
                val lengths = packets.map { it.bytes.size.toUInt() }
                val outbound = packets.map { it.outbound }
                val rounds = 2_000
                fun perPacket(body: () -> Unit): Double {
                    repeat(rounds) { body() } // warm-up (JIT)
                    val t0 = System.nanoTime()
                    repeat(rounds) { body() }
                    return (System.nanoTime() - t0).toDouble() / (rounds * batch)
                }
                val plain = perPacket { e.ingest(packets) }
                // The host's side of the batch form: the packets land in one buffer.
                val buf = ByteBuffer.allocate(lengths.sumOf { it.toInt() })
                val batched = perPacket {
                    buf.clear()
                    packets.forEach { buf.put(it.bytes) }
                    e.ingestBatch(buf.array(), lengths, outbound, 0UL)
                }
                val size = packets[0].bytes.size
                println("TIMING ${size}-byte packets, batch=$batch: ingest ${"%.0f".format(plain)} ns/packet, ingestBatch ${"%.0f".format(batched)} ns/packet")
            }
        }
    }

    println("$passed passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}

package org.nightjar.vpn

import android.content.Context
import android.content.Intent
import android.net.ConnectivityManager
import android.net.VpnService
import android.os.Handler
import android.os.HandlerThread
import android.os.ParcelFileDescriptor
import android.util.Log
import org.nightjar.ffi.AlertSeverity
import org.nightjar.ffi.EngineSettings
import org.nightjar.ffi.LogLevel
import org.nightjar.ffi.NightjarEngine
import org.nightjar.ffi.NightjarException
import org.nightjar.ffi.Packet
import org.nightjar.ffi.TunnelWriter
import org.nightjar.ffi.defaultMemoryCaps
import org.nightjar.ffi.defaultRelaySettings
import org.nightjar.ffi.initLogging
import org.nightjar.vpn.core.IngestLoop
import org.nightjar.vpn.core.PacketBatcher
import org.nightjar.vpn.core.PrivateDns
import org.nightjar.vpn.core.VpnPosture
import java.io.File
import java.io.FileInputStream
import java.io.FileOutputStream
import java.io.IOException
import java.security.SecureRandom
import org.nightjar.ffi.Mode as EngineMode

/**
 * The Android packet tunnel: a `VpnService` whose TUN device feeds the Nightjar engine.
 *
 * Threads: `nightjar-tun-reader` reads the TUN device, hands each packet to the upstream
 * [PacketTransport] (monitor mode) and offers it to the [PacketBatcher];
 * `nightjar-engine` takes batches and calls `NightjarEngine.ingest` ([IngestLoop]), writes
 * what the engine returns for the tunnel (relay mode) and calls `poll` when the tunnel is
 * quiet; `nightjar-vpn` (a HandlerThread) keeps the app inventory current. Nightjar calls
 * the [ConnectionOwnerResolver] and, in relay mode, [VpnProtector] on the engine thread, and
 * writes relay packets produced outside `ingest` from its own `nightjar-relay` thread.
 *
 * Fail open: in monitor mode an engine failure never stops the tunnel; packets keep flowing
 * through the transport while the engine is recreated. Products subclass this service to
 * supply their transport ([transport]) and settings ([createEngine]).
 */
open class NightjarVpnService : VpnService() {
    /** What the tunnel is doing, for the app's UI and the instrumentation tests. */
    data class Status(
        val config: TunnelConfig,
        val packets: Long,
        val flowsCreated: Long,
        val flowsAttributed: Long,
        val shedByBatcher: Long,
        val engineErrors: Long,
        val privateDns: PrivateDns.Status,
        val posture: VpnPosture,
        val lastError: String?,
    )

    private var config = TunnelConfig()
    private var tun: ParcelFileDescriptor? = null
    @Volatile private var engine: NightjarEngine? = null
    private var uplink: UplinkWatcher? = null
    private var batcher: PacketBatcher<Packet>? = null
    private var loop: IngestLoop<Packet>? = null
    private var transport: PacketTransport = ObserveOnlyTransport
    private var reader: Thread? = null
    private var engineThread: Thread? = null
    private var handlerThread: HandlerThread? = null
    private var inventory: AppInventory? = null
    private var posture = VpnPosture(0, null, null)
    private var privateDns = PrivateDns.classify(0, null, null, null, null)
    @Volatile private var lastError: String? = null
    private val writeLock = Any()
    /** Writes one packet to the TUN device; set once the device is up. */
    @Volatile private var tunWrite: (ByteArray) -> Unit = {}

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        if (intent?.action == ACTION_STOP) {
            stopTunnel()
            stopSelf()
            return START_NOT_STICKY
        }
        // ACTION_START from the app, or SERVICE_INTERFACE when always-on starts us (no extras).
        if (tun == null) {
            try {
                startTunnel(TunnelConfig.fromBundle(intent?.extras))
            } catch (e: Exception) {
                return failedToStart(e)
            } catch (e: LinkageError) {
                // libnightjar_ffi.so missing for this ABI (see the README's cargoNdk step).
                return failedToStart(e)
            }
        }
        return START_STICKY
    }

    private fun failedToStart(e: Throwable): Int {
        Log.e(TAG, "tunnel did not start", e)
        lastError = e.toString()
        stopTunnel()
        stopSelf()
        return START_NOT_STICKY
    }

    override fun onRevoke() {
        // Another VPN took over or the user revoked consent.
        stopTunnel()
        super.onRevoke()
    }

    override fun onDestroy() {
        stopTunnel()
        super.onDestroy()
    }

    /** The product's upstream in monitor mode; the default only observes (test routes). */
    protected open fun transport(config: TunnelConfig): PacketTransport = ObserveOnlyTransport

    /**
     * Creates the engine: database in no-backup storage (telemetry must not leave the
     * device in a cloud backup), intel index if one was compiled, phone-sized caps.
     */
    protected open fun createEngine(config: TunnelConfig): NightjarEngine {
        val intel = File(filesDir, "intel.nji").takeIf { it.isFile }
        val settings = EngineSettings(
            dbPath = File(noBackupFilesDir, "nightjar.db").path,
            intelIndexPath = intel?.path,
            mode = if (config.mode == TunnelConfig.Mode.RELAY) EngineMode.RELAY else EngineMode.MONITOR,
            caps = defaultMemoryCaps(),
            hashSeed = SecureRandom().nextLong().toULong(),
            // The relay answers as the tunnel's gateway, next to the device's address.
            relay = defaultRelaySettings().copy(ipv4 = RELAY_V4, ipv6 = RELAY_V6, mtu = config.mtu.toUInt()),
            blockAt = when (config.blockAt.takeIf { config.mode == TunnelConfig.Mode.RELAY }) {
                TunnelConfig.BlockAt.HIGH -> AlertSeverity.HIGH
                TunnelConfig.BlockAt.CRITICAL -> AlertSeverity.CRITICAL
                null -> null
            },
        )
        val e = NightjarEngine(settings)
        val cm = getSystemService(ConnectivityManager::class.java)
        e.setAppResolver(ConnectionOwnerResolver(cm))
        if (config.mode == TunnelConfig.Mode.RELAY) {
            // Before the first ingest: an unprotected socket would loop back into the tunnel.
            e.setSocketProtector(VpnProtector(this))
            e.setTunnelWriter(object : TunnelWriter {
                override fun writePackets(packets: List<ByteArray>) = packets.forEach { tunWrite(it) }
            })
        }
        return e
    }

    private fun startTunnel(cfg: TunnelConfig) {
        config = cfg
        runCatching { initLogging(LogLevel.INFO) }
        posture = NetworkPosture.vpn(this)
        posture.warnings().forEach { Log.w(TAG, it) }
        val cm = getSystemService(ConnectivityManager::class.java)
        privateDns = NetworkPosture.privateDns(contentResolver, cm, cm.activeNetwork)
        Log.i(TAG, privateDns.explanation)

        engine = try {
            createEngine(cfg)
        } catch (e: NightjarException) {
            // Relay mode cannot run without the engine: it is the forwarding path.
            if (cfg.mode == TunnelConfig.Mode.RELAY) throw e
            Log.e(TAG, "engine did not start; the tunnel runs without telemetry", e)
            lastError = e.toString()
            null
        }

        val builder = Builder()
            .setSession(cfg.sessionName)
            .setMtu(cfg.mtu)
            .setBlocking(true)
            .addAddress(TUN_V4, 32)
            .addAddress(TUN_V6, 128)
        when (cfg.routes) {
            TunnelConfig.Routes.TEST_PREFIX -> builder.addRoute("198.18.0.0", 15)
            TunnelConfig.Routes.ALL -> {
                builder.addRoute("0.0.0.0", 0).addRoute("::", 0)
                // Our own traffic (feed downloads, the transport) stays out of the tunnel,
                // except under lockdown where an excluded app has no network at all: there
                // protect() keeps our sockets out instead.
                if (!posture.exclusionsCutApps) builder.addDisallowedApplication(packageName)
            }
        }
        val fd = builder.establish() ?: throw IOException("VpnService.prepare() consent is missing")
        tun = fd

        val relay = cfg.mode == TunnelConfig.Mode.RELAY
        val b = PacketBatcher<Packet>(
            PacketBatcher.Config(overflow = if (relay) PacketBatcher.Overflow.BLOCK else PacketBatcher.Overflow.SHED),
            { it.bytes.size },
        )
        batcher = b
        val out = FileOutputStream(fd.fileDescriptor)
        val toTunnel: (ByteArray) -> Unit = { p ->
            synchronized(writeLock) {
                try {
                    out.write(p)
                } catch (e: IOException) {
                    Log.w(TAG, "tun write failed", e)
                }
            }
        }
        tunWrite = toTunnel
        val l = IngestLoop(b, sinkFor(engine), toTunnel, ::recoverEngine)
        loop = l

        transport = transport(cfg).also { t ->
            t.start { p ->
                toTunnel(p)
                b.offer(Packet(p, false, nowUs()))
            }
        }
        if (relay) {
            uplink = UplinkWatcher(getSystemService(ConnectivityManager::class.java)) { engine }.also { it.start() }
        }
        val t = transport
        reader = Thread({ readTun(fd, b, t, cfg.mtu) }, "nightjar-tun-reader").apply { isDaemon = true; start() }
        engineThread = Thread({ runEngine(l) }, "nightjar-engine").apply { isDaemon = true; start() }

        val ht = HandlerThread("nightjar-vpn").also { it.start() }
        handlerThread = ht
        val handler = Handler(ht.looper)
        val inv = AppInventory(this, handler) { apps ->
            try {
                engine?.setAppInventory(apps)
            } catch (e: NightjarException) {
                Log.w(TAG, "inventory refused", e)
            }
        }
        inventory = inv
        handler.post { inv.start() }
        running = this
        Log.i(TAG, "tunnel up: $cfg")
    }

    private fun readTun(fd: ParcelFileDescriptor, b: PacketBatcher<Packet>, t: PacketTransport, mtu: Int) {
        val input = FileInputStream(fd.fileDescriptor)
        val buf = ByteArray(mtu.coerceAtLeast(1500) + 64)
        while (!b.isClosed) {
            val n = try {
                input.read(buf)
            } catch (e: IOException) {
                break // the descriptor was closed: the tunnel is going down
            }
            if (n <= 0) continue
            val p = buf.copyOf(n)
            // Forward first: observation must never delay or lose a packet in monitor mode.
            t.send(p)
            b.offer(Packet(p, true, nowUs()))
        }
    }

    private fun runEngine(l: IngestLoop<Packet>) {
        var lastPoll = System.nanoTime()
        val b = batcher ?: return
        while (!(b.isClosed && b.stats().queuedPackets == 0)) {
            val n = l.runOnce(POLL_NANOS)
            val now = System.nanoTime()
            if (n == 0 && now - lastPoll >= POLL_NANOS) {
                // A quiet tunnel still ages flows out and commits the record.
                // In relay mode poll also returns packets for the tunnel.
                runCatching { engine?.poll(nowUs())?.forEach(tunWrite) }
                lastPoll = now
            }
        }
    }

    private fun sinkFor(e: NightjarEngine?): IngestLoop.Sink<Packet> = IngestLoop.Sink { batch ->
        val eng = e ?: throw IngestLoop.Unusable()
        try {
            eng.ingest(batch).toTunnel
        } catch (x: NightjarException.EngineUnusable) {
            throw IngestLoop.Unusable(x)
        } catch (x: NightjarException.Internal) {
            lastError = x.toString()
            throw IngestLoop.Unusable(x)
        }
    }

    private fun recoverEngine(): IngestLoop.Sink<Packet>? {
        val old = engine
        engine = null
        runCatching { old?.close() }
        return try {
            val fresh = createEngine(config)
            engine = fresh
            // The new engine knows no apps yet.
            handlerThread?.let { ht -> Handler(ht.looper).post { inventory?.republish() } }
            Log.w(TAG, "engine recreated after a failure")
            sinkFor(fresh)
        } catch (e: NightjarException) {
            lastError = e.toString()
            null
        }
    }

    private fun stopTunnel() {
        if (running === this) running = null
        uplink?.stop()
        uplink = null
        batcher?.close()
        runCatching { transport.stop() }
        runCatching { tun?.close() }
        engineThread?.join(2_000)
        reader?.join(500)
        inventory?.stop()
        handlerThread?.quitSafely()
        engine?.let { e ->
            runCatching { e.shutdown() }.onFailure { Log.w(TAG, "engine shutdown", it) }
            runCatching { e.close() }
        }
        engine = null
        tunWrite = {}
        tun = null
        batcher = null
        loop = null
        reader = null
        engineThread = null
        handlerThread = null
        inventory = null
    }

    fun status(): Status {
        val s = runCatching { engine?.stats() }.getOrNull()
        return Status(
            config = config,
            packets = s?.packets?.toLong() ?: 0,
            flowsCreated = s?.flowsCreated?.toLong() ?: 0,
            flowsAttributed = s?.flowsAttributed?.toLong() ?: 0,
            shedByBatcher = batcher?.stats()?.shedPackets ?: 0,
            engineErrors = loop?.stats()?.errors ?: 0,
            privateDns = privateDns,
            posture = posture,
            lastError = lastError,
        )
    }

    /** The running engine, for queries from the app process (same process only). */
    fun engine(): NightjarEngine? = engine

    companion object {
        const val ACTION_START = "org.nightjar.vpn.START"
        const val ACTION_STOP = "org.nightjar.vpn.STOP"
        private const val TAG = "NightjarVpn"
        private const val TUN_V4 = "10.111.222.2"
        private const val TUN_V6 = "fd6e:6a00::2"
        private const val RELAY_V4 = "10.111.222.1"
        private const val RELAY_V6 = "fd6e:6a00::1"
        private const val POLL_NANOS = 1_000_000_000L

        /** The service while its tunnel is up (same process), else null. */
        @Volatile
        var running: NightjarVpnService? = null
            private set

        /**
         * Starts the tunnel. The app must hold VPN consent first: `VpnService.prepare(ctx)`
         * returns null, or its intent was launched and returned RESULT_OK.
         */
        fun start(
            context: Context,
            config: TunnelConfig = TunnelConfig(),
            service: Class<out NightjarVpnService> = NightjarVpnService::class.java,
        ) {
            context.startService(Intent(context, service).setAction(ACTION_START).putExtras(config.toBundle()))
        }

        fun stop(context: Context, service: Class<out NightjarVpnService> = NightjarVpnService::class.java) {
            context.startService(Intent(context, service).setAction(ACTION_STOP))
        }

        private fun nowUs(): ULong = (System.currentTimeMillis() * 1000).toULong()
    }
}

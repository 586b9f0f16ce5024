package org.nightjar.vpn.core

/**
 * The engine side of the tunnel: takes batches from a [PacketBatcher], hands each to the
 * engine and writes what the engine returns for the tunnel (relay mode) back to it.
 *
 * Fail open: an engine error never stops the loop. Errors are counted; when the engine says
 * it is unusable (shut down, or a panic was caught inside it) the loop asks [recover] for a
 * new engine, at most once per [recoverBackoffNanos], and drops the batches in between
 * (counted). In monitor mode the OS path still forwards every packet, so the device keeps
 * its network while telemetry is missing.
 *
 * Android-free, so it is tested on the host JVM; the VpnService binds it to
 * `NightjarEngine.ingest` through [Sink].
 */
class IngestLoop<P : Any>(
    private val batcher: PacketBatcher<P>,
    @Volatile private var sink: Sink<P>,
    private val writeToTunnel: (ByteArray) -> Unit,
    private val recover: () -> Sink<P>?,
    private val recoverBackoffNanos: Long = 5_000_000_000L,
    private val clock: () -> Long = System::nanoTime,
) {
    fun interface Sink<P> {
        /** Ingests `batch`; returns packets for the tunnel. Throws [Unusable] when the engine is gone. */
        fun ingest(batch: List<P>): List<ByteArray>
    }

    /** Thrown by a [Sink] whose engine can no longer be used. */
    class Unusable(cause: Throwable? = null) : Exception(cause)

    data class Stats(
        val batches: Long,
        val packets: Long,
        val toTunnel: Long,
        val errors: Long,
        val droppedWhileUnusable: Long,
        val recoveries: Long,
    )

    private var batches = 0L
    private var packets = 0L
    private var toTunnel = 0L
    private var errors = 0L
    private var dropped = 0L
    private var recoveries = 0L
    private var usable = true
    private var lastRecoverAt: Long? = null

    /** Processes at most one batch, waiting up to `maxWaitNanos` for it. Returns its size. */
    fun runOnce(maxWaitNanos: Long): Int {
        val batch = batcher.take(maxWaitNanos)
        if (batch.isEmpty()) return 0
        if (!usable && !tryRecover()) {
            dropped += batch.size
            return batch.size
        }
        try {
            val out = sink.ingest(batch)
            batches++
            packets += batch.size
            for (p in out) {
                writeToTunnel(p)
                toTunnel++
            }
        } catch (e: Unusable) {
            errors++
            usable = false
            dropped += batch.size
        } catch (e: Exception) {
            // A refused batch (for instance a typed engine error): count and go on.
            errors++
            dropped += batch.size
        }
        return batch.size
    }

    /** Runs until the batcher is closed and drained. */
    fun run(pollNanos: Long = 100_000_000L) {
        while (true) {
            val n = runOnce(pollNanos)
            if (n == 0 && batcher.isClosed && batcher.stats().queuedPackets == 0) return
        }
    }

    fun stats() = Stats(batches, packets, toTunnel, errors, dropped, recoveries)

    private fun tryRecover(): Boolean {
        val now = clock()
        val last = lastRecoverAt
        if (last != null && now - last < recoverBackoffNanos) return false
        lastRecoverAt = now
        val fresh = try {
            recover()
        } catch (e: Exception) {
            null
        } ?: return false
        sink = fresh
        usable = true
        recoveries++
        return true
    }
}

package org.nightjar.vpn.core

import java.util.ArrayDeque
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

/**
 * The bounded queue between the thread that reads the TUN device and the thread that calls
 * `NightjarEngine.ingest`. One FFI call per packet costs more than the engine's work on it,
 * so packets go in batches; the queue is capped in packets and bytes so a stalled engine can
 * never grow the heap.
 *
 * What happens at the cap is the [Overflow] policy:
 *  - [Overflow.SHED] (monitor mode): the packet is not queued and is counted in
 *    [Stats.shedPackets]. The platform still forwards it (the engine only observes), so the
 *    device keeps its network: fail open.
 *  - [Overflow.BLOCK] (relay mode): the engine is the forwarding path, so dropping would
 *    lose traffic; [offer] waits for room instead. The reader stops reading the TUN, the
 *    kernel's queue fills and TCP senders slow down: backpressure reaches the apps.
 *
 * A batch is handed out when it is full ([Config.maxBatchPackets] or [Config.maxBatchBytes])
 * or its oldest packet has waited [Config.lingerNanos], so a quiet tunnel still delivers
 * promptly.
 */
class PacketBatcher<P : Any>(
    private val config: Config,
    private val sizeOf: (P) -> Int,
    private val clock: () -> Long = System::nanoTime,
) {
    enum class Overflow { SHED, BLOCK }

    data class Config(
        val maxBatchPackets: Int = 64,
        val maxBatchBytes: Int = 256 * 1024,
        val maxQueuedPackets: Int = 2048,
        val maxQueuedBytes: Long = 4L * 1024 * 1024,
        val lingerNanos: Long = TimeUnit.MILLISECONDS.toNanos(2),
        val overflow: Overflow = Overflow.SHED,
    ) {
        init {
            require(maxBatchPackets > 0) { "maxBatchPackets must be positive" }
            require(maxBatchBytes > 0) { "maxBatchBytes must be positive" }
            require(maxQueuedPackets >= maxBatchPackets) { "maxQueuedPackets must hold one batch" }
            require(maxQueuedBytes >= maxBatchBytes) { "maxQueuedBytes must hold one batch" }
            require(lingerNanos >= 0) { "lingerNanos must not be negative" }
        }
    }

    data class Stats(
        val offeredPackets: Long,
        val shedPackets: Long,
        val shedBytes: Long,
        val batches: Long,
        val batchedPackets: Long,
        /** Time [offer] spent waiting for room (BLOCK only): how long backpressure held. */
        val blockedNanos: Long,
        val queuedPackets: Int,
        val queuedBytes: Long,
    )

    private class Entry<P>(val item: P, val size: Int, val enqueuedAt: Long)

    private val lock = ReentrantLock()
    private val notEmpty = lock.newCondition()
    private val notFull = lock.newCondition()
    private val queue = ArrayDeque<Entry<P>>()
    private var queuedBytes = 0L
    private var closed = false
    private var offered = 0L
    private var shed = 0L
    private var shedBytes = 0L
    private var batches = 0L
    private var batched = 0L
    private var blockedNanos = 0L

    /**
     * Queues `item`. Returns false when it was not queued: shed at the cap (SHED), or the
     * batcher is closed. In BLOCK mode waits for room up to `maxWaitNanos`, then sheds.
     * A packet larger than a whole batch is still accepted, as a batch of its own.
     */
    fun offer(item: P, maxWaitNanos: Long = Long.MAX_VALUE): Boolean {
        val size = sizeOf(item).coerceAtLeast(0)
        lock.withLock {
            offered++
            if (closed) {
                shed(size)
                return false
            }
            if (!hasRoom(size)) {
                if (config.overflow == Overflow.SHED) {
                    shed(size)
                    return false
                }
                val start = clock()
                var remaining = maxWaitNanos
                while (!hasRoom(size) && !closed && remaining > 0) {
                    remaining = notFull.awaitNanos(remaining)
                }
                blockedNanos += clock() - start
                if (closed || !hasRoom(size)) {
                    shed(size)
                    return false
                }
            }
            queue.addLast(Entry(item, size, clock()))
            queuedBytes += size
            if (batchReady(clock())) notEmpty.signal()
            return true
        }
    }

    /**
     * The next batch if one is ready now (full, or lingered long enough, or closed with
     * packets left); otherwise an empty list. Never waits.
     */
    fun poll(): List<P> = lock.withLock { if (batchReady(clock())) cut() else emptyList() }

    /**
     * Waits up to `maxWaitNanos` for a batch and returns it, possibly empty on timeout. After
     * [close], returns what is left and then empty lists.
     */
    fun take(maxWaitNanos: Long): List<P> {
        lock.withLock {
            var remaining = maxWaitNanos
            while (remaining > 0) {
                val now = clock()
                if (batchReady(now)) return cut()
                if (closed) return emptyList()
                // Wake when the oldest packet's linger runs out, or earlier if signalled.
                val wait = queue.peekFirst()?.let { config.lingerNanos - (now - it.enqueuedAt) }
                    ?.coerceIn(1, remaining) ?: remaining
                val left = notEmpty.awaitNanos(wait)
                remaining -= wait - left.coerceAtLeast(0)
            }
            return if (batchReady(clock())) cut() else emptyList()
        }
    }

    /** Stops accepting packets; queued ones are still handed out; waiting callers wake. */
    fun close() = lock.withLock {
        closed = true
        notEmpty.signalAll()
        notFull.signalAll()
    }

    val isClosed: Boolean get() = lock.withLock { closed }

    fun stats(): Stats = lock.withLock {
        Stats(offered, shed, shedBytes, batches, batched, blockedNanos, queue.size, queuedBytes)
    }

    private fun hasRoom(size: Int): Boolean =
        queue.isEmpty() ||
            (queue.size < config.maxQueuedPackets && queuedBytes + size <= config.maxQueuedBytes)

    private fun shed(size: Int) {
        shed++
        shedBytes += size
    }

    private fun batchReady(now: Long): Boolean {
        val first = queue.peekFirst() ?: return false
        return closed ||
            queue.size >= config.maxBatchPackets ||
            queuedBytes >= config.maxBatchBytes ||
            now - first.enqueuedAt >= config.lingerNanos
    }

    private fun cut(): List<P> {
        val out = ArrayList<P>(minOf(queue.size, config.maxBatchPackets))
        var bytes = 0L
        while (out.size < config.maxBatchPackets) {
            val e = queue.peekFirst() ?: break
            // A batch always takes at least one packet, however large.
            if (out.isNotEmpty() && bytes + e.size > config.maxBatchBytes) break
            queue.removeFirst()
            queuedBytes -= e.size
            bytes += e.size
            out += e.item
        }
        batches++
        batched += out.size
        notFull.signalAll()
        return out
    }
}

package org.nightjar.vpn.core

import org.junit.Assert.assertEquals
import org.junit.Test

class IngestLoopTest {
    private var now = 0L
    private val batcher = PacketBatcher<ByteArray>(
        PacketBatcher.Config(maxBatchPackets = 2, maxBatchBytes = 10_000, maxQueuedPackets = 64, maxQueuedBytes = 100_000, lingerNanos = 0),
        { it.size },
        { now },
    )
    private val written = ArrayList<ByteArray>()

    @Test
    fun batchesReachTheEngineAndItsOutputReachesTheTunnel() {
        val seen = ArrayList<Int>()
        val loop = IngestLoop(batcher, { batch ->
            seen += batch.size
            batch.map { it + byteArrayOf(0x7f) } // relay mode: a reply per packet
        }, { written += it }, { null }, clock = { now })
        repeat(5) { batcher.offer(byteArrayOf(it.toByte())) }
        while (loop.runOnce(0) > 0) Unit
        assertEquals(listOf(2, 2, 1), seen)
        assertEquals(5, written.size)
        assertEquals(listOf(0, 0x7f), written[0].map { it.toInt() })
        val s = loop.stats()
        assertEquals(3L, s.batches)
        assertEquals(5L, s.packets)
        assertEquals(5L, s.toTunnel)
    }

    @Test
    fun anErrorIsCountedAndTheLoopGoesOn() {
        var calls = 0
        val loop = IngestLoop(batcher, { batch ->
            calls++
            if (calls == 1) throw IllegalStateException("refused") else emptyList<ByteArray>().also { batch.size }
        }, { written += it }, { null }, clock = { now })
        repeat(4) { batcher.offer(ByteArray(1)) }
        loop.runOnce(0)
        loop.runOnce(0)
        val s = loop.stats()
        assertEquals(1L, s.errors)
        assertEquals(2L, s.droppedWhileUnusable)
        assertEquals(1L, s.batches)
    }

    @Test
    fun anUnusableEngineIsReplacedWithBackoff() {
        var recoverCalls = 0
        var fresh: IngestLoop.Sink<ByteArray>? = null
        val loop = IngestLoop(
            batcher,
            { throw IngestLoop.Unusable() },
            { written += it },
            { recoverCalls++; fresh },
            recoverBackoffNanos = 1_000,
            clock = { now },
        )
        repeat(8) { batcher.offer(ByteArray(1)) }
        loop.runOnce(0) // engine dies
        loop.runOnce(0) // first recovery attempt: nothing to recover with
        loop.runOnce(0) // within the backoff: no attempt
        assertEquals(1, recoverCalls)
        var ingested = 0
        fresh = IngestLoop.Sink { batch -> ingested += batch.size; emptyList() }
        now += 1_000
        loop.runOnce(0) // recovers and ingests
        assertEquals(2, recoverCalls)
        assertEquals(2, ingested)
        val s = loop.stats()
        assertEquals(1L, s.errors)
        assertEquals(1L, s.recoveries)
        assertEquals(6L, s.droppedWhileUnusable)
    }

    @Test
    fun runReturnsOnceTheBatcherIsClosedAndDrained() {
        var total = 0
        val loop = IngestLoop(batcher, { b -> total += b.size; emptyList() }, { }, { null })
        repeat(7) { batcher.offer(ByteArray(3)) }
        batcher.close()
        loop.run(pollNanos = 1_000_000)
        assertEquals(7, total)
    }
}

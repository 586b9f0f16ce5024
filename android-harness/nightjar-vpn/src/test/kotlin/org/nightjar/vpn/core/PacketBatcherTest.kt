package org.nightjar.vpn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

class PacketBatcherTest {
    private class FakeClock {
        var now = 1_000_000_000L
        fun advanceMs(ms: Long) { now += ms * 1_000_000 }
    }

    private fun batcher(
        clock: FakeClock,
        overflow: PacketBatcher.Overflow = PacketBatcher.Overflow.SHED,
        maxBatchPackets: Int = 4,
        maxBatchBytes: Int = 1000,
        maxQueuedPackets: Int = 8,
        maxQueuedBytes: Long = 4000,
    ) = PacketBatcher<ByteArray>(
        PacketBatcher.Config(maxBatchPackets, maxBatchBytes, maxQueuedPackets, maxQueuedBytes, 2_000_000, overflow),
        { it.size },
        clock::now,
    )

    @Test
    fun aFullBatchIsReadyAtOnceAndKeepsOrder() {
        val c = FakeClock()
        val b = batcher(c)
        for (i in 0 until 3) assertTrue(b.offer(byteArrayOf(i.toByte())))
        assertTrue("not full, not lingered", b.poll().isEmpty())
        assertTrue(b.offer(byteArrayOf(3)))
        assertEquals(listOf(0, 1, 2, 3), b.poll().map { it[0].toInt() })
        assertTrue(b.poll().isEmpty())
    }

    @Test
    fun aPartialBatchIsHandedOutAfterTheLinger() {
        val c = FakeClock()
        val b = batcher(c)
        b.offer(ByteArray(10))
        c.advanceMs(1)
        assertTrue(b.poll().isEmpty())
        c.advanceMs(1)
        assertEquals(1, b.poll().size)
    }

    @Test
    fun batchesRespectTheByteCapButTakeAnOversizedPacketAlone() {
        val c = FakeClock()
        val b = batcher(c, maxQueuedBytes = 10_000)
        b.offer(ByteArray(600))
        b.offer(ByteArray(600)) // 1200 queued >= 1000: ready
        assertEquals(listOf(600), b.poll().map { it.size })
        c.advanceMs(5)
        assertEquals(listOf(600), b.poll().map { it.size })
        b.offer(ByteArray(5000))
        assertEquals(listOf(5000), b.poll().map { it.size })
        assertEquals(3L, b.stats().batches)
    }

    @Test
    fun shedModeDropsAtTheCapAndCountsIt() {
        val c = FakeClock()
        val b = batcher(c, maxBatchPackets = 100, maxBatchBytes = 1000, maxQueuedPackets = 100, maxQueuedBytes = 1000)
        var accepted = 0
        for (i in 0 until 30) if (b.offer(ByteArray(100))) accepted++
        assertEquals(10, accepted)
        val s = b.stats()
        assertEquals(30L, s.offeredPackets)
        assertEquals(20L, s.shedPackets)
        assertEquals(2000L, s.shedBytes)
        assertEquals(1000L, s.queuedBytes)
        // Every offered packet is either queued or shed.
        assertEquals(s.offeredPackets, s.shedPackets + s.queuedPackets)
        c.advanceMs(3)
        assertEquals(10, b.poll().size)
        assertTrue(b.offer(ByteArray(100)))
    }

    @Test
    fun blockModeWaitsForTheConsumerInsteadOfDropping() {
        val b = PacketBatcher<ByteArray>(
            PacketBatcher.Config(2, 10_000, 4, 10_000, 1_000_000, PacketBatcher.Overflow.BLOCK),
            { it.size },
        )
        val producerDone = CountDownLatch(1)
        val total = 200
        val producer = Thread {
            for (i in 0 until total) check(b.offer(byteArrayOf(i.toByte(), (i shr 8).toByte())))
            b.close()
            producerDone.countDown()
        }
        producer.start()
        val got = ArrayList<Int>()
        val maxQueued = AtomicLong()
        while (true) {
            maxQueued.set(maxOf(maxQueued.get(), b.stats().queuedPackets.toLong()))
            val batch = b.take(TimeUnit.MILLISECONDS.toNanos(50))
            if (batch.isEmpty() && producerDone.count == 0L && b.stats().queuedPackets == 0) break
            Thread.sleep(1) // a slow engine
            got += batch.map { (it[0].toInt() and 0xff) or ((it[1].toInt() and 0xff) shl 8) }
        }
        producer.join()
        assertEquals((0 until total).toList(), got)
        val s = b.stats()
        assertEquals(0L, s.shedPackets)
        assertTrue("queue exceeded its cap: ${maxQueued.get()}", maxQueued.get() <= 4)
        assertTrue("the producer never had to wait", s.blockedNanos > 0)
    }

    @Test
    fun blockModeGivesUpAfterItsWaitAndCounts() {
        val c = FakeClock()
        val b = batcher(c, PacketBatcher.Overflow.BLOCK, maxQueuedPackets = 4)
        repeat(4) { assertTrue(b.offer(ByteArray(1))) }
        assertFalse(b.offer(ByteArray(1), maxWaitNanos = TimeUnit.MILLISECONDS.toNanos(20)))
        assertEquals(1L, b.stats().shedPackets)
    }

    @Test
    fun closeWakesAWaitingProducerAndDrainsWhatIsLeft() {
        val b = PacketBatcher<ByteArray>(
            PacketBatcher.Config(4, 10_000, 4, 10_000, 60_000_000_000, PacketBatcher.Overflow.BLOCK),
            { it.size },
        )
        repeat(4) { b.offer(ByteArray(1)) }
        // Take one full batch so the queue has room... then refill and block.
        assertEquals(4, b.take(TimeUnit.SECONDS.toNanos(1)).size)
        repeat(4) { b.offer(ByteArray(1)) }
        val result = AtomicBoolean(true)
        val blocked = Thread { result.set(b.offer(ByteArray(1))) }
        blocked.start()
        Thread.sleep(50)
        b.close()
        blocked.join(2000)
        assertFalse(blocked.isAlive)
        assertFalse(result.get())
        assertEquals(4, b.take(TimeUnit.SECONDS.toNanos(1)).size)
        assertTrue(b.take(TimeUnit.MILLISECONDS.toNanos(10)).isEmpty())
        assertFalse(b.offer(ByteArray(1)))
    }

    @Test
    fun takeReturnsAPartialBatchWhenItsLingerRunsOut() {
        val b = PacketBatcher<ByteArray>(PacketBatcher.Config(lingerNanos = TimeUnit.MILLISECONDS.toNanos(5)), { it.size })
        b.offer(ByteArray(40))
        val start = System.nanoTime()
        assertEquals(1, b.take(TimeUnit.SECONDS.toNanos(5)).size)
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(2))
    }

    @Test(expected = IllegalArgumentException::class)
    fun refusesAQueueSmallerThanABatch() {
        PacketBatcher.Config(maxBatchPackets = 10, maxQueuedPackets = 5)
    }
}

package org.nightjar.vpn

import android.content.Context
import android.net.ConnectivityManager
import android.net.VpnService
import android.os.Build
import android.os.Handler
import android.os.HandlerThread
import android.os.Process
import androidx.test.core.app.ApplicationProvider
import androidx.test.ext.junit.runners.AndroidJUnit4
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.nightjar.ffi.AppInfo
import org.nightjar.ffi.EngineSettings
import org.nightjar.ffi.Mode
import org.nightjar.ffi.NightjarEngine
import org.nightjar.ffi.QueryFilter
import org.nightjar.ffi.defaultMemoryCaps
import java.net.DatagramPacket
import java.net.DatagramSocket
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.Socket
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

/**
 * On an emulator or device. VPN consent must be granted before the run (CI does
 * `adb shell appops set org.nightjar.vpn.test ACTIVATE_VPN allow`), since the consent dialog
 * cannot be answered from a test.
 */
@RunWith(AndroidJUnit4::class)
class NightjarVpnServiceTest {
    private val context: Context = ApplicationProvider.getApplicationContext()

    @Before
    fun consent() {
        assertNull(
            "no VPN consent: adb shell appops set ${context.packageName} ACTIVATE_VPN allow",
            VpnService.prepare(context),
        )
    }

    @After
    fun stop() {
        NightjarVpnService.stop(context)
        waitFor(5_000) { NightjarVpnService.running == null }
    }

    @Test
    fun theTunnelSeesAndAttributesOurOwnTraffic() {
        NightjarVpnService.start(context, TunnelConfig(routes = TunnelConfig.Routes.TEST_PREFIX))
        assertTrue("tunnel did not come up", waitFor(10_000) { NightjarVpnService.running != null })
        val service = NightjarVpnService.running!!

        // UDP and a TCP SYN into the routed test prefix; nothing answers, the tunnel observes.
        DatagramSocket().use { s ->
            val payload = "nightjar".toByteArray()
            repeat(5) { s.send(DatagramPacket(payload, payload.size, InetAddress.getByName("198.18.0.1"), 9)) }
        }
        runCatching { Socket().use { it.connect(InetSocketAddress("198.18.0.2", 80), 1_000) } }

        assertTrue("no flows seen: ${service.status()}", waitFor(10_000) { service.status().flowsCreated >= 2 })
        val st = service.status()
        assertTrue(st.packets >= 6)
        assertEquals(0L, st.engineErrors)

        // Stopping flushes live flows into the database; read it back with a fresh engine.
        NightjarVpnService.stop(context)
        assertTrue(waitFor(10_000) { NightjarVpnService.running == null })
        val db = java.io.File(context.noBackupFilesDir, "nightjar.db")
        val reader = NightjarEngine(EngineSettings(db.path, null, Mode.MONITOR, defaultMemoryCaps(), 1u))
        try {
            val flows = reader.queryFlows(QueryFilter(ip = "198.18.0.1"), null, 10u).items
            assertTrue("UDP flow not recorded", flows.isNotEmpty())
            assertEquals(17.toUByte(), flows[0].proto)
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
                // getConnectionOwnerUid named this test process as the owner.
                assertEquals(Process.myUid().toUInt(), flows[0].appUid)
            }
        } finally {
            reader.close()
        }
    }

    @Test
    fun theResolverAnswersOnlyWhileWeAreTheVpn() {
        val cm = context.getSystemService(ConnectivityManager::class.java)
        val r = ConnectionOwnerResolver(cm)
        // Not the active VPN: the platform refuses and the resolver says "unknown", not a crash.
        val key = org.nightjar.ffi.FlowKey5(17u, "10.0.2.15", 40000u, "198.18.0.1", 9u)
        assertNull(r.owner(key))
        assertNull(r.owner(org.nightjar.ffi.FlowKey5(1u, "10.0.2.15", 0u, "198.18.0.1", 0u)))
    }

    @Test
    fun theInventoryListsThisPackageWithItsInstallTime() {
        val ht = HandlerThread("inv-test").also { it.start() }
        val published = AtomicReference<List<AppInfo>>()
        val latch = CountDownLatch(1)
        val inv = AppInventory(context, Handler(ht.looper)) { published.set(it); latch.countDown() }
        Handler(ht.looper).post { inv.start() }
        assertTrue(latch.await(20, TimeUnit.SECONDS))
        val me = published.get().firstOrNull { it.uid == Process.myUid().toUInt() }
        assertNotNull("own uid missing from inventory", me)
        assertTrue(me!!.`package`.split(',').contains(context.packageName))
        assertTrue((me.installedUs ?: 0u) > 0u)
        inv.stop()
        ht.quitSafely()
    }

    @Test
    fun privateDnsIsClassified() {
        val cm = context.getSystemService(ConnectivityManager::class.java)
        val s = NetworkPosture.privateDns(context.contentResolver, cm, cm.activeNetwork)
        assertTrue(s.explanation.isNotEmpty())
    }

    private fun waitFor(ms: Long, cond: () -> Boolean): Boolean {
        val end = System.currentTimeMillis() + ms
        while (System.currentTimeMillis() < end) {
            if (cond()) return true
            Thread.sleep(100)
        }
        return cond()
    }
}

package org.nightjar.sample

import androidx.test.core.app.ActivityScenario
import androidx.test.ext.junit.runners.AndroidJUnit4
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.nightjar.vpn.NightjarVpnService

/**
 * The product path end to end in the emulator: tap Start, tap Send, see packets counted.
 * CI grants VPN consent first (`adb shell appops set org.nightjar.sample ACTIVATE_VPN allow`).
 */
@RunWith(AndroidJUnit4::class)
class StartTunnelTest {
    @Test
    fun startSendAndSeePackets() {
        ActivityScenario.launch(MainActivity::class.java).use { scenario ->
            scenario.onActivity { it.startButton.performClick() }
            assertTrue("tunnel did not start", waitFor(10_000) { NightjarVpnService.running != null })
            scenario.onActivity { it.trafficButton.performClick() }
            var text = ""
            val seen = waitFor(10_000) {
                scenario.onActivity { text = it.status.text.toString() }
                Regex("packets: (\\d+)").find(text)?.groupValues?.get(1)?.toLong()?.let { it >= 10 } == true
            }
            assertTrue("status never counted the packets: $text", seen)
            scenario.onActivity { it.startButton.performClick() }
            assertTrue(waitFor(10_000) { NightjarVpnService.running == null })
        }
    }

    private fun waitFor(ms: Long, cond: () -> Boolean): Boolean {
        val end = System.currentTimeMillis() + ms
        while (System.currentTimeMillis() < end) {
            if (cond()) return true
            Thread.sleep(200)
        }
        return cond()
    }
}

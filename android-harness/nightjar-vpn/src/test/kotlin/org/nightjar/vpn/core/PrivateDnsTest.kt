package org.nightjar.vpn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class PrivateDnsTest {
    @Test
    fun readsTheSetting() {
        assertEquals(PrivateDns.Mode.OFF, PrivateDns.parseMode("off"))
        assertEquals(PrivateDns.Mode.OPPORTUNISTIC, PrivateDns.parseMode("opportunistic"))
        assertEquals(PrivateDns.Mode.STRICT, PrivateDns.parseMode(" hostname "))
        // Never set: the platform default since Android 9 is automatic.
        assertEquals(PrivateDns.Mode.OPPORTUNISTIC, PrivateDns.parseMode(null))
        assertEquals(PrivateDns.Mode.UNKNOWN, PrivateDns.parseMode("doh"))
    }

    @Test
    fun classifiesWhatTheTunnelCanSee() {
        val v = PrivateDns.Visibility.entries.associateBy { it.name }
        assertEquals(v["VISIBLE"], PrivateDns.classify(27, "hostname", "dns.example", null, null).visibility)
        assertEquals(v["VISIBLE"], PrivateDns.classify(33, "off", null, false, null).visibility)
        assertEquals(v["AT_RISK"], PrivateDns.classify(33, null, null, false, null).visibility)
        assertEquals(v["AT_RISK"], PrivateDns.classify(33, "opportunistic", null, null, null).visibility)
        val strict = PrivateDns.classify(33, "hostname", "dns.example", false, null)
        assertEquals(v["HIDDEN"], strict.visibility)
        assertEquals("dns.example", strict.server)
        // Automatic mode that has upgraded: the link says so, with the server it found.
        val upgraded = PrivateDns.classify(33, "opportunistic", null, true, "dns.google")
        assertEquals(v["HIDDEN"], upgraded.visibility)
        assertTrue(upgraded.active)
        assertEquals("dns.google", upgraded.server)
        assertEquals(v["AT_RISK"], PrivateDns.classify(34, "doh", null, false, null).visibility)
    }

    @Test
    fun lockdownDecidesWhatFailingOpenMeans() {
        val lockdown = VpnPosture(34, alwaysOn = true, lockdown = true)
        assertTrue(lockdown.mustKeepTunnelOnError)
        assertTrue(lockdown.exclusionsCutApps)
        assertEquals(2, lockdown.warnings().size)
        val plain = VpnPosture(34, alwaysOn = false, lockdown = false)
        assertFalse(plain.mustKeepTunnelOnError)
        assertFalse(plain.exclusionsCutApps)
        assertEquals(1, plain.warnings().size)
        // API 28 cannot tell: assume the worst.
        val old = VpnPosture(28, null, null)
        assertTrue(old.mustKeepTunnelOnError)
        assertFalse(old.exclusionsCutApps)
        assertEquals(1, old.warnings().size)
    }
}

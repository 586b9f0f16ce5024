package org.nightjar.vpn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class InventoryTest {
    private fun pkg(name: String, uid: Int, installed: Long = 1_000, updated: Long = installed, label: String? = name) =
        InstalledPackage(name, uid, label, installed, updated)

    @Test
    fun diffFindsAddedRemovedAndUpdated() {
        val before = listOf(pkg("a", 10001), pkg("b", 10002), pkg("c", 10003))
        val after = listOf(pkg("a", 10001), pkg("b", 10002, updated = 5_000), pkg("d", 10004))
        val d = InventoryDiff.between(before, after)
        assertEquals(listOf("d"), d.added.map { it.packageName })
        assertEquals(listOf("c"), d.removed.map { it.packageName })
        assertEquals(listOf("b"), d.updated.map { it.second.packageName })
        assertEquals(5_000L, d.updated[0].second.lastUpdateTimeMs)
        assertTrue(InventoryDiff.between(after, after).isEmpty)
    }

    @Test
    fun trackerFollowsBroadcasts() {
        val t = InventoryTracker()
        val first = t.replaceAll(listOf(pkg("a", 10001), pkg("b", 10002)))
        assertEquals(2, first.added.size)
        // An app is installed while we run.
        val add = t.apply("flashlight", pkg("flashlight", 10099, installed = 9_000))
        assertEquals(listOf("flashlight"), add.added.map { it.packageName })
        // It is updated: the removal half of the update is ignored, the REPLACED refreshes.
        assertEquals(BroadcastKind.IGNORE, BroadcastKind.of("android.intent.action.PACKAGE_REMOVED", replacing = true))
        assertEquals(BroadcastKind.REFRESH, BroadcastKind.of("android.intent.action.PACKAGE_REPLACED", replacing = true))
        val upd = t.apply("flashlight", pkg("flashlight", 10099, installed = 9_000, updated = 12_000))
        assertEquals(12_000L, upd.updated.single().second.lastUpdateTimeMs)
        // And uninstalled.
        assertEquals(BroadcastKind.REMOVE, BroadcastKind.of("android.intent.action.PACKAGE_REMOVED", replacing = false))
        assertEquals(BroadcastKind.REMOVE, BroadcastKind.of("android.intent.action.PACKAGE_FULLY_REMOVED", replacing = false))
        val rm = t.apply("flashlight", null)
        assertEquals(listOf("flashlight"), rm.removed.map { it.packageName })
        assertEquals(listOf("a", "b"), t.packages().map { it.packageName })
        assertEquals(BroadcastKind.IGNORE, BroadcastKind.of("android.intent.action.BOOT_COMPLETED", false))
    }

    @Test
    fun aRestartSeesWhatChangedWhileItWasNotRunning() {
        val t = InventoryTracker()
        t.replaceAll(listOf(pkg("a", 10001), pkg("b", 10002)))
        val d = t.replaceAll(listOf(pkg("a", 10001, updated = 7_000), pkg("c", 10003)))
        assertEquals(listOf("c"), d.added.map { it.packageName })
        assertEquals(listOf("b"), d.removed.map { it.packageName })
        assertEquals(listOf("a"), d.updated.map { it.first.packageName })
    }

    @Test
    fun sharedUidsMergeIntoOneApp() {
        val t = InventoryTracker()
        t.replaceAll(
            listOf(
                pkg("com.android.settings", 1000, installed = 500, updated = 800, label = "Settings"),
                pkg("android", 1000, installed = 100, updated = 900, label = null),
                pkg("org.example.app", 10123, installed = 2_000),
                pkg("never.updated", 10124, installed = 0, updated = 0),
            ),
        )
        val apps = t.byUid()
        assertEquals(listOf(1000, 10123, 10124), apps.map { it.uid })
        val system = apps[0]
        assertEquals("android,com.android.settings", system.packageField)
        assertEquals("Settings", system.label)
        assertEquals(100L, system.installedMs)
        assertEquals(900L, system.updatedMs)
        assertEquals("org.example.app", apps[1].packageField)
        // PackageManager reports 0 when it does not know: that is "unknown", not 1970.
        assertNull(apps[2].installedMs)
        assertNull(apps[2].updatedMs)
    }
}

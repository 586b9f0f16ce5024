package org.nightjar.vpn.core

/** One installed package, as PackageManager reports it (times in ms since the epoch). */
data class InstalledPackage(
    val packageName: String,
    val uid: Int,
    val label: String?,
    val firstInstallTimeMs: Long,
    val lastUpdateTimeMs: Long,
)

/**
 * What the engine is told about one uid. The engine keys apps by uid, and Android lets
 * several packages share one (`android:sharedUserId`, e.g. the system uid 1000), so packages
 * of a uid are merged: names sorted and joined with ",", the earliest install, the latest
 * update (a first contact after *any* of them updating is worth attention).
 */
data class UidApp(
    val uid: Int,
    val packages: List<String>,
    val label: String?,
    val installedMs: Long?,
    val updatedMs: Long?,
) {
    val packageField: String get() = packages.joinToString(",")
}

/** The difference between two inventory snapshots, by package name. */
data class InventoryDiff(
    val added: List<InstalledPackage>,
    val removed: List<InstalledPackage>,
    /** Same package, new `lastUpdateTime`, uid or label: (before, after). */
    val updated: List<Pair<InstalledPackage, InstalledPackage>>,
) {
    val isEmpty: Boolean get() = added.isEmpty() && removed.isEmpty() && updated.isEmpty()

    companion object {
        fun between(before: Collection<InstalledPackage>, after: Collection<InstalledPackage>): InventoryDiff {
            val old = before.associateBy { it.packageName }
            val new = after.associateBy { it.packageName }
            val added = new.values.filter { it.packageName !in old }.sortedBy { it.packageName }
            val removed = old.values.filter { it.packageName !in new }.sortedBy { it.packageName }
            val updated = new.values.mapNotNull { n ->
                val o = old[n.packageName] ?: return@mapNotNull null
                if (o != n) o to n else null
            }.sortedBy { it.second.packageName }
            return InventoryDiff(added, removed, updated)
        }
    }
}

/**
 * The current inventory, kept up to date by package broadcasts. The Android side reads
 * PackageManager once at start ([replaceAll]) and then, for every `ACTION_PACKAGE_*`
 * broadcast, re-reads just that package and calls [apply] with what it found (`null` when
 * the package is gone). Broadcasts can be missed (the service was not running), so the
 * service also calls [replaceAll] on start; the diff tells what changed meanwhile.
 *
 * Not thread-safe: the service calls it from its one handler thread.
 */
class InventoryTracker {
    private val byName = HashMap<String, InstalledPackage>()

    /** Replaces the whole inventory with a fresh PackageManager listing; returns the diff. */
    fun replaceAll(listing: Collection<InstalledPackage>): InventoryDiff {
        val diff = InventoryDiff.between(byName.values.toList(), listing)
        byName.clear()
        for (p in listing) byName[p.packageName] = p
        return diff
    }

    /**
     * One package changed: `now` is what PackageManager says after the broadcast, or `null`
     * if the package is no longer installed. `ACTION_PACKAGE_REMOVED` with
     * `EXTRA_REPLACING` is followed by `ACTION_PACKAGE_ADDED`/`REPLACED`; the caller skips
     * the first (see [BroadcastKind]).
     */
    fun apply(packageName: String, now: InstalledPackage?): InventoryDiff {
        val before = byName[packageName]
        if (now == null) byName.remove(packageName) else byName[packageName] = now
        return InventoryDiff.between(listOfNotNull(before), listOfNotNull(now))
    }

    fun packages(): List<InstalledPackage> = byName.values.sortedBy { it.packageName }

    /** The per-uid view the engine takes (`NightjarEngine.setAppInventory`), sorted by uid. */
    fun byUid(): List<UidApp> = byName.values.groupBy { it.uid }.map { (uid, pkgs) ->
        val sorted = pkgs.sortedBy { it.packageName }
        UidApp(
            uid = uid,
            packages = sorted.map { it.packageName },
            label = if (sorted.size == 1) sorted[0].label else sorted.mapNotNull { it.label }.firstOrNull(),
            installedMs = sorted.minOf { it.firstInstallTimeMs }.takeIf { it > 0 },
            updatedMs = sorted.maxOf { it.lastUpdateTimeMs }.takeIf { it > 0 },
        )
    }.sortedBy { it.uid }
}

/** What a package broadcast means for the inventory. */
enum class BroadcastKind {
    /** Re-read the package (it was added, replaced or changed). */
    REFRESH,

    /** Forget the package. */
    REMOVE,

    /** Nothing to do yet: the removal half of an update, a REPLACED/ADDED broadcast follows. */
    IGNORE;

    companion object {
        /** `action` is the intent action; `replacing` is `Intent.EXTRA_REPLACING`. */
        fun of(action: String, replacing: Boolean): BroadcastKind = when (action) {
            "android.intent.action.PACKAGE_ADDED",
            "android.intent.action.PACKAGE_REPLACED",
            "android.intent.action.PACKAGE_CHANGED",
            -> REFRESH
            "android.intent.action.PACKAGE_REMOVED" -> if (replacing) IGNORE else REMOVE
            "android.intent.action.PACKAGE_FULLY_REMOVED" -> REMOVE
            else -> IGNORE
        }
    }
}

package org.nightjar.vpn

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.content.pm.PackageInfo
import android.content.pm.PackageManager
import android.os.Build
import android.os.Handler
import android.util.Log
import org.nightjar.ffi.AppInfo
import org.nightjar.vpn.core.BroadcastKind
import org.nightjar.vpn.core.InstalledPackage
import org.nightjar.vpn.core.InventoryDiff
import org.nightjar.vpn.core.InventoryTracker
import org.nightjar.vpn.core.UidApp

/**
 * The installed apps, with `firstInstallTime` and `lastUpdateTime`, kept current through
 * package broadcasts and pushed to the engine (`setAppInventory`) after every change: the
 * engine names flows by uid and its detectors look for first contacts after an install or
 * update.
 *
 * Seeing every package needs `QUERY_ALL_PACKAGES` on API 30+ (declared by this library;
 * Google Play allows it for apps whose core purpose needs it, such as device security; say
 * so in the Play declaration). Without it, the inventory holds only visible packages.
 *
 * All work happens on `handler`'s thread.
 */
class AppInventory(
    private val context: Context,
    private val handler: Handler,
    private val publish: (List<AppInfo>) -> Unit,
) {
    private val tracker = InventoryTracker()
    private val pm: PackageManager = context.packageManager

    private val receiver = object : BroadcastReceiver() {
        override fun onReceive(ctx: Context, intent: Intent) {
            val name = intent.data?.schemeSpecificPart ?: return
            val replacing = intent.getBooleanExtra(Intent.EXTRA_REPLACING, false)
            when (BroadcastKind.of(intent.action ?: return, replacing)) {
                BroadcastKind.REFRESH -> changed(tracker.apply(name, read(name)))
                BroadcastKind.REMOVE -> changed(tracker.apply(name, null))
                BroadcastKind.IGNORE -> Unit
            }
        }
    }

    /** Reads PackageManager in full and starts listening. Call on `handler`'s thread. */
    fun start() {
        val filter = IntentFilter().apply {
            addAction(Intent.ACTION_PACKAGE_ADDED)
            addAction(Intent.ACTION_PACKAGE_REPLACED)
            addAction(Intent.ACTION_PACKAGE_CHANGED)
            addAction(Intent.ACTION_PACKAGE_REMOVED)
            addAction(Intent.ACTION_PACKAGE_FULLY_REMOVED)
            addDataScheme("package")
        }
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            context.registerReceiver(receiver, filter, null, handler, Context.RECEIVER_NOT_EXPORTED)
        } else {
            context.registerReceiver(receiver, filter, null, handler)
        }
        changed(tracker.replaceAll(listAll()), force = true)
    }

    /** Pushes the current inventory again (to an engine that was just recreated). */
    fun republish() = publish(tracker.byUid().map(::toAppInfo))

    fun stop() {
        runCatching { context.unregisterReceiver(receiver) }
    }

    /** The engine's view, for tests and diagnostics. */
    fun snapshot(): List<UidApp> = tracker.byUid()

    private fun changed(diff: InventoryDiff, force: Boolean = false) {
        if (diff.isEmpty && !force) return
        Log.i(TAG, "inventory: +${diff.added.size} -${diff.removed.size} ~${diff.updated.size}")
        publish(tracker.byUid().map(::toAppInfo))
    }

    private fun listAll(): List<InstalledPackage> = installedPackages().mapNotNull(::toInstalled)

    private fun read(name: String): InstalledPackage? = try {
        toInstalled(packageInfo(name))
    } catch (e: PackageManager.NameNotFoundException) {
        null
    }

    @Suppress("DEPRECATION")
    private fun installedPackages(): List<PackageInfo> =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            pm.getInstalledPackages(PackageManager.PackageInfoFlags.of(0))
        } else {
            pm.getInstalledPackages(0)
        }

    @Suppress("DEPRECATION")
    private fun packageInfo(name: String): PackageInfo =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            pm.getPackageInfo(name, PackageManager.PackageInfoFlags.of(0))
        } else {
            pm.getPackageInfo(name, 0)
        }

    private fun toInstalled(p: PackageInfo): InstalledPackage? {
        val app = p.applicationInfo ?: return null
        return InstalledPackage(
            packageName = p.packageName,
            uid = app.uid,
            label = runCatching { pm.getApplicationLabel(app).toString() }.getOrNull(),
            firstInstallTimeMs = p.firstInstallTime,
            lastUpdateTimeMs = p.lastUpdateTime,
        )
    }

    private fun toAppInfo(a: UidApp) = AppInfo(
        uid = a.uid.toUInt(),
        `package` = a.packageField,
        label = a.label,
        installedUs = a.installedMs?.let { (it * 1000).toULong() },
        updatedUs = a.updatedMs?.let { (it * 1000).toULong() },
    )

    private companion object {
        const val TAG = "NightjarInventory"
    }
}

package org.nightjar.vpn

import android.content.ContentResolver
import android.net.ConnectivityManager
import android.net.Network
import android.net.VpnService
import android.os.Build
import android.provider.Settings
import org.nightjar.vpn.core.PrivateDns
import org.nightjar.vpn.core.VpnPosture

/**
 * Reads what limits the telemetry: Private DNS (DNS over TLS hides names) and always-on /
 * lockdown (which decides what failing open means). The decisions are in the Android-free
 * [PrivateDns] and [VpnPosture], tested on the host.
 */
object NetworkPosture {
    /**
     * `network` is the one the traffic leaves by (the underlying network, not the VPN): its
     * LinkProperties say whether DoT is in force now.
     */
    fun privateDns(resolver: ContentResolver, connectivity: ConnectivityManager, network: Network?): PrivateDns.Status {
        val api = Build.VERSION.SDK_INT
        if (api < Build.VERSION_CODES.P) return PrivateDns.classify(api, null, null, null, null)
        // Not in the public Settings.Global constants, but readable by any app.
        val mode = Settings.Global.getString(resolver, "private_dns_mode")
        val specifier = Settings.Global.getString(resolver, "private_dns_specifier")
        val link = network?.let { connectivity.getLinkProperties(it) }
        return PrivateDns.classify(api, mode, specifier, link?.isPrivateDnsActive, link?.privateDnsServerName)
    }

    fun vpn(service: VpnService): VpnPosture =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            VpnPosture(Build.VERSION.SDK_INT, service.isAlwaysOn, service.isLockdownEnabled)
        } else {
            VpnPosture(Build.VERSION.SDK_INT, null, null)
        }
}

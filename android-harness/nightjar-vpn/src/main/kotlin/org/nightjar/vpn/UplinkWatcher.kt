package org.nightjar.vpn

import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.os.Build
import android.util.Log
import org.nightjar.ffi.NightjarEngine
import org.nightjar.ffi.NightjarException

/**
 * Tells relay mode when the uplink changes (Wi-Fi to cellular, a new address, the network
 * lost), so connections relayed on the old path are reset at once instead of hanging until
 * the apps' own timeouts, and the encrypted DNS upstream is dialled again.
 *
 * Watches the best non-VPN network with internet: the relay's own sockets are protected, so
 * they leave by it, not by the tunnel. `engine.networkChanged` is called with the new path's
 * addresses when the network or its addresses change, and with none when it is lost (every
 * relayed connection is then on the old path).
 */
class UplinkWatcher(
    private val connectivity: ConnectivityManager,
    private val engine: () -> NightjarEngine?,
) {
    private var current: Network? = null
    private var addresses: List<String> = emptyList()

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onLinkPropertiesChanged(network: Network, lp: LinkProperties) {
            val now = lp.linkAddresses.map { it.address.hostAddress ?: "" }.filter { it.isNotEmpty() }.sorted()
            synchronized(this@UplinkWatcher) {
                if (network == current && now == addresses) return
                val first = current == null
                current = network
                addresses = now
                // The first report is the path the relay started on: nothing to reset.
                if (first) return
            }
            report(now)
        }

        override fun onLost(network: Network) {
            synchronized(this@UplinkWatcher) {
                if (network != current) return
                current = null
                addresses = emptyList()
            }
            report(emptyList())
        }
    }

    private fun report(addrs: List<String>) {
        val e = engine() ?: return
        try {
            val change = e.networkChanged(addrs)
            Log.i(TAG, "uplink changed: ${change.tcpReset} tcp reset, ${change.udpDropped} udp dropped, dns redialled ${change.dnsRedialled}")
        } catch (ex: NightjarException) {
            Log.w(TAG, "network_changed", ex)
        }
    }

    fun start() {
        val request = NetworkRequest.Builder()
            .addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_VPN)
            .build()
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            // The one network the system would pick for this request: the uplink.
            connectivity.registerBestMatchingNetworkCallback(request, callback, null)
        } else {
            // The app is excluded from its own VPN (addDisallowedApplication), so its default
            // network is the uplink.
            connectivity.registerDefaultNetworkCallback(callback)
        }
    }

    fun stop() {
        runCatching { connectivity.unregisterNetworkCallback(callback) }
    }

    private companion object {
        const val TAG = "NightjarUplink"
    }
}

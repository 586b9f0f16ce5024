package org.nightjar.vpn.core

/**
 * Android Private DNS (DNS over TLS, Android 9+) and what it leaves Nightjar able to see.
 *
 * Inputs are what the platform exposes: the setting `Settings.Global.private_dns_mode`
 * (`"off"`, `"opportunistic"`, `"hostname"`; absent means the platform default,
 * opportunistic), `private_dns_specifier` (the strict-mode host), and, for the network the
 * traffic actually uses, `LinkProperties.isPrivateDnsActive()` and
 * `getPrivateDnsServerName()` (API 28). The setting says what the user chose; the link
 * properties say what is in force now (opportunistic mode only upgrades when the resolver
 * answers on port 853).
 */
object PrivateDns {
    enum class Mode { OFF, OPPORTUNISTIC, STRICT, UNKNOWN }

    /** How much of the device's DNS the tunnel can read. */
    enum class Visibility {
        /** Plain DNS on port 53: Nightjar reads every query and answer. */
        VISIBLE,

        /**
         * Opportunistic mode not upgraded yet: plain now, but the OS may switch to DoT at
         * any time (it probes port 853 of the resolver); DNS names may disappear later.
         */
        AT_RISK,

        /**
         * DoT in force: queries go encrypted to port 853. Nightjar sees the flows to the
         * resolver (coverage reports them as encrypted DNS) but no names; flows are then
         * named by SNI or not at all.
         */
        HIDDEN,
    }

    data class Status(
        val mode: Mode,
        val active: Boolean,
        /** The DoT server in use or configured (strict hostname), if known. */
        val server: String?,
        val visibility: Visibility,
        /** One sentence for the app's diagnostics screen. */
        val explanation: String,
    )

    fun parseMode(setting: String?): Mode = when (setting?.trim()?.lowercase()) {
        null, "" -> Mode.OPPORTUNISTIC // the platform default since Android 9
        "off" -> Mode.OFF
        "opportunistic" -> Mode.OPPORTUNISTIC
        "hostname" -> Mode.STRICT
        else -> Mode.UNKNOWN
    }

    /**
     * `apiLevel` below 28 has no Private DNS: everything is visible. `linkActive` and
     * `linkServer` come from the active network's LinkProperties (null when unknown).
     */
    fun classify(
        apiLevel: Int,
        modeSetting: String?,
        specifier: String?,
        linkActive: Boolean?,
        linkServer: String?,
    ): Status {
        if (apiLevel < 28) {
            return Status(Mode.OFF, false, null, Visibility.VISIBLE, "Android ${apiLevel}: no Private DNS, DNS is plain.")
        }
        val mode = parseMode(modeSetting)
        val strictHost = specifier?.trim()?.takeIf { it.isNotEmpty() }
        return when {
            linkActive == true -> Status(
                mode, true, linkServer?.takeIf { it.isNotEmpty() } ?: strictHost, Visibility.HIDDEN,
                "Private DNS is active: DNS is encrypted (DoT, port 853), names come only from TLS/QUIC SNI.",
            )
            mode == Mode.STRICT -> Status(
                mode, false, strictHost, Visibility.HIDDEN,
                "Private DNS is set to ${strictHost ?: "a hostname"}: DNS is encrypted or fails; no names from DNS.",
            )
            mode == Mode.OPPORTUNISTIC -> Status(
                mode, false, null, Visibility.AT_RISK,
                "Private DNS is automatic and not in use now: DNS is plain, but may switch to encrypted.",
            )
            mode == Mode.OFF -> Status(mode, false, null, Visibility.VISIBLE, "Private DNS is off: DNS is plain.")
            else -> Status(
                mode, false, null, Visibility.AT_RISK,
                "Private DNS mode '${modeSetting}' is not one this build knows; DNS may be encrypted.",
            )
        }
    }
}

/**
 * Always-on VPN and lockdown ("Block connections without VPN"), from
 * `VpnService.isAlwaysOn()` and `isLockdownEnabled()` (API 29; below that unknown), and what
 * the service must do differently.
 */
data class VpnPosture(val apiLevel: Int, val alwaysOn: Boolean?, val lockdown: Boolean?) {
    /**
     * In lockdown the device has no network while the tunnel is down, so failing open means
     * keeping the tunnel up and passing packets, never stopping the service on an engine
     * error. Unknown (API < 29) is treated as lockdown: the safe assumption.
     */
    val mustKeepTunnelOnError: Boolean get() = lockdown != false

    /**
     * Apps excluded with `addDisallowedApplication` have no network at all under lockdown
     * (they cannot bypass), so exclusions must be avoided there.
     */
    val exclusionsCutApps: Boolean get() = lockdown == true

    fun warnings(): List<String> = buildList {
        if (apiLevel < 29) add("Android $apiLevel cannot report always-on or lockdown; assuming lockdown.")
        if (lockdown == true) {
            add("Lockdown is on: if the tunnel stops, the device has no network.")
            add("Lockdown is on: excluded apps have no network; exclude none.")
        }
        if (alwaysOn == false) add("Always-on VPN is off: telemetry stops when the user or the OS stops the tunnel.")
    }
}

// The Android harness: the `nightjar-vpn` library (VpnService, attribution, inventory,
// posture; plain-Kotlin logic in org.nightjar.vpn.core) and a sample app that starts it.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "nightjar-android-harness"
include(":nightjar-vpn", ":sample-app")

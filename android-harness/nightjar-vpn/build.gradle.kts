// The library module. Its Kotlin sources are the harness plus the generated UniFFI bindings
// (../../bindings/generated/kotlin, committed and checked for staleness by the bindings'
// tests); its native library is libnightjar_ffi.so for each ABI, built by cargo-ndk.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootDir.parentFile
val abis = (findProperty("nightjar.abis") as String? ?: "arm64-v8a,x86_64").split(',').map { it.trim() }
val jniDir = layout.projectDirectory.dir("src/main/jniLibs")

android {
    namespace = "org.nightjar.vpn"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].java.srcDirs("src/main/kotlin", repoRoot.resolve("bindings/generated/kotlin"))
    sourceSets["test"].java.srcDirs("src/test/kotlin")
    sourceSets["androidTest"].java.srcDirs("src/androidTest/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    testOptions { unitTests.isReturnDefaultValues = false }
}

dependencies {
    // UniFFI's Kotlin calls the native library through JNA (the AAR carries its .so files).
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    testImplementation("junit:junit:4.13.2")
    androidTestImplementation("androidx.test:runner:1.6.2")
    androidTestImplementation("androidx.test:rules:1.6.1")
    androidTestImplementation("androidx.test.ext:junit:1.2.1")
    androidTestImplementation("junit:junit:4.13.2")
}

// cargo ndk -t arm64-v8a -t x86_64 -o src/main/jniLibs build --release -p nightjar-ffi
val cargoNdk by tasks.registering(Exec::class) {
    description = "Builds libnightjar_ffi.so for ${abis.joinToString()} with cargo-ndk"
    group = "build"
    workingDir = repoRoot
    val args = mutableListOf("cargo", "ndk", "--platform", "26")
    abis.forEach { args += listOf("-t", it) }
    args += listOf("-o", jniDir.asFile.path, "build", "--release", "-p", "nightjar-ffi", "--lib")
    commandLine(args)
    inputs.dir(repoRoot.resolve("bindings/src"))
    inputs.dir(repoRoot.resolve("core"))
    outputs.dir(jniDir)
    onlyIf { (findProperty("nightjar.buildRust") as String?) != "false" }
}

val checkJniLibs by tasks.registering {
    dependsOn(cargoNdk)
    doLast {
        val missing = abis.filterNot { jniDir.file("$it/libnightjar_ffi.so").asFile.isFile }
        check(missing.isEmpty()) { "libnightjar_ffi.so missing for $missing: run cargo ndk (see README)" }
    }
}
tasks.named("preBuild") { dependsOn(checkJniLibs) }

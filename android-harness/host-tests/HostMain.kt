// Runs the library module's JVM unit tests (src/test) on the host with JUnit 4, without
// Gradle or the Android SDK, and ends with the line `N passed, M failed`.
import org.junit.runner.JUnitCore
import org.junit.runner.Description
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val classes = args.map { Class.forName(it) }
    val core = JUnitCore()
    var failedNow = false
    core.addListener(object : RunListener() {
        override fun testStarted(d: Description) { failedNow = false }
        override fun testFailure(f: Failure) {
            failedNow = true
            println("FAIL ${f.description.className}.${f.description.methodName}: ${f.message}")
            println(f.trace)
        }
        override fun testAssumptionFailure(f: Failure) {
            println("SKIPPED ${f.description.className}.${f.description.methodName}: ${f.message}")
        }
        override fun testFinished(d: Description) {
            if (!failedNow) println("PASS ${d.className}.${d.methodName}")
        }
    })
    val r = core.run(*classes.toTypedArray())
    val failed = r.failureCount
    val skipped = r.assumptionFailureCount + r.ignoreCount
    val passed = r.runCount - failed - r.assumptionFailureCount
    println("$passed passed, $failed failed, $skipped skipped")
    exitProcess(if (failed == 0 && r.runCount > 0) 0 else 1)
}

package org.nightjar.sample

import android.app.Activity
import android.content.Intent
import android.net.VpnService
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import org.nightjar.vpn.NightjarVpnService
import org.nightjar.vpn.TunnelConfig
import java.net.DatagramPacket
import java.net.DatagramSocket
import java.net.InetAddress
import kotlin.concurrent.thread

/**
 * Start/stop the tunnel (test routes only: 198.18.0.0/15), send a few datagrams into it and
 * watch the engine count them. Views are built in code to keep the sample dependency-free.
 */
class MainActivity : Activity() {
    lateinit var status: TextView
        private set
    lateinit var startButton: Button
        private set
    lateinit var trafficButton: Button
        private set
    private val ui = Handler(Looper.getMainLooper())

    private val refresh = object : Runnable {
        override fun run() {
            status.text = describe()
            ui.postDelayed(this, 500)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        status = TextView(this).apply { contentDescription = "status" }
        startButton = Button(this).apply {
            text = "Start tunnel"
            contentDescription = "start"
            setOnClickListener { toggle() }
        }
        trafficButton = Button(this).apply {
            text = "Send test traffic"
            contentDescription = "traffic"
            setOnClickListener { sendTestTraffic() }
        }
        setContentView(
            LinearLayout(this).apply {
                orientation = LinearLayout.VERTICAL
                addView(startButton)
                addView(trafficButton)
                addView(status)
            },
        )
    }

    override fun onResume() {
        super.onResume()
        ui.post(refresh)
    }

    override fun onPause() {
        ui.removeCallbacks(refresh)
        super.onPause()
    }

    private fun toggle() {
        if (NightjarVpnService.running != null) {
            NightjarVpnService.stop(this)
            return
        }
        // The system asks the user once; the answer arrives in onActivityResult.
        val consent = VpnService.prepare(this)
        if (consent != null) startActivityForResult(consent, REQUEST_VPN) else startTunnel()
    }

    @Deprecated("Activity result API kept minimal for the sample")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode == REQUEST_VPN && resultCode == RESULT_OK) startTunnel()
    }

    private fun startTunnel() = NightjarVpnService.start(this, TunnelConfig(routes = TunnelConfig.Routes.TEST_PREFIX))

    private fun sendTestTraffic() = thread(name = "test-traffic") {
        DatagramSocket().use { s ->
            val msg = "hello nightjar".toByteArray()
            repeat(10) { s.send(DatagramPacket(msg, msg.size, InetAddress.getByName("198.18.0.1"), 9)) }
        }
    }

    private fun describe(): String {
        val svc = NightjarVpnService.running ?: return "tunnel: stopped"
        val s = svc.status()
        return buildString {
            appendLine("tunnel: running (${s.config.mode}, ${s.config.routes})")
            appendLine("packets: ${s.packets}")
            appendLine("flows: ${s.flowsCreated} (attributed ${s.flowsAttributed})")
            appendLine("shed: ${s.shedByBatcher}, engine errors: ${s.engineErrors}")
            appendLine("private DNS: ${s.privateDns.visibility} - ${s.privateDns.explanation}")
            s.posture.warnings().forEach { appendLine(it) }
            s.lastError?.let { appendLine("last error: $it") }
        }
    }

    private companion object {
        const val REQUEST_VPN = 1
    }
}

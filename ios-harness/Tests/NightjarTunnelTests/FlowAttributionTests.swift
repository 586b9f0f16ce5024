import XCTest
import NightjarFFI
@testable import NightjarTunnel

final class FlowAttributionTests: XCTestCase {
    private let device: [UInt8] = [198, 18, 0, 2]
    private let peer: [UInt8] = [198, 18, 0, 1]

    func testParsesV4AndV6Tuples() throws {
        let t = try XCTUnwrap(PacketTuple.parse(Build.udp4(device, 50000, peer, 53)))
        XCTAssertEqual(t, PacketTuple(proto: 17, source: device, sourcePort: 50000, destination: peer, destinationPort: 53))
        let v6src: [UInt8] = [0xfd, 0x6e, 0x6a, 0] + Array(repeating: 0, count: 11) + [2]
        let v6dst: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]
        let tcp: [UInt8] = [0x01, 0xbb, 0x00, 0x50] + Array(repeating: 0, count: 16)
        let t6 = try XCTUnwrap(PacketTuple.parse(Build.ipv6(src: v6src, dst: v6dst, next: 6, payload: tcp)))
        XCTAssertEqual(t6.proto, 6)
        XCTAssertEqual(t6.sourcePort, 443)
        XCTAssertEqual(t6.destinationPort, 80)
        XCTAssertEqual(t6.destination, v6dst)
    }

    func testLaterFragmentsAndOtherProtocolsHaveNoPorts() throws {
        let frag = Build.ipv4(src: device, dst: peer, proto: 17, payload: Build.udp(srcPort: 1, dstPort: 2, body: []), fragmentOffset: 10)
        XCTAssertEqual(try XCTUnwrap(PacketTuple.parse(frag)).sourcePort, 0)
        let icmp = Build.ipv4(src: device, dst: peer, proto: 1, payload: [8, 0, 0, 0, 0, 1, 0, 1])
        XCTAssertEqual(try XCTUnwrap(PacketTuple.parse(icmp)).destinationPort, 0)
    }

    func testEveryPrefixAndByteFlipIsSafe() {
        let p = [UInt8](Build.udp4(device, 50000, peer, 53))
        for n in 0...p.count { _ = PacketTuple.parse(Data(p[0..<n])) }
        for i in p.indices {
            for v: UInt8 in [0x00, 0x0f, 0x4f, 0x60, 0xff] {
                var q = p
                q[i] = v
                _ = PacketTuple.parse(Data(q))
            }
        }
        XCTAssertNil(PacketTuple.parse(Data()))
        XCTAssertNil(PacketTuple.parse(Data([0x4f] + Array(repeating: 0, count: 30))), "IHL beyond the packet")
        XCTAssertNil(PacketTuple.parse(Data([0x60] + Array(repeating: 0, count: 30))), "short IPv6 header")
    }

    func testAddressLiteralsOnly() {
        XCTAssertEqual(PacketTuple.ipBytes("198.18.0.1"), [198, 18, 0, 1])
        XCTAssertEqual(PacketTuple.ipBytes("::1")?.count, 16)
        XCTAssertNil(PacketTuple.ipBytes("example.com"))
        XCTAssertNil(PacketTuple.ipBytes("1.2.3"))
    }

    func testTheResolverAnswersForTheAppThatSentTheFlow() {
        let r = PerAppResolver()
        r.record(outbound: Build.udp4(device, 50000, peer, 53), signingIdentifier: "com.example.weather")
        r.record(outbound: Build.udp4(device, 50001, peer, 53), signingIdentifier: "com.example.news")
        r.record(outbound: Build.udp4(device, 50002, peer, 53), signingIdentifier: nil)
        let weather = r.owner(flow: FlowKey5(protocol: 17, localIp: "198.18.0.2", localPort: 50000, remoteIp: "198.18.0.1", remotePort: 53))
        let news = r.owner(flow: FlowKey5(protocol: 17, localIp: "198.18.0.2", localPort: 50001, remoteIp: "198.18.0.1", remotePort: 53))
        XCTAssertEqual(weather, PerAppResolver.firstUid)
        XCTAssertEqual(news, PerAppResolver.firstUid + 1)
        XCTAssertNil(r.owner(flow: FlowKey5(protocol: 17, localIp: "198.18.0.2", localPort: 50002, remoteIp: "198.18.0.1", remotePort: 53)))
        XCTAssertNil(r.owner(flow: FlowKey5(protocol: 6, localIp: "198.18.0.2", localPort: 50000, remoteIp: "198.18.0.1", remotePort: 53)))
        XCTAssertEqual(r.snapshot(), ["com.example.weather": 100_000, "com.example.news": 100_001])
    }

    func testIdsSurviveARestartAndTheTablesAreBounded() {
        let r = PerAppResolver(maxFlows: 3, maxApps: 2, known: ["com.example.a": 100_007])
        XCTAssertEqual(r.uid(for: "com.example.a"), 100_007)
        XCTAssertEqual(r.uid(for: "com.example.b"), 100_008)
        XCTAssertNil(r.uid(for: "com.example.c"), "beyond maxApps")
        XCTAssertEqual(r.refusedApps, 1)
        for port: UInt16 in 1...5 {
            r.record(outbound: Build.udp4(device, port, peer, 53), signingIdentifier: "com.example.a")
        }
        XCTAssertEqual(r.rememberedFlows, 3)
        XCTAssertEqual(r.forgottenFlows, 2)
        XCTAssertNil(r.owner(flow: FlowKey5(protocol: 17, localIp: "198.18.0.2", localPort: 1, remoteIp: "198.18.0.1", remotePort: 53)))
        XCTAssertEqual(r.owner(flow: FlowKey5(protocol: 17, localIp: "198.18.0.2", localPort: 5, remoteIp: "198.18.0.1", remotePort: 53)), 100_007)
    }
}

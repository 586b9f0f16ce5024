import Foundation

/// Packets built by hand for the tests (checksums left zero: the engine does not verify them).
enum Build {
    static func ipv4(src: [UInt8], dst: [UInt8], proto: UInt8, payload: [UInt8], fragmentOffset: UInt16 = 0) -> Data {
        let total = 20 + payload.count
        var b: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1,
                          UInt8((fragmentOffset >> 8) & 0x1f), UInt8(fragmentOffset & 0xff), 64, proto, 0, 0]
        b += src + dst + payload
        return Data(b)
    }

    static func udp(srcPort: UInt16, dstPort: UInt16, body: [UInt8]) -> [UInt8] {
        let len = 8 + body.count
        return [UInt8(srcPort >> 8), UInt8(srcPort & 0xff), UInt8(dstPort >> 8), UInt8(dstPort & 0xff),
                UInt8(len >> 8), UInt8(len & 0xff), 0, 0] + body
    }

    static func udp4(_ src: [UInt8], _ sport: UInt16, _ dst: [UInt8], _ dport: UInt16, body: [UInt8] = Array("nightjar".utf8)) -> Data {
        ipv4(src: src, dst: dst, proto: 17, payload: udp(srcPort: sport, dstPort: dport, body: body))
    }

    static func ipv6(src: [UInt8], dst: [UInt8], next: UInt8, payload: [UInt8]) -> Data {
        var b: [UInt8] = [0x60, 0, 0, 0, UInt8(payload.count >> 8), UInt8(payload.count & 0xff), next, 64]
        b += src + dst + payload
        return Data(b)
    }
}

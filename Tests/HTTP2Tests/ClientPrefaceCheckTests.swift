import HTTP2
import XCTest

/// The client preface is refused at its first impossible byte, and a server session given
/// such bytes ends with GOAWAY PROTOCOL_ERROR at once (issue 18: a preface followed by fewer
/// than 9 bytes of garbage kept the connection open).
final class ClientPrefaceCheckTests: XCTestCase {
    static let magic = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    /// An empty SETTINGS frame's header.
    static let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]

    private func verdicts(_ chunks: [[UInt8]]) -> [ClientPrefaceCheck.Verdict] {
        var check = ClientPrefaceCheck(maxFrameSize: 16_384)
        return chunks.map { chunk in chunk.withUnsafeBytes { check.scan($0) } }
    }

    func testAValidPrefacePassesWholeOrByteByByte() {
        XCTAssertEqual(verdicts([Self.magic + Self.settings]), [.passed])
        let single = (Self.magic + [0, 0, 12, 4, 0, 0x80, 0, 0, 0]).map { [$0] }
        let results = verdicts(single)
        XCTAssertEqual(results.last, .passed)
        XCTAssertEqual(Set(results.dropLast()), [.undecided])
        // Bytes after the first frame header are not looked at.
        XCTAssertEqual(verdicts([Self.magic, Self.settings + [0xff, 0xff]]), [.undecided, .passed])
    }

    func testEachImpossibleFrameHeaderByteIsRefusedWhereItIs() {
        let cases: [(header: [UInt8], offset: Int)] = [
            ([0x81], 0),                      // length at least 0x810000
            ([0x00, 0x41], 1),                // length at least 0x4100 > 16,384
            ([0x00, 0x00, 0x07], 2),          // not a multiple of 6
            ([0x00, 0x00, 0x06, 0x01], 3),    // HEADERS, not SETTINGS
            ([0x00, 0x00, 0x00, 0x04, 0x01], 4),  // SETTINGS ACK
            ([0x00, 0x00, 0x00, 0x04, 0x00, 0x01], 5),  // stream 0x01000000
            ([0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03], 8),  // stream 3
        ]
        for (header, offset) in cases {
            XCTAssertEqual(verdicts([Self.magic + header]), [.invalid(offset: 24 + offset)], "\(header)")
            XCTAssertEqual(verdicts([Self.magic, header]), [.undecided, .invalid(offset: offset)], "\(header)")
        }
        XCTAssertEqual(verdicts([[0x00, 0x00, 0x06, 0x04]]), [.undecided], "magic bytes are nghttp2's to check")
    }

    func testTheLargestValidLengthFollowsOurMaxFrameSize() {
        var large = ClientPrefaceCheck(maxFrameSize: 1 << 20)
        let header: [UInt8] = [0x00, 0x60, 0x00, 0x04, 0, 0, 0, 0, 0]  // 24,576 bytes
        XCTAssertEqual((Self.magic + header).withUnsafeBytes { large.scan($0) }, .passed)
        XCTAssertEqual(verdicts([Self.magic + header]), [.invalid(offset: 25)])
    }

    func testAServerSessionGivenAnImpossiblePrefaceSendsGoawayAndFinishes() throws {
        for garbage: [UInt8] in [[0x81, 0x53], [0x00, 0x00, 0x06, 0x07], [0x32]] {
            let peer = try SessionPeer(role: .server, settings: HTTP2Settings())
            try (Self.magic + garbage).withUnsafeBytes { try peer.session.receive($0) }
            var out: [UInt8] = []
            while let chunk = try peer.session.nextOutput() { out += chunk }
            XCTAssertEqual(Self.goawayCode(in: out), HTTP2ErrorCode.protocolError.rawValue, "\(garbage)")
            XCTAssertTrue(peer.session.isFinished, "the connection closes once the GOAWAY is sent")
            // Later input is not looked at (no error, no second GOAWAY).
            try [UInt8](repeating: 0xee, count: 100).withUnsafeBytes { try peer.session.receive($0) }
            XCTAssertNil(try peer.session.nextOutput())
        }
    }

    func testAServerSessionGivenAPlausiblePartialPrefaceWaits() throws {
        let peer = try SessionPeer(role: .server, settings: HTTP2Settings())
        try (Self.magic + [0x00, 0x00, 0x06, 0x04]).withUnsafeBytes { try peer.session.receive($0) }
        var out: [UInt8] = []
        while let chunk = try peer.session.nextOutput() { out += chunk }
        XCTAssertNil(Self.goawayCode(in: out))
        XCTAssertFalse(peer.session.isFinished)
    }

    /// The error code of the first GOAWAY frame in `bytes`, if any.
    static func goawayCode(in bytes: [UInt8]) -> UInt32? {
        var index = 0
        while index + 9 <= bytes.count {
            let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            if bytes[index + 3] == 7, index + 9 + 8 <= bytes.count {
                return bytes[(index + 13)..<(index + 17)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            }
            index += 9 + length
        }
        return nil
    }
}

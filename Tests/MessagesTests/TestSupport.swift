import XCTest
@testable import Messages

/// Encodes `message`, decodes the bytes and asserts the result equals the original.
func assertRoundTrip<M: ProtoMessage & Equatable>(
    _ message: M, file: StaticString = #filePath, line: UInt = #line
) {
    let bytes = message.serializedBytes()
    do {
        let decoded = try M(serializedBytes: bytes)
        XCTAssertEqual(decoded, message, "round trip of \(M.self)", file: file, line: line)
        // Encoding is deterministic (maps in key order), so re-encoding gives the same bytes.
        XCTAssertEqual(decoded.serializedBytes(), bytes, "re-encoding \(M.self)", file: file, line: line)
    } catch {
        XCTFail("decoding \(M.self) threw \(error)", file: file, line: line)
    }
}

/// Asserts that decoding `bytes` as `M` throws a ProtoDecodeError.
func assertDecodeFails<M: ProtoMessage>(
    _: M.Type, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertThrowsError(try M(serializedBytes: bytes), "\(M.self) from \(bytes)", file: file, line: line) { error in
        XCTAssertTrue(error is ProtoDecodeError, "threw \(type(of: error))", file: file, line: line)
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func pseudoRandomBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// A string with multi-byte UTF-8: accents, CJK, an emoji with a ZWJ sequence and RTL text.
let unicodeText = "héllo wörld — 你好 👩‍💻 مرحبا"

import TestSupport
import XCTest
import GRPC

/// Minimal protobuf encoding helpers for building scanner inputs by hand.
enum Proto {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    static func tag(_ field: UInt64, _ wireType: UInt64) -> [UInt8] { varint(field << 3 | wireType) }

    static func string(_ field: UInt64, _ value: String) -> [UInt8] { bytes(field, Array(value.utf8)) }

    static func bytes(_ field: UInt64, _ value: [UInt8]) -> [UInt8] {
        tag(field, 2) + varint(UInt64(value.count)) + value
    }
}

final class RouteFieldScannerTests: XCTestCase {
    private func scan(_ bytes: [UInt8], length: Int? = nil) -> RouteFieldScanner.Result {
        bytes.withUnsafeBytes { RouteFieldScanner.scan($0, messageLength: length ?? bytes.count) }
    }

    private func scan(_ bytes: ArraySlice<UInt8>, length: Int) -> RouteFieldScanner.Result {
        Array(bytes).withUnsafeBytes { RouteFieldScanner.scan($0, messageLength: length) }
    }

    private func isInvalid(_ result: RouteFieldScanner.Result) -> Bool {
        if case .invalid = result { return true }
        return false
    }

    func testEmptyMessage() {
        XCTAssertEqual(scan([]), .found(model: "", version: ""))
    }

    func testModelOnly() {
        XCTAssertEqual(scan(Proto.string(1, "iris")), .found(model: "iris", version: ""))
    }

    func testModelAndVersion() {
        XCTAssertEqual(scan(Proto.string(1, "iris") + Proto.string(2, "v2")), .found(model: "iris", version: "v2"))
    }

    func testVersionOnly() {
        XCTAssertEqual(scan(Proto.string(2, "7")), .found(model: "", version: "7"))
    }

    func testEmptyStringsAndUTF8() {
        XCTAssertEqual(scan(Proto.string(1, "") + Proto.string(2, "")), .found(model: "", version: ""))
        XCTAssertEqual(scan(Proto.string(1, "modèle-ü") + Proto.string(2, "β")), .found(model: "modèle-ü", version: "β"))
    }

    func testLongModelNameWithMultiByteLength() {
        let name = String(repeating: "m", count: 300)   // length 300 is a two-byte varint
        XCTAssertEqual(scan(Proto.string(1, name) + Proto.string(2, "1")), .found(model: name, version: "1"))
    }

    func testStopsAtField3WithoutTheRest() {
        let prefix = Proto.string(1, "iris") + Proto.string(2, "1")
        // Field 3 announces 1 MB but only its tag has arrived: the scan is already complete.
        let partial = prefix + Proto.tag(3, 2)
        XCTAssertEqual(scan(partial, length: partial.count + 1_000_000), .found(model: "iris", version: "1"))
        // Exactly the prefix with more to come: still found? No: field 3's tag has not arrived.
        XCTAssertEqual(scan(prefix, length: prefix.count + 10), .needMore)
        // Any field above 2 with any wire type ends the scan.
        for wireType in [UInt64(0), 1, 2, 5] {
            let bytes = Proto.string(1, "a") + Proto.tag(5, wireType)
            XCTAssertEqual(scan(bytes, length: bytes.count + 100), .found(model: "a", version: ""))
        }
        // A message with no field 1 or 2 at all.
        XCTAssertEqual(scan(Proto.tag(4, 0) + [1]), .found(model: "", version: ""))
    }

    func testLastOccurrenceWins() {
        XCTAssertEqual(scan(Proto.string(1, "a") + Proto.string(1, "b")), .found(model: "b", version: ""))
    }

    func testNeedMoreAtEveryTruncationOfAValidPrefix() {
        let full = Proto.string(1, "resnet") + Proto.string(2, "2024-01") + Proto.bytes(4, [1, 2, 3])
        let routed = Proto.string(1, "resnet").count + Proto.string(2, "2024-01").count
        for cut in 0..<full.count {
            let result = scan(full[0..<cut], length: full.count)
            if cut <= routed {
                XCTAssertEqual(result, .needMore, "cut at \(cut)")
            } else {
                XCTAssertEqual(result, .found(model: "resnet", version: "2024-01"), "cut at \(cut)")
            }
        }
        XCTAssertEqual(scan(full), .found(model: "resnet", version: "2024-01"))
    }

    func testNeedMoreWithinMultiByteVarints() {
        let name = String(repeating: "x", count: 200)
        let full = Proto.string(1, name)
        for cut in 0..<full.count {
            XCTAssertEqual(scan(full[0..<cut], length: full.count), .needMore, "cut at \(cut)")
        }
    }

    func testInvalidWireTypes() {
        // Field 1 as a varint (wire type 0).
        let varintModel = Proto.tag(1, 0) + [5]
        XCTAssertTrue(isInvalid(scan(varintModel)))
        if case .invalid(let why) = scan(varintModel) {
            XCTAssertEqual(why, "field 1 (model) must be a string, found wire type 0")
        }
        if case .invalid(let why) = scan(Proto.tag(2, 5) + [0, 0, 0, 0]) {
            XCTAssertEqual(why, "field 2 (version) must be a string, found wire type 5")
        } else {
            XCTFail("field 2 as fixed32 accepted")
        }
        // The wire type is judged from the tag alone.
        XCTAssertTrue(isInvalid(scan(Proto.tag(1, 0), length: 100)))
    }

    func testFieldNumberZero() {
        let result = scan(Proto.tag(0, 2) + [0])
        XCTAssertEqual(result, .invalid("field number 0 at byte 0"))
    }

    func testLengthRunningPastTheMessage() {
        // Field 1 claims 10 bytes in a 6-byte message.
        let bytes = Proto.tag(1, 2) + [10] + Array("abcd".utf8)
        XCTAssertEqual(scan(bytes), .invalid("field 1 runs past the end of the message"))
        // Even when only the first bytes arrived: the declared message length already rules it out.
        XCTAssertEqual(scan(Array(bytes[0..<2]), length: 6), .invalid("field 1 runs past the end of the message"))
        // Exactly to the end is fine.
        XCTAssertEqual(scan(Proto.tag(1, 2) + [4] + Array("abcd".utf8)), .found(model: "abcd", version: ""))
    }

    func testHugeLengthDoesNotOverflow() {
        let bytes = Proto.tag(1, 2) + Proto.varint(UInt64.max)
        XCTAssertTrue(isInvalid(scan(bytes, length: 1_000)))
        XCTAssertTrue(isInvalid(scan(bytes)))
    }

    func testInvalidUTF8() {
        XCTAssertEqual(scan(Proto.bytes(1, [0xC3, 0x28])), .invalid("field 1 is not valid UTF-8"))
        XCTAssertEqual(scan(Proto.string(1, "ok") + Proto.bytes(2, [0xFF])), .invalid("field 2 is not valid UTF-8"))
        // A truncated multi-byte sequence at the end of the field.
        XCTAssertEqual(scan(Proto.bytes(1, [0x61, 0xE2, 0x82])), .invalid("field 1 is not valid UTF-8"))
    }

    func testMalformedVarints() {
        // A tag varint of 11 continuation bytes.
        let longTag = [UInt8](repeating: 0x80, count: 11)
        XCTAssertTrue(isInvalid(scan(longTag, length: 100)))
        // A complete message whose last byte leaves a tag incomplete.
        XCTAssertTrue(isInvalid(scan([0x8A])))
        // A length varint cut by the message end.
        XCTAssertTrue(isInvalid(scan(Proto.tag(1, 2) + [0x80])))
    }

    func testTrailingGarbageAfterMessageLengthIsIgnored() {
        // Bytes beyond messageLength (the next message) are not read.
        let message = Proto.string(1, "a")
        XCTAssertEqual(scan(message + [0xFF, 0xFF, 0xFF], length: message.count), .found(model: "a", version: ""))
    }

    /// Found by the route-scanner fuzz target (Tests/Fuzz/corpus/route-scanner/out-of-order-fields):
    /// field 1 after field 13 is valid protobuf that protobuf-c decodes as model "0", but the
    /// scanner stops at the first field above 2 by design (encoders write fields in number order).
    func testFieldsAfterAFieldAbove2AreNotRead() {
        let input: [UInt8] = [0x6D, 0x2C, 0x12, 0x09, 0x32, 0x0A, 0x01, 0x30, 0x6D, 0x2C, 0x12, 0x09, 0x32]
        XCTAssertEqual(scan(input), .found(model: "", version: ""))
    }
}

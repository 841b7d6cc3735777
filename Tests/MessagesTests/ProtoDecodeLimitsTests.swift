import Messages
import XCTest

/// The wire pre-scan refuses hostile shapes by count before protobuf-c allocates for them.
final class ProtoDecodeLimitsTests: XCTestCase {
    private static let small = ProtoDecodeLimits(maxEntriesPerField: 3, maxFields: 20, maxUnknownFields: 2,
                                                 maxUnknownBytes: 8, maxDepth: 1)

    private func message<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8], _ limits: ProtoDecodeLimits = small) -> String {
        do {
            _ = try M(serializedBytes: bytes, limits: limits)
            return "decoded"
        } catch {
            return "\(error)"
        }
    }

    func testRepeatedEntriesAreCountedPerField() {
        let three: [UInt8] = Array(repeating: [0x22, 0x00], count: 3).flatMap { $0 }  // command = ["", "", ""]
        XCTAssertEqual(message(RegisterModelRequest.self, three), "decoded")
        XCTAssertEqual(message(RegisterModelRequest.self, three + [0x22, 0x00]),
                       "invalid byoc.v1.RegisterModelRequest: field command has more than 3 entries")
    }

    func testMapEntriesAreCounted() {
        let entry: [UInt8] = [0x32, 0x05, 0x0A, 0x01, 0x4B, 0x12, 0x00]  // env {K: ""}
        XCTAssertEqual(message(RegisterModelRequest.self, Array(repeating: entry, count: 4).flatMap { $0 }),
                       "invalid byoc.v1.RegisterModelRequest: field env has more than 3 entries")
    }

    func testNestedFieldsAreNamedWithTheirPath() {
        // ListModelsResponse.models[0].versions[0].command x 4
        let version: [UInt8] = Array(repeating: [0x22, 0x00], count: 4).flatMap { $0 }
        let model: [UInt8] = [0x1A, UInt8(version.count)] + version
        let bytes: [UInt8] = [0x0A, UInt8(model.count)] + model
        let limits = ProtoDecodeLimits(maxEntriesPerField: 3, maxFields: 20, maxUnknownFields: 2, maxUnknownBytes: 8, maxDepth: 4)
        XCTAssertEqual(message(ListModelsResponse.self, bytes, limits),
                       "invalid byoc.v1.ListModelsResponse: field models.versions.command has more than 3 entries")
        XCTAssertEqual(message(ListModelsResponse.self, bytes),
                       "invalid byoc.v1.ListModelsResponse: message models.versions is nested deeper than 1 levels")
    }

    func testUnknownFieldsAreCountedAndMeasured() {
        let unknown: [UInt8] = [0xF8, 0x06, 0x01]  // field 111 varint 1: 3 bytes
        XCTAssertEqual(message(ListModelsRequest.self, unknown + unknown), "decoded")
        XCTAssertEqual(message(ListModelsRequest.self, unknown + unknown + unknown),
                       "invalid byoc.v1.ListModelsRequest: more than 2 unknown fields")
        let long: [UInt8] = [0xFA, 0x06, 0x07] + Array(repeating: 0x61, count: 7)  // field 111, 7 bytes
        XCTAssertEqual(message(ListModelsRequest.self, long),
                       "invalid byoc.v1.ListModelsRequest: more than 8 bytes of unknown fields")
    }

    func testTotalFieldsAreCounted() {
        let bytes: [UInt8] = Array(repeating: [0x28, 0x01], count: 21).flatMap { $0 }  // port = 1, 21 times
        XCTAssertEqual(message(RegisterModelRequest.self, bytes),
                       "invalid byoc.v1.RegisterModelRequest: more than 20 fields in the message")
    }

    func testPackedScalarsAreBoundedByBytesNotCounted() throws {
        let tensor = Tensor(ints: Array(0..<100))
        XCTAssertEqual(try Tensor(serializedBytes: tensor.serializedBytes(), limits: Self.small).ints.count, 100)
    }

    func testInvalidUTF8InAStringIsRefused() {
        XCTAssertEqual(message(GetModelRequest.self, [0x0A, 0x02, 0xC0, 0xAF]),
                       "invalid byoc.v1.GetModelRequest: string field model is not valid UTF-8")
        XCTAssertEqual(message(GetModelRequest.self, [0x0A, 0x03, 0xE2, 0x9C, 0x93]), "decoded")  // "✓"
    }

    func testTheStandardLimitsApplyWithoutExplicitOnes() {
        let bytes: [UInt8] = Array(repeating: [0x22, 0x00], count: (1 << 20) + 1).flatMap { $0 }
        XCTAssertThrowsError(try RegisterModelRequest(serializedBytes: bytes)) { error in
            XCTAssertEqual("\(error)", "invalid byoc.v1.RegisterModelRequest: field command has more than 1048576 entries")
        }
    }

    func testMalformedBytesAreLeftToProtobufC() {
        XCTAssertEqual(message(GetModelRequest.self, [0x0A, 0x05, 0x61]), "invalid byoc.v1.GetModelRequest protobuf (3 bytes)")
    }
}

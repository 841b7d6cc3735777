import CProtobufC
import XCTest
@testable import Messages

/// Every generated message type (GeneratedMessages.all, written by Protos/generate.sh), so a
/// message added to a proto is covered without a new test.
final class GeneratedMessagesTests: XCTestCase {
    func testEveryMessageIsListed() {
        XCTAssertGreaterThanOrEqual(GeneratedMessages.all.count, 40)
        let names = GeneratedMessages.all.map { $0.protoMessageName }
        XCTAssertEqual(Set(names).count, names.count, "a message is listed twice")
        for name in ["byoc.v1.ModelVersion", "byoc.v1.PredictRequest", "grpc.health.v1.HealthListResponse",
                     "inference.ModelInferRequest.InferInputTensor", "inference.InferTensorContents"] {
            XCTAssertTrue(names.contains(name), name)
        }
    }

    func testProtoNameIsProtobufCDescriptorName() {
        for type in GeneratedMessages.all {
            XCTAssertEqual(descriptorName(type), type.protoMessageName)
        }
    }

    func testDefaultMessageEncodesToZeroBytesAndDecodesFromThem() throws {
        for type in GeneratedMessages.all {
            XCTAssertEqual(type.init().serializedBytes(), [], "\(type)")
            XCTAssertEqual(try type.init(serializedBytes: [UInt8]()).serializedBytes(), [], "\(type)")
        }
    }

    func testGarbageThrowsProtoDecodeErrorNamingTheMessage() {
        // A truncated varint tag, and wire type 7 (which does not exist): bad for every message.
        for type in GeneratedMessages.all {
            for bytes: [UInt8] in [[0xff], [0x0f], [0x0a, 0x05, 0x61]] {
                XCTAssertThrowsError(try type.init(serializedBytes: bytes), "\(type) from \(bytes)") { error in
                    XCTAssertTrue(error is ProtoDecodeError, "\(type) threw \(Swift.type(of: error))")
                    XCTAssertTrue("\(error)".contains(type.protoMessageName), "\(error)")
                }
            }
        }
    }

    func testRandomBytesDecodeOrThrowButNeverCrash() {
        for type in GeneratedMessages.all {
            for seed in 1...200 as ClosedRange<UInt64> {
                let bytes = pseudoRandomBytes(count: Int(seed % 40), seed: seed &* 0x9E37_79B9)
                do {
                    // What decodes must encode again and decode to the same encoding.
                    let message = try type.init(serializedBytes: bytes)
                    let again = try type.init(serializedBytes: message.serializedBytes())
                    XCTAssertEqual(again.serializedBytes(), message.serializedBytes(), "\(type) from \(bytes)")
                } catch {
                    XCTAssertTrue(error is ProtoDecodeError, "\(type) threw \(Swift.type(of: error))")
                }
            }
        }
    }

    func testNestedMessagesAreMessagesToo() {
        assertRoundTrip(ModelMetadataResponse.TensorMetadata(name: "x", datatype: "FP32", shape: [-1, 4]))
        assertRoundTrip(InferInputTensor(name: "in", datatype: "BYTES", shape: [2], parameters: ["p": .string("v")],
                                         contents: InferTensorContents(bytesContents: [[0], [1, 2]])))
        assertRoundTrip(InferRequestedOutputTensor(name: "y", parameters: ["binary_data": .bool(false)]))
        assertRoundTrip(ModelInferResponse.InferOutputTensor(name: "z", contents: InferTensorContents()))
        XCTAssertEqual(ModelInferRequest.InferInputTensor.protoMessageName, "inference.ModelInferRequest.InferInputTensor")
    }

    func testMapEntryWithoutValueDecodesAsDefaultMessage() throws {
        // statuses {"a": (no value)}: field 1 entry { key "a" }.
        let response = try HealthListResponse(serializedBytes: [0x0a, 0x03, 0x0a, 0x01, 0x61])
        XCTAssertEqual(response.statuses, ["a": HealthCheckResponse()])
    }

    func testUnknownEnumValueDecodesAsZeroValue() throws {
        XCTAssertEqual(try HealthCheckResponse(serializedBytes: [0x08, 0x63]).status, .unknown)
        XCTAssertEqual(try ModelVersion(serializedBytes: [0x48, 0x63]).state, .unspecified)
    }

    func testNULInANestedStringNamesTheFieldPath() {
        // ListModelsResponse.models[0].versions[0].image = "a\0".
        let version: [UInt8] = [0x1a, 0x02, 0x61, 0x00]
        let model: [UInt8] = [0x1a, UInt8(version.count)] + version
        XCTAssertThrowsError(try ListModelsResponse(serializedBytes: [0x0a, UInt8(model.count)] + model)) { error in
            XCTAssertEqual("\(error)", "invalid byoc.v1.ListModelsResponse: string field models.versions.image contains a NUL character")
        }
    }

    func testEnumsKnowTheirProtoNames() {
        for state in VersionState.allCases { XCTAssertEqual(VersionState(name: state.name.lowercased()), state) }
        XCTAssertEqual(VersionState.allCases.map(\.rawValue), Array(0...6))  // IDLE = 6 (Lifecycle)
        XCTAssertEqual(ServingStatus.allCases.map(\.name), ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"])
        XCTAssertNil(ServingStatus(name: "SERVING_STATUS_UNKNOWN"))
    }
}

/// The full name in the protobuf-c descriptor of a generated message's C struct.
private func descriptorName(_ type: any ProtoMessage.Type) -> String {
    guard let bound = type as? any CMessageBinding.Type else { return "not CMessageBinding: \(type)" }
    return cName(bound)
}

private func cName<M: CMessageBinding>(_: M.Type) -> String {
    String(cString: M.cDescriptor.pointee.name)
}

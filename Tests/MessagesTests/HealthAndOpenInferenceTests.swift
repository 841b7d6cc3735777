import XCTest
@testable import Messages

final class HealthTests: XCTestCase {
    func testRoundTripAndGolden() throws {
        XCTAssertEqual(HealthCheckRequest().serializedBytes(), [])
        XCTAssertEqual(HealthCheckResponse().serializedBytes(), [])
        XCTAssertEqual(HealthCheckRequest(service: "iris/2").serializedBytes(),
                       [0x0a, 0x06] + Array("iris/2".utf8))
        XCTAssertEqual(HealthCheckResponse(status: .serving).serializedBytes(), [0x08, 0x01])
        XCTAssertEqual(try HealthCheckResponse(serializedBytes: [0x08, 0x02]).status, .notServing)
        assertRoundTrip(HealthCheckRequest(service: unicodeText))
        for status in ServingStatus.allCases {
            assertRoundTrip(HealthCheckResponse(status: status))
            XCTAssertEqual(ServingStatus(name: status.name), status)
        }
        XCTAssertEqual(ServingStatus.notServing.name, "NOT_SERVING")
        XCTAssertEqual(HealthCheckResponse.ServingStatus.serviceUnknown.rawValue, 3)
        assertRoundTrip(HealthListRequest())
        assertRoundTrip(HealthListResponse(statuses: ["": HealthCheckResponse(status: .serving),
                                                      "iris": HealthCheckResponse(status: .notServing),
                                                      "iris/2": HealthCheckResponse()]))
        assertDecodeFails(HealthCheckRequest.self, [0x08, 0x01])
        assertDecodeFails(HealthCheckResponse.self, [0x0a, 0x01])
        assertDecodeFails(HealthCheckResponse.self, [0xff, 0xff])
    }
}

final class OpenInferenceTests: XCTestCase {
    static let contents = InferTensorContents(
        boolContents: [true, false], intContents: [.min, -1, 0, .max], int64Contents: [.min, 42, .max],
        uintContents: [0, .max], uint64Contents: [0, 1 << 40, .max], fp32Contents: [1.5, -2.25],
        fp64Contents: [.pi, -1e-300], bytesContents: [[], [0], Array(unicodeText.utf8)])

    static let parameters: [String: InferParameter] = [
        "flag": .bool(true), "off": .bool(false), "count": .int64(-7), "name": .string(unicodeText),
        "empty": .string(""), "ratio": .double(0.125), "big": .uint64(.max), "zero": .int64(0),
    ]

    func testEmptyMessagesEncodeToZeroBytes() {
        XCTAssertEqual(ServerLiveRequest().serializedBytes(), [])
        XCTAssertEqual(ServerLiveResponse().serializedBytes(), [])
        XCTAssertEqual(ModelInferRequest().serializedBytes(), [])
        XCTAssertEqual(ModelInferResponse().serializedBytes(), [])
        XCTAssertEqual(InferTensorContents().serializedBytes(), [])
    }

    func testGoldenModelInferRequestStartsWithNameAndVersion() {
        let bytes = ModelInferRequest(modelName: "iris", modelVersion: "2", id: "x",
                                      inputs: [InferInputTensor(name: "in")]).serializedBytes()
        XCTAssertEqual(Array(bytes.prefix(9)), [0x0a, 0x04, 0x69, 0x72, 0x69, 0x73, 0x12, 0x01, 0x32])
        XCTAssertEqual(ModelMetadataRequest(name: "iris", version: "2").serializedBytes(),
                       [0x0a, 0x04, 0x69, 0x72, 0x69, 0x73, 0x12, 0x01, 0x32])
    }

    func testGoldenInferParameter() {
        // parameters {"a": bool_param true}: field 4 entry { key "a", value { field 1 = 1 } }.
        let bytes = ModelInferRequest(parameters: ["a": .bool(true)]).serializedBytes()
        XCTAssertEqual(bytes, [0x22, 0x07, 0x0a, 0x01, 0x61, 0x12, 0x02, 0x08, 0x01])
        // A oneof member set to its zero value is still encoded, and decodes as that member.
        let zero = ModelInferRequest(parameters: ["a": .int64(0)]).serializedBytes()
        XCTAssertEqual(zero, [0x22, 0x07, 0x0a, 0x01, 0x61, 0x12, 0x02, 0x10, 0x00])
        XCTAssertEqual(try ModelInferRequest(serializedBytes: zero).parameters, ["a": .int64(0)])
    }

    func testParameterWithoutValueIsDropped() throws {
        // parameters {"a": {}} then {"b": string ""}.
        let bytes: [UInt8] = [0x22, 0x05, 0x0a, 0x01, 0x61, 0x12, 0x00,
                              0x22, 0x07, 0x0a, 0x01, 0x62, 0x12, 0x02, 0x1a, 0x00]
        XCTAssertEqual(try ModelInferRequest(serializedBytes: bytes).parameters, ["b": .string("")])
    }

    func testRoundTripHealthAndMetadataMessages() {
        assertRoundTrip(ServerLiveRequest())
        assertRoundTrip(ServerLiveResponse(live: true))
        assertRoundTrip(ServerLiveResponse(live: false))
        assertRoundTrip(ServerReadyRequest())
        assertRoundTrip(ServerReadyResponse(ready: true))
        assertRoundTrip(ModelReadyRequest(name: "iris", version: "2"))
        assertRoundTrip(ModelReadyRequest(name: "iris"))
        assertRoundTrip(ModelReadyResponse(ready: true))
        assertRoundTrip(ServerMetadataRequest())
        assertRoundTrip(ServerMetadataResponse(name: "byoc-gateway", version: "0.1.0",
                                               extensions: ["model_repository", "", unicodeText]))
        assertRoundTrip(ModelMetadataRequest(name: "iris", version: "2"))
        assertRoundTrip(ModelMetadataResponse(
            name: "iris", versions: ["1", "2"], platform: "onnxruntime_onnx",
            inputs: [ModelMetadataResponse.TensorMetadata(name: "x", datatype: "FP32", shape: [-1, 4]),
                     TensorMetadata(name: unicodeText, datatype: "BYTES", shape: [])],
            outputs: [TensorMetadata(name: "y", datatype: "INT64", shape: [-1])]))
        assertRoundTrip(ModelMetadataResponse(name: "bare"))
    }

    func testRoundTripInferenceMessages() {
        assertRoundTrip(Self.contents)
        assertRoundTrip(InferTensorContents(bytesContents: [[]]))
        let request = ModelInferRequest(
            modelName: "iris", modelVersion: "2", id: "req-1", parameters: Self.parameters,
            inputs: [
                InferInputTensor(name: "x", datatype: "FP32", shape: [1, 4], parameters: ["p": .double(2)],
                                 contents: InferTensorContents(fp32Contents: [5.1, 3.5, 1.4, 0.2])),
                ModelInferRequest.InferInputTensor(name: "raw", datatype: "UINT8", shape: [3]),
                InferInputTensor(name: "all", datatype: "BYTES", shape: [3], parameters: Self.parameters,
                                 contents: Self.contents),
                InferInputTensor(name: "empty-contents", contents: InferTensorContents()),
            ],
            outputs: [InferRequestedOutputTensor(name: "y", parameters: ["binary_data": .bool(true)]),
                      ModelInferRequest.InferRequestedOutputTensor(name: "z")],
            rawInputContents: [[1, 2, 3], [], pseudoRandomBytes(count: 1 << 20)])
        assertRoundTrip(request)
        let decoded = try? ModelInferRequest(serializedBytes: request.serializedBytes())
        XCTAssertNil(decoded?.inputs[1].contents)
        XCTAssertEqual(decoded?.inputs[3].contents, InferTensorContents())
        XCTAssertEqual(decoded?.rawInputContents.map(\.count), [3, 0, 1 << 20])

        assertRoundTrip(ModelInferResponse(
            modelName: "iris", modelVersion: "2", id: unicodeText, parameters: Self.parameters,
            outputs: [InferOutputTensor(name: "y", datatype: "INT64", shape: [1], parameters: ["q": .uint64(3)],
                                        contents: InferTensorContents(int64Contents: [1])),
                      ModelInferResponse.InferOutputTensor(name: "raw", datatype: "FP32", shape: [2])],
            rawOutputContents: [[], [0, 0, 128, 63, 0, 0, 0, 64]]))
    }

    func testGarbageThrowsProtoDecodeError() {
        for bytes: [UInt8] in [[0xff], [0x0a, 0x05, 0x61], [0x08, 0x01], [0x0f], [0x2a, 0x04, 0x0a, 0x01]] {
            assertDecodeFails(ModelInferRequest.self, bytes)
            assertDecodeFails(ModelInferResponse.self, bytes)
            assertDecodeFails(ModelMetadataResponse.self, bytes)
            assertDecodeFails(ModelReadyRequest.self, bytes)
            assertDecodeFails(ServerMetadataResponse.self, bytes)
        }
        assertDecodeFails(InferTensorContents.self, [0x42, 0x05, 0x00])
        assertDecodeFails(ServerLiveResponse.self, [0x08])  // tag without its value
        assertDecodeFails(ServerLiveRequest.self, [0xff])
    }
}

import TestSupport
import XCTest
import GRPC
import Messages

/// RouteFieldScanner against bytes the Messages module (protobuf-c) produces.
final class RouteScanWithMessagesTests: XCTestCase {
    private func scan(_ bytes: ArraySlice<UInt8>, length: Int) -> RouteFieldScanner.Result {
        Array(bytes).withUnsafeBytes { RouteFieldScanner.scan($0, messageLength: length) }
    }

    private func fullRequest(model: String, version: String) -> [UInt8] {
        PredictRequest(model: model, version: version,
                       inputs: ["x": Tensor(dtype: .float32, shape: [2, 2], floats: [1, 2, 3, 4]),
                                "y": Tensor(dtype: .string, shape: [1], strings: ["hello"])],
                       payload: [UInt8](repeating: 0xAB, count: 1_000),
                       parameters: ["delay_ms": "5", "k": "v"]).serializedBytes()
    }

    func testPredictRequestEncodings() {
        for (model, version) in [("iris", "2"), ("iris", ""), ("", "7"), ("", ""), ("modèle", "βeta"),
                                 (String(repeating: "m", count: 300), "v")] {
            let bytes = fullRequest(model: model, version: version)
            XCTAssertEqual(scan(bytes[...], length: bytes.count), .found(model: model, version: version), "\(model)/\(version)")
        }
        XCTAssertEqual(PredictRequest().serializedBytes(), [], "an empty request encodes to no bytes")
        XCTAssertEqual(scan([], length: 0), .found(model: "", version: ""))
        let modelOnly = PredictRequest(model: "iris").serializedBytes()
        XCTAssertEqual(scan(modelOnly[...], length: modelOnly.count), .found(model: "iris", version: ""))
    }

    func testEveryTruncationOfAPredictRequest() {
        let bytes = fullRequest(model: "resnet-50", version: "2024.1")
        // Fields 1 and 2 come first: 2 + 9 and 2 + 6 bytes.
        let routedEnd = 2 + 9 + 2 + 6
        XCTAssertEqual(bytes[0], 0x0A)
        XCTAssertEqual(bytes[11], 0x12)
        for cut in 0...bytes.count {
            let result = scan(bytes[0..<cut], length: bytes.count)
            if cut <= routedEnd {
                XCTAssertEqual(result, .needMore, "cut at \(cut)")
            } else {
                XCTAssertEqual(result, .found(model: "resnet-50", version: "2024.1"), "cut at \(cut)")
            }
        }
    }

    func testOpenInferenceModelInferRequest() {
        let bytes = ModelInferRequest(modelName: "triton-model", modelVersion: "3", id: "req-1").serializedBytes()
        XCTAssertEqual(scan(bytes[...], length: bytes.count), .found(model: "triton-model", version: "3"))
    }

    func testHealthCheckRequestIsNotMistakenForAModel() {
        // Field 1 of HealthCheckRequest is the service: scanned as "model" but only routed paths use it.
        let bytes = HealthCheckRequest(service: "iris/1").serializedBytes()
        XCTAssertEqual(scan(bytes[...], length: bytes.count), .found(model: "iris/1", version: ""))
    }
}

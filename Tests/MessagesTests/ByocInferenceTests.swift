import XCTest
@testable import Messages

final class ByocInferenceTests: XCTestCase {
    func testGoldenPredictRequestStartsWithModelAndVersion() {
        let bytes = PredictRequest(model: "iris", version: "2").serializedBytes()
        XCTAssertEqual(bytes, [0x0a, 0x04, 0x69, 0x72, 0x69, 0x73, 0x12, 0x01, 0x32])

        // Fields 1 and 2 stay first when every other field is set too.
        let full = PredictRequest(model: "iris", version: "2",
                                  inputs: ["x": Tensor(dtype: .float32, shape: [1], floats: [1])],
                                  payload: [1, 2, 3], parameters: ["k": "v"])
        XCTAssertEqual(Array(full.serializedBytes().prefix(9)),
                       [0x0a, 0x04, 0x69, 0x72, 0x69, 0x73, 0x12, 0x01, 0x32])
    }

    func testEmptyMessagesEncodeToZeroBytes() {
        XCTAssertEqual(PredictRequest().serializedBytes(), [])
        XCTAssertEqual(PredictResponse().serializedBytes(), [])
        XCTAssertEqual(Tensor().serializedBytes(), [])
        // Explicitly empty fields are defaults too.
        XCTAssertEqual(PredictRequest(model: "", version: "", inputs: [:], payload: [], parameters: [:])
            .serializedBytes(), [])
        XCTAssertEqual(try PredictRequest(serializedBytes: []), PredictRequest())
    }

    func testGoldenTensorEncoding() {
        // dtype=INT64 (field 1 varint), shape packed [2] (field 2), ints packed [1, 300] (field 5).
        let bytes = Tensor(dtype: .int64, shape: [2], ints: [1, 300]).serializedBytes()
        XCTAssertEqual(bytes, [0x08, 0x04, 0x12, 0x01, 0x02, 0x2a, 0x03, 0x01, 0xac, 0x02])
    }

    func testTensorRoundTripEveryList() {
        assertRoundTrip(Tensor(dtype: .float32, shape: [2, 3], floats: [0, -1.5, .pi, .greatestFiniteMagnitude,
                                                                         .leastNonzeroMagnitude, 1e-3]))
        assertRoundTrip(Tensor(dtype: .float64, shape: [3], doubles: [-0.25, .pi, 1e300]))
        assertRoundTrip(Tensor(dtype: .int64, shape: [4], ints: [0, -1, .min, .max]))
        assertRoundTrip(Tensor(dtype: .bool, shape: [3], bools: [true, false, true]))
        assertRoundTrip(Tensor(dtype: .string, shape: [3], strings: ["", unicodeText, "plain"]))
        assertRoundTrip(Tensor(dtype: .bytes, shape: [1], raw: [0, 255, 0, 7]))
        // Every list at once (not meaningful for a model, but each field must survive).
        assertRoundTrip(Tensor(dtype: .int32, shape: [-1, 0, 5], floats: [1], doubles: [2], ints: [3],
                               bools: [false], strings: ["s"], raw: [9]))
    }

    func testPredictRequestRoundTrip() {
        let request = PredictRequest(
            model: "iris", version: "2024.1-rc",
            inputs: [
                "features": Tensor(dtype: .float32, shape: [1, 4], floats: [5.1, 3.5, 1.4, 0.2]),
                "names": Tensor(dtype: .string, shape: [2], strings: [unicodeText, ""]),
                "mask": Tensor(dtype: .bool, shape: [2], bools: [true, false]),
                "empty": Tensor(),
                unicodeText: Tensor(dtype: .bytes, raw: [1, 2, 3]),
            ],
            payload: Array("{\"a\":1}".utf8),
            parameters: ["temperature": "0.7", "top_k": "5", "note": unicodeText, "blank": ""])
        assertRoundTrip(request)
        let decoded = try? PredictRequest(serializedBytes: request.serializedBytes())
        XCTAssertEqual(decoded?.inputs.count, 5)
        XCTAssertEqual(decoded?.inputs["empty"], Tensor())
        XCTAssertEqual(decoded?.parameters["blank"], "")
    }

    func testPredictResponseRoundTripWithLargePayload() {
        let payload = pseudoRandomBytes(count: 1 << 20)
        let response = PredictResponse(
            model: "iris", version: "3",
            outputs: ["probabilities": Tensor(dtype: .float64, shape: [1, 3], doubles: [0.1, 0.7, 0.2]),
                      "label": Tensor(dtype: .int64, shape: [1], ints: [1]),
                      "raw": Tensor(dtype: .float32, shape: [256, 1024], raw: pseudoRandomBytes(count: 1 << 20, seed: 7))],
            payload: payload)
        let bytes = response.serializedBytes()
        XCTAssertGreaterThan(bytes.count, 2 << 20)
        let decoded = try? PredictResponse(serializedBytes: bytes)
        XCTAssertEqual(decoded?.payload.count, 1 << 20)
        XCTAssertEqual(decoded, response)
        assertRoundTrip(PredictRequest(model: "big", payload: payload))
    }

    func testDecodesFromUnsafeBufferAndSlice() throws {
        let framed: [UInt8] = [0, 0, 0, 0, 9] + PredictRequest(model: "iris", version: "2").serializedBytes()
        let fromSlice = try PredictRequest(serializedBytes: framed[5...])
        XCTAssertEqual(fromSlice, PredictRequest(model: "iris", version: "2"))
        let fromBuffer = try framed.withUnsafeBytes {
            try PredictRequest(serializedBytes: UnsafeRawBufferPointer(rebasing: $0[5...]))
        }
        XCTAssertEqual(fromBuffer, fromSlice)
    }

    func testDecodeAcceptsUnknownFieldsAndLastMapKeyWins() throws {
        // model="m", unknown field 99 (varint 1), parameters {"k":"a"}, parameters {"k":"b"}.
        let bytes: [UInt8] = [0x0a, 0x01, 0x6d, 0x98, 0x06, 0x01,
                              0x2a, 0x06, 0x0a, 0x01, 0x6b, 0x12, 0x01, 0x61,
                              0x2a, 0x06, 0x0a, 0x01, 0x6b, 0x12, 0x01, 0x62]
        let request = try PredictRequest(serializedBytes: bytes)
        XCTAssertEqual(request, PredictRequest(model: "m", parameters: ["k": "b"]))
    }

    func testMapsEncodeInKeyOrder() {
        let one = PredictRequest(parameters: ["b": "2", "a": "1", "c": "3"]).serializedBytes()
        let a: [UInt8] = [0x2a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x31]
        XCTAssertEqual(Array(one.prefix(a.count)), a)
    }

    func testGarbageThrowsProtoDecodeError() {
        let garbage: [[UInt8]] = [
            [0xff],                                   // truncated varint tag
            [0x0a, 0x05, 0x61],                       // string longer than the input
            [0x08, 0x01],                             // field 1 (string) with varint wire type
            [0x0f],                                   // wire type 7 does not exist
            [0x1a, 0x03, 0x0a, 0x80, 0x80],           // map entry with a truncated inner field
            [UInt8](repeating: 0xff, count: 11),      // over-long varint
            [0x22, 0xff, 0xff, 0xff, 0xff, 0x0f],     // bytes of length 4 GiB
        ]
        for bytes in garbage {
            assertDecodeFails(PredictRequest.self, bytes)
            assertDecodeFails(PredictResponse.self, bytes)
        }
        assertDecodeFails(Tensor.self, [0x12, 0x05, 0x01])
        // The error explains itself.
        XCTAssertThrowsError(try PredictRequest(serializedBytes: [0xff])) { error in
            XCTAssertTrue(String(describing: error).contains("byoc.v1.PredictRequest"), "\(error)")
        }
    }

    func testDataTypeNames() {
        XCTAssertEqual(DataType.float32.name, "FLOAT32")
        XCTAssertEqual(DataType.unspecified.name, "DATA_TYPE_UNSPECIFIED")
        XCTAssertEqual(DataType(name: "BYTES"), .bytes)
        XCTAssertEqual(DataType(name: "int64"), .int64)
        XCTAssertNil(DataType(name: "FLOAT16"))
        for value in DataType.allCases {
            XCTAssertEqual(DataType(name: value.name), value)
        }
        XCTAssertEqual(DataType.allCases.map(\.rawValue), Array(0...7))
    }

    func testUnknownEnumValueDecodesAsUnspecified() throws {
        let tensor = try Tensor(serializedBytes: [0x08, 0x63])  // dtype = 99
        XCTAssertEqual(tensor.dtype, .unspecified)
    }

    func testTensorJSON() throws {
        let tensor = Tensor(dtype: .float32, shape: [1, 2], floats: [0.5, .infinity], raw: [0xfb, 0xff])
        let json = tensor.jsonObject()
        XCTAssertEqual(json["dtype"] as? String, "FLOAT32")
        XCTAssertEqual(json["shape"] as? [Int], [1, 2])
        XCTAssertEqual(json["raw"] as? String, "+/8=")
        let floats = json["floats"] as? [Any]
        XCTAssertEqual(floats?.first as? Double, 0.5)
        XCTAssertEqual(floats?.last as? String, "Infinity")
        XCTAssertNil(json["doubles"])
        XCTAssertNil(json["ints"])
        XCTAssertNil(json["strings"])
        XCTAssertTrue(JSONSerialization.isValidJSONObject(json))
        _ = try JSONSerialization.data(withJSONObject: json)

        let ints = Tensor(dtype: .int64, shape: [3], ints: [1, -2, 3], bools: [true], strings: ["a"]).jsonObject()
        XCTAssertEqual(ints["ints"] as? [Int], [1, -2, 3])
        XCTAssertEqual(ints["bools"] as? [Bool], [true])
        XCTAssertEqual(ints["strings"] as? [String], ["a"])
        XCTAssertNil(ints["raw"])
    }
}

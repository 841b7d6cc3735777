import Foundation
import XCTest
@testable import Messages

final class TensorJSONTests: XCTestCase {
    private func parse(_ text: String) throws -> [String: JSONValue] {
        try JSONValue.parseObject(Array(text.utf8))
    }

    private func message(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let error as TensorJSONError { return error.message } catch {
            XCTFail("threw \(type(of: error)), not TensorJSONError")
            return nil
        }
    }

    func testJSONValueKeepsIntegersApart() throws {
        let v = try parse(#"{"i": 7, "d": 1.5, "b": true, "s": "x", "n": null, "l": [1], "o": {}}"#)
        XCTAssertEqual(v["i"], .number(7, exact: 7))
        XCTAssertEqual(v["d"], .number(1.5, exact: nil))
        XCTAssertEqual(v["b"], .bool(true))
        XCTAssertEqual(v["s"], .string("x"))
        XCTAssertEqual(v["n"], .null)
        XCTAssertEqual(v["l"], .array([.number(1, exact: 1)]))
        XCTAssertEqual(v["o"], .object([:]))
        XCTAssertEqual(v["b"]?.kind, "a boolean")
        XCTAssertEqual(v["b"]?.kinds, "booleans")
    }

    /// A shape whose product overflows Int64 is an error, not a trap (found by the json fuzzer).
    func testOverflowingShapeIsAnError() throws {
        let huge = try parse(#"{"x": {"values": [1], "shape": [4294967296, 4294967296, 4]}}"#)
        XCTAssertEqual(message { try TensorJSON.inputs(huge) },
                       #"input "x": shape [4294967296, 4294967296, 4] is too large"#)
        let t = Tensor(dtype: .float32, shape: [Int64.max, 2], floats: [1])
        XCTAssertEqual(TensorJSON.nestedObject(t)["values"] as? [Double], [1])
    }

    func testInputsInferShapeAndDtype() throws {
        let tensors = try TensorJSON.inputs(try parse(#"""
            {"x": [[5.1, 3.5], [1.4, 0.2], [1, 2]], "flag": [true, false], "name": "iris", "empty": [],
             "ids": {"dtype": "int64", "shape": [2, 1], "values": [7, 8]}}
            """#))
        XCTAssertEqual(tensors["x"], Tensor(dtype: .float32, shape: [3, 2], floats: [5.1, 3.5, 1.4, 0.2, 1, 2]))
        XCTAssertEqual(tensors["flag"], Tensor(dtype: .bool, shape: [2], bools: [true, false]))
        XCTAssertEqual(tensors["name"], Tensor(dtype: .string, shape: [], strings: ["iris"]))
        XCTAssertEqual(tensors["empty"], Tensor(dtype: .float32, shape: [0]))
        XCTAssertEqual(tensors["ids"], Tensor(dtype: .int64, shape: [2, 1], ints: [7, 8]))
    }

    func testCallerDtypesWin() throws {
        let fields = try parse(#"{"a": [1, 2], "b": 2.5, "s": ["x"], "c": {"dtype": "FLOAT32", "values": [3]}}"#)
        let tensors = try TensorJSON.inputs(fields, dtypes: ["": .int64, "b": .float64, "c": .int32])
        XCTAssertEqual(tensors["a"], Tensor(dtype: .int64, shape: [2], ints: [1, 2]))
        XCTAssertEqual(tensors["b"], Tensor(dtype: .float64, shape: [], doubles: [2.5]))
        XCTAssertEqual(tensors["s"], Tensor(dtype: .string, shape: [1], strings: ["x"]), "the default is numeric only")
        XCTAssertEqual(tensors["c"], Tensor(dtype: .int32, shape: [1], ints: [3]))
    }

    func testRawInput() throws {
        let tensors = try TensorJSON.inputs(try parse(#"{"r": {"dtype": "INT64", "shape": [1], "raw": "AQAAAAAAAAA="}}"#))
        XCTAssertEqual(tensors["r"], Tensor(dtype: .int64, shape: [1], raw: [1, 0, 0, 0, 0, 0, 0, 0]))
    }

    func testRaggedListIsAnErrorNamingTheInput() throws {
        let fields = try parse(#"{"x": [[1, 2], [3]]}"#)
        let text = message { try TensorJSON.inputs(fields) }
        XCTAssertNotNil(text)
        XCTAssertTrue(text?.hasPrefix(#"input "x" is ragged"#) == true, text ?? "")
        XCTAssertTrue(text?.contains("rectangular") == true, text ?? "")
        XCTAssertTrue(text?.contains("[2] vs [1]") == true, text ?? "")
    }

    func testInt32Overflow() throws {
        let fields = try parse(#"{"n": {"dtype": "INT32", "values": [1, 2147483648]}}"#)
        XCTAssertEqual(message { try TensorJSON.inputs(fields) }, #"input "n": 2147483648 does not fit INT32"#)
        let ok = try TensorJSON.inputs(try parse(#"{"n": [2147483647, -2147483648]}"#), dtypes: ["n": .int32])
        XCTAssertEqual(ok["n"]?.ints, [2147483647, -2147483648])
        XCTAssertEqual(message { try TensorJSON.inputs(try parse(#"{"n": [-2147483649]}"#), dtypes: ["": .int32]) },
                       #"input "n": -2147483649 does not fit INT32"#)
    }

    func testOtherInputErrors() throws {
        func error(_ text: String) throws -> String? {
            let fields = try parse(text)
            return message { try TensorJSON.inputs(fields) }
        }
        XCTAssertEqual(try error(#"{"x": [1, "a"]}"#), #"input "x" mixes numbers and strings"#)
        XCTAssertEqual(try error(#"{"x": [null]}"#), #"input "x": null is not a value"#)
        XCTAssertEqual(try error(#"{"x": {"dtype": "FLOAT16", "values": [1]}}"#), #"input "x": unknown dtype FLOAT16"#)
        XCTAssertEqual(try error(#"{"x": {"shape": [3], "values": [1, 2]}}"#),
                       #"input "x": shape [3] holds 3 values, got 2"#)
        XCTAssertEqual(try error(#"{"x": {"dtype": "BOOL", "values": [1]}}"#), #"input "x" holds numbers, which cannot be BOOL"#)
        XCTAssertEqual(try error(#"{"x": {"dtype": "INT64", "values": [1.5]}}"#),
                       #"input "x": 1.5 is not an integer (dtype INT64)"#)
        XCTAssertEqual(try error(#"{"x": {"raw": "%%%"}}"#), #"input "x": raw must be base64"#)
    }

    func testRawFloat32OutputIsDecoded() throws {
        var raw: [UInt8] = []
        for value: Float in [5.1, -2, 0.25, 1e-3] {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { raw += $0 }
        }
        let tensor = Tensor(dtype: .float32, shape: [2, 2], raw: raw)
        XCTAssertEqual(TensorJSON.values(tensor) as? [Float], [5.1, -2, 0.25, 1e-3])

        let flat = TensorJSON.outputObject(tensor)
        XCTAssertEqual(flat["dtype"] as? String, "FLOAT32")
        XCTAssertEqual(flat["shape"] as? [Int], [2, 2])
        XCTAssertEqual(flat["values"] as? [Float], [5.1, -2, 0.25, 1e-3])
        XCTAssertNil(flat["raw"])

        let nested = TensorJSON.nestedObject(tensor)
        XCTAssertEqual(nested["values"] as? [[Double]], [[5.1, -2], [0.25, 0.001]], "shortest decimal form, nested by shape")
        XCTAssertNotNil(nested["raw"] as? String, "the protobuf JSON fields stay")
        XCTAssertTrue(JSONSerialization.isValidJSONObject(nested))
    }

    func testOutputObjects() throws {
        let scalar = TensorJSON.nestedObject(Tensor(dtype: .string, shape: [], strings: ["iris"]))
        XCTAssertEqual(scalar["values"] as? String, "iris")
        XCTAssertEqual(TensorJSON.outputObject(Tensor(dtype: .float64, shape: [], doubles: [2.5]))["values"] as? [Double], [2.5])

        let ints = Tensor(dtype: .int64, shape: [2, 1], ints: [7, 8])
        XCTAssertEqual(TensorJSON.nestedObject(ints)["values"] as? [[Int]], [[7], [8]])
        XCTAssertEqual(TensorJSON.outputObject(ints)["values"] as? [Int], [7, 8])

        var rawInts: [UInt8] = []
        for value: Int32 in [1, -2] { withUnsafeBytes(of: value.littleEndian) { rawInts += $0 } }
        XCTAssertEqual(TensorJSON.outputObject(Tensor(dtype: .int32, shape: [2], raw: rawInts))["values"] as? [Int], [1, -2])

        // Bytes that are not a fixed-size dtype stay base64, with no decoded values.
        let bytes = Tensor(dtype: .bytes, shape: [3], raw: [1, 2, 3])
        XCTAssertEqual(TensorJSON.outputObject(bytes)["raw"] as? String, "AQID")
        XCTAssertEqual((TensorJSON.outputObject(bytes)["values"] as? [Any])?.count, 0)
        XCTAssertNil(TensorJSON.nestedObject(bytes)["values"])

        // JSON has no NaN: the nested form leaves "values" out rather than fail to serialize.
        let nan = TensorJSON.nestedObject(Tensor(dtype: .float32, shape: [1], floats: [.nan]))
        XCTAssertNil(nan["values"])
        XCTAssertTrue(JSONSerialization.isValidJSONObject(nan))
    }
}

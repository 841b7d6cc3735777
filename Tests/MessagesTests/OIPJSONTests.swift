import Foundation
import Messages
import XCTest

final class OIPJSONTests: XCTestCase {
    private func request(_ json: String, binary: [UInt8] = []) throws -> OIPJSON.Request {
        try OIPJSON.request(header: Array(json.utf8), binary: binary, model: "m", version: "2")
    }

    func testTypedContentsAndModelFields() throws {
        let r = try request(#"{"id": "7", "parameters": {"a": 1, "b": "x", "c": true, "d": 0.5},"#
            + #" "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3, -4]]}]}"#)
        XCTAssertEqual(r.message.modelName, "m")
        XCTAssertEqual(r.message.modelVersion, "2")
        XCTAssertEqual(r.message.id, "7")
        XCTAssertEqual(r.message.parameters, ["a": .int64(1), "b": .string("x"), "c": .bool(true), "d": .double(0.5)])
        XCTAssertEqual(r.message.inputs.first?.contents?.int64Contents, [1, 2, 3, -4])
        XCTAssertTrue(r.message.rawInputContents.isEmpty)
    }

    /// FP16 has no typed field: every input then goes raw (the protocol's all-or-nothing rule).
    func testFP16MakesEveryInputRaw() throws {
        let r = try request(#"{"inputs": [{"name": "h", "shape": [2], "datatype": "FP16", "data": [1.0, -2.0]},"#
            + #" {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["ab"]}]}"#)
        XCTAssertEqual(r.message.rawInputContents, [[0x00, 0x3c, 0x00, 0xc0], [2, 0, 0, 0, 0x61, 0x62]])
        XCTAssertNil(r.message.inputs[0].contents)
    }

    func testBinaryExtensionSlicesTheBytesInOrder() throws {
        let r = try request(#"{"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "parameters": {"binary_data_size": 4}},"#
            + #" {"name": "b", "shape": [2], "datatype": "UINT8", "parameters": {"binary_data_size": 2}}],"#
            + #" "outputs": [{"name": "a", "parameters": {"binary_data": true}}, {"name": "b"}]}"#,
            binary: [1, 0, 0, 0, 9, 8])
        XCTAssertEqual(r.message.rawInputContents, [[1, 0, 0, 0], [9, 8]])
        XCTAssertEqual(r.binaryOutputs, ["a"])
        XCTAssertEqual(r.message.outputs.map(\.name), ["a", "b"])
        XCTAssertTrue(r.message.outputs[0].parameters.isEmpty, "the extension's own parameters are not forwarded")
        XCTAssertThrowsError(try request(#"{"inputs": [{"name": "a", "shape": [2], "datatype": "INT32", "parameters": {"binary_data_size": 4}}]}"#,
                                         binary: [1, 0, 0, 0])) { error in
            XCTAssertTrue("\(error)".contains("needs 8 bytes, got 4"), "\(error)")
        }
        XCTAssertThrowsError(try request(#"{"inputs": [{"name": "a", "shape": [1], "datatype": "INT32", "data": [1]}]}"#, binary: [0])) { error in
            XCTAssertTrue("\(error)".contains("belong to no input"), "\(error)")
        }
    }

    func testResponsesFromRawAndTypedContents() throws {
        var response = ModelInferResponse(modelName: "m", modelVersion: "2", id: "7")
        response.outputs = [InferOutputTensor(name: "f", datatype: "FP32", shape: [2]),
                            InferOutputTensor(name: "s", datatype: "BYTES", shape: [1])]
        response.rawOutputContents = [[0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0x40], [1, 0, 0, 0, 0x7a]]
        let json = try OIPJSON.response(response, binaryOutputs: [], binaryAll: false)
        let outputs = json.json["outputs"] as! [[String: Any]]
        XCTAssertEqual(outputs[0]["data"] as? [Double], [1.5, 2.5])
        XCTAssertEqual(outputs[1]["data"] as? [String], ["z"])
        XCTAssertTrue(json.binary.isEmpty)
        let binary = try OIPJSON.response(response, binaryOutputs: ["f"], binaryAll: false)
        XCTAssertEqual(binary.binary, [0, 0, 0xc0, 0x3f, 0, 0, 0x20, 0x40])
        XCTAssertEqual(((binary.json["outputs"] as! [[String: Any]])[0]["parameters"] as? [String: Any])?["binary_data_size"] as? Int, 8)

        var typed = ModelInferResponse(modelName: "m")
        typed.outputs = [InferOutputTensor(name: "i", datatype: "INT16", shape: [2], contents: InferTensorContents(intContents: [-3, 4]))]
        let asBinary = try OIPJSON.response(typed, binaryOutputs: [], binaryAll: true)
        XCTAssertEqual(asBinary.binary, [0xfd, 0xff, 4, 0])
        var short = response
        short.rawOutputContents[0] = [0, 0]
        XCTAssertThrowsError(try OIPJSON.response(short, binaryOutputs: [], binaryAll: false)) { error in
            XCTAssertTrue("\(error)".contains("needs 8 bytes, the model sent 2"), "\(error)")
        }
    }
}

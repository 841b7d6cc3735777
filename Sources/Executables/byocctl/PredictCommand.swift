import ArgumentParser
import Foundation
import Messages

struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Call a model with tensors built from JSON; prints the outputs as JSON.",
        discussion: """
        --input is a JSON object mapping each input name to nested lists or a
        scalar (or @FILE to read it from a file). The shape is inferred from the
        nesting; ragged lists are an error. Numbers become FLOAT32 unless --dtype
        says otherwise, booleans BOOL, strings STRING. A value may also be
        {"dtype": "INT64", "shape": [2, 2], "values": [1, 2, 3, 4]}, or
        {"dtype": "FLOAT32", "shape": [2], "raw": BASE64} for little-endian bytes.

        The output, in both -o modes, is JSON:
          {"model": M, "version": V,
           "outputs": {NAME: {"dtype": D, "shape": [..], "values": [..]}}}
        values flattened row-major (raw little-endian tensors decoded), plus
        "payload" (base64) when the model answered one.

        Examples:
          byocctl predict iris --input '{"x": [[5.1, 3.5, 1.4, 0.2]]}'
          byocctl predict iris --version 2 --dtype int64 --input '{"ids": [1, 2]}'
          byocctl predict iris --input @request.json --param top_k=1
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Option(help: "The version (default: the model's default version).") var version: String?
    @Option(help: ArgumentHelp("Input tensors as JSON, or @FILE.", valueName: "json")) var input: String?
    @Option(name: .customLong("dtype"), help: ArgumentHelp(
        "Numeric type for every input (float32, float64, int32, int64), or NAME=TYPE for one input (repeatable).",
        valueName: "type"))
    var dtypes: [String] = []
    @Option(name: .customLong("param"), help: ArgumentHelp("A request parameter (repeatable).", valueName: "key=value"))
    var params: [String] = []
    @Option(help: ArgumentHelp("Send this file's bytes as the request payload.", valueName: "file"))
    var payloadFile: String?

    func validate() throws {
        for item in params where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--param takes KEY=VALUE, got \"\(item)\"")
        }
        _ = try dtypeMap()
    }

    func dtypeMap() throws -> [String: DataType] {
        var map: [String: DataType] = [:]
        for item in dtypes {
            let name: String, typeText: String
            if let eq = item.firstIndex(of: "=") {
                name = String(item[..<eq]); typeText = String(item[item.index(after: eq)...])
            } else {
                name = ""; typeText = item
            }
            guard let type = DataType(name: typeText), [.float32, .float64, .int32, .int64, .bool, .string].contains(type) else {
                throw ValidationError("--dtype takes float32, float64, int32, int64, bool or string (optionally NAME=TYPE), got \"\(item)\"")
            }
            map[name] = type
        }
        return map
    }

    func request() throws -> PredictRequest {
        var request = PredictRequest(model: model, version: version ?? "")
        if var text = input {
            if text.hasPrefix("@") {
                let path = String(text.dropFirst())
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CLIError.usage("cannot read --input file \(path)")
                }
                text = String(decoding: data, as: UTF8.self)
            }
            request.inputs = try TensorJSON.inputs(fromJSON: text, dtypes: try dtypeMap())
        }
        if let payloadFile {
            guard let data = FileManager.default.contents(atPath: payloadFile) else {
                throw CLIError.usage("cannot read --payload-file \(payloadFile)")
            }
            request.payload = [UInt8](data)
        }
        for item in params {
            let eq = item.firstIndex(of: "=")!
            request.parameters[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        return request
    }

    func run() async throws {
        let request = try request()
        let response = try await global.call(RPC.predict, request, as: PredictResponse.self)
        var object: [String: Any] = [
            "model": response.model, "version": response.version,
            "outputs": response.outputs.mapValues { TensorJSON.outputObject($0) } as [String: Any],
        ]
        if !response.payload.isEmpty { object["payload"] = Data(response.payload).base64EncodedString() }
        Stdout.write(global.output == .yaml ? YAMLText.render(object) : JSONText.render(object))
    }
}

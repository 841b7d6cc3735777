// The Open Inference Protocol's REST (JSON) form of ModelInfer, translated to and from the gRPC
// messages the model containers speak: tensors as JSON lists or, with the binary tensor data
// extension (tritonclient.http's default), as raw bytes after the JSON.
import Foundation

/// A REST inference request or response that cannot be translated, with why (HTTP 400).
public struct OIPJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Translation between OIP REST JSON and `ModelInferRequest` / `ModelInferResponse`.
public enum OIPJSON {
    /// Every OIP datatype and the bytes one element takes in raw form (BYTES: length-prefixed).
    public static let elementSizes: [String: Int] = [
        "BOOL": 1, "UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8,
        "FP16": 2, "FP32": 4, "FP64": 8, "BYTES": 0,
    ]

    /// A translated request: the gRPC message, and which outputs the client wants as binary.
    public struct Request: Sendable {
        public var message: ModelInferRequest
        /// Output names to return as binary data (with `binaryAll`, every output).
        public var binaryOutputs: Set<String>
        public var binaryAll: Bool
    }

    /// A translated response: the JSON object, and the binary data that follows it (empty
    /// without the binary extension).
    public struct Response {
        public var json: [String: Any]
        public var binary: [UInt8]
    }

    // MARK: Requests

    /// Translates a REST infer body (`header`: the JSON part, `binary`: what followed it when
    /// the request carried `Inference-Header-Content-Length`) for `model`/`version`.
    public static func request(header: [UInt8], binary: [UInt8], model: String, version: String) throws -> Request {
        let root: JSONValue
        do { root = try JSONValue.parse(header) } catch {
            throw OIPJSONError("the request body is not valid JSON")
        }
        guard case .object(let fields) = root else { throw OIPJSONError("the request body must be a JSON object") }
        for key in fields.keys where !["id", "parameters", "inputs", "outputs"].contains(key) {
            throw OIPJSONError("unknown field \"\(key)\" (expected id, parameters, inputs, outputs)")
        }
        var message = ModelInferRequest(modelName: model, modelVersion: version)
        if let id = fields["id"] {
            guard case .string(let text) = id else { throw OIPJSONError("\"id\" must be a string") }
            message.id = text
        }
        var binaryAll = false
        if let parameters = fields["parameters"] {
            var translated = try self.parameters(parameters, field: "parameters")
            if case .bool(let all)? = translated.removeValue(forKey: "binary_data_output") { binaryAll = all }
            message.parameters = translated
        }
        guard case .array(let inputs)? = fields["inputs"], !inputs.isEmpty else {
            throw OIPJSONError("\"inputs\" must be a non-empty list of tensors")
        }
        var decoded: [(tensor: InferInputTensor, raw: [UInt8]?, values: JSONValue?)] = []
        var offset = 0
        for (index, input) in inputs.enumerated() {
            let field = "inputs[\(index)]"
            guard case .object(let tensor) = input else { throw OIPJSONError("\(field) must be an object") }
            for key in tensor.keys where !["name", "shape", "datatype", "parameters", "data"].contains(key) {
                throw OIPJSONError("\(field): unknown field \"\(key)\"")
            }
            guard case .string(let name)? = tensor["name"], !name.isEmpty else { throw OIPJSONError("\(field).name is required") }
            let described = "input \"\(name)\""
            guard case .string(let datatype)? = tensor["datatype"] else { throw OIPJSONError("\(described): datatype is required") }
            guard elementSizes[datatype] != nil else {
                throw OIPJSONError("\(described): unknown datatype \"\(datatype)\" (expected one of \(elementSizes.keys.sorted().joined(separator: ", ")))")
            }
            let shape = try self.shape(tensor["shape"], described)
            var parameters = try tensor["parameters"].map { try self.parameters($0, field: "\(described) parameters") } ?? [:]
            var raw: [UInt8]?
            if let size = parameters.removeValue(forKey: "binary_data_size") {
                guard case .int64(let count) = size, count >= 0, offset + Int(count) <= binary.count else {
                    throw OIPJSONError("\(described): binary_data_size must fit in the \(binary.count) binary bytes after the JSON")
                }
                guard tensor["data"] == nil else { throw OIPJSONError("\(described): give data or binary_data_size, not both") }
                raw = Array(binary[offset..<(offset + Int(count))])
                offset += Int(count)
                try checkRaw(raw!, datatype: datatype, shape: shape, described)
            } else if tensor["data"] == nil {
                throw OIPJSONError("\(described): data is required")
            }
            decoded.append((InferInputTensor(name: name, datatype: datatype, shape: shape, parameters: parameters), raw, tensor["data"]))
        }
        guard offset == binary.count else {
            throw OIPJSONError("\(binary.count - offset) binary bytes after the JSON belong to no input (binary_data_size)")
        }
        // Raw contents are all or nothing (the protocol's rule); FP16 has no typed field.
        let useRaw = decoded.contains { $0.raw != nil || $0.tensor.datatype == "FP16" }
        for entry in decoded {
            var tensor = entry.tensor
            let described = "input \"\(tensor.name)\""
            if useRaw {
                message.rawInputContents.append(try entry.raw ?? rawBytes(entry.values!, datatype: tensor.datatype, shape: tensor.shape, described))
            } else {
                tensor.contents = try contents(entry.values!, datatype: tensor.datatype, shape: tensor.shape, described)
            }
            message.inputs.append(tensor)
        }
        var binaryOutputs = Set<String>()
        if let outputs = fields["outputs"] {
            guard case .array(let list) = outputs else { throw OIPJSONError("\"outputs\" must be a list") }
            for (index, output) in list.enumerated() {
                guard case .object(let object) = output, case .string(let name)? = object["name"], !name.isEmpty else {
                    throw OIPJSONError("outputs[\(index)] must be an object with a name")
                }
                var parameters = try object["parameters"].map { try self.parameters($0, field: "output \"\(name)\" parameters") } ?? [:]
                if case .bool(let binary)? = parameters.removeValue(forKey: "binary_data") {
                    if binary { binaryOutputs.insert(name) }
                } else if binaryAll {
                    binaryOutputs.insert(name)
                }
                message.outputs.append(InferRequestedOutputTensor(name: name, parameters: parameters))
            }
        }
        return Request(message: message, binaryOutputs: binaryOutputs, binaryAll: binaryAll && message.outputs.isEmpty)
    }

    static func shape(_ value: JSONValue?, _ described: String) throws -> [Int64] {
        guard case .array(let dims)? = value else { throw OIPJSONError("\(described): shape must be a list of integers") }
        return try dims.map { dim in
            guard case .number(_, let exact?) = dim, exact >= 0 else {
                throw OIPJSONError("\(described): shape must be a list of non-negative integers")
            }
            return exact
        }
    }

    static func elementCount(_ shape: [Int64], _ described: String) throws -> Int {
        var count: Int64 = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= Int64(Int32.max) else { throw OIPJSONError("\(described): shape \(shape) is too large") }
            count = product
        }
        return Int(count)
    }

    /// The values of a tensor's `data` (nested lists as a row-major flat list), checked
    /// against the shape's element count.
    static func flatten(_ data: JSONValue, shape: [Int64], _ described: String) throws -> [JSONValue] {
        var flat: [JSONValue] = []
        func walk(_ value: JSONValue) {
            if case .array(let items) = value { items.forEach(walk) } else { flat.append(value) }
        }
        walk(data)
        let count = try elementCount(shape, described)
        guard flat.count == count else {
            throw OIPJSONError("\(described): shape \(shape) has \(count) elements, data has \(flat.count)")
        }
        return flat
    }

    /// JSON values as typed contents.
    static func contents(_ data: JSONValue, datatype: String, shape: [Int64], _ described: String) throws -> InferTensorContents {
        let values = try flatten(data, shape: shape, described)
        var contents = InferTensorContents()
        func wrong(_ value: JSONValue) -> OIPJSONError {
            OIPJSONError("\(described): datatype \(datatype) needs \(expected(datatype)), got \(value.kind)")
        }
        func integer(_ value: JSONValue, _ range: ClosedRange<Int64>) throws -> Int64 {
            guard case .number(_, let exact?) = value, range.contains(exact) else {
                if case .number = value { throw OIPJSONError("\(described): \(value) is not a \(datatype) (integers \(range.lowerBound)...\(range.upperBound))") }
                throw wrong(value)
            }
            return exact
        }
        switch datatype {
        case "BOOL":
            contents.boolContents = try values.map { guard case .bool(let b) = $0 else { throw wrong($0) }; return b }
        case "INT8": contents.intContents = try values.map { Int32(try integer($0, -128...127)) }
        case "INT16": contents.intContents = try values.map { Int32(try integer($0, -32768...32767)) }
        case "INT32": contents.intContents = try values.map { Int32(try integer($0, Int64(Int32.min)...Int64(Int32.max))) }
        case "INT64": contents.int64Contents = try values.map { try integer($0, Int64.min...Int64.max) }
        case "UINT8": contents.uintContents = try values.map { UInt32(try integer($0, 0...255)) }
        case "UINT16": contents.uintContents = try values.map { UInt32(try integer($0, 0...65535)) }
        case "UINT32": contents.uintContents = try values.map { UInt32(try integer($0, 0...Int64(UInt32.max))) }
        case "UINT64": contents.uint64Contents = try values.map { UInt64(try integer($0, 0...Int64.max)) }
        case "FP32": contents.fp32Contents = try values.map { guard case .number(let d, _) = $0 else { throw wrong($0) }; return Float(d) }
        case "FP64": contents.fp64Contents = try values.map { guard case .number(let d, _) = $0 else { throw wrong($0) }; return d }
        case "BYTES": contents.bytesContents = try values.map { guard case .string(let s) = $0 else { throw wrong($0) }; return Array(s.utf8) }
        default: throw OIPJSONError("\(described): datatype \(datatype) cannot be sent as typed contents")
        }
        return contents
    }

    /// JSON values as raw little-endian bytes (BYTES: each element a 4-byte length, then its bytes).
    static func rawBytes(_ data: JSONValue, datatype: String, shape: [Int64], _ described: String) throws -> [UInt8] {
        if datatype == "FP16" {
            let values = try flatten(data, shape: shape, described)
            var out: [UInt8] = []
            out.reserveCapacity(values.count * 2)
            for value in values {
                guard case .number(let d, _) = value else {
                    throw OIPJSONError("\(described): datatype FP16 needs numbers, got \(value.kind)")
                }
                append(&out, Float16(d).bitPattern)
            }
            return out
        }
        let typed = try contents(data, datatype: datatype, shape: shape, described)
        var out: [UInt8] = []
        switch datatype {
        case "BOOL": out = typed.boolContents.map { $0 ? 1 : 0 }
        case "INT8": out = typed.intContents.map { UInt8(bitPattern: Int8($0)) }
        case "INT16": typed.intContents.forEach { append(&out, UInt16(bitPattern: Int16($0))) }
        case "INT32": typed.intContents.forEach { append(&out, UInt32(bitPattern: $0)) }
        case "INT64": typed.int64Contents.forEach { append(&out, UInt64(bitPattern: $0)) }
        case "UINT8": out = typed.uintContents.map { UInt8($0) }
        case "UINT16": typed.uintContents.forEach { append(&out, UInt16($0)) }
        case "UINT32": typed.uintContents.forEach { append(&out, $0) }
        case "UINT64": typed.uint64Contents.forEach { append(&out, $0) }
        case "FP32": typed.fp32Contents.forEach { append(&out, $0.bitPattern) }
        case "FP64": typed.fp64Contents.forEach { append(&out, $0.bitPattern) }
        case "BYTES":
            for element in typed.bytesContents {
                append(&out, UInt32(element.count))
                out += element
            }
        default: break
        }
        return out
    }

    /// Checks that raw bytes hold exactly the shape's elements of `datatype`.
    static func checkRaw(_ raw: [UInt8], datatype: String, shape: [Int64], _ described: String) throws {
        let count = try elementCount(shape, described)
        if datatype == "BYTES" {
            _ = try splitBytes(raw, count: count, described)
        } else if raw.count != count * elementSizes[datatype]! {
            throw OIPJSONError("\(described): shape \(shape) of \(datatype) needs \(count * elementSizes[datatype]!) bytes, got \(raw.count)")
        }
    }

    static func splitBytes(_ raw: [UInt8], count: Int, _ described: String) throws -> [[UInt8]] {
        var elements: [[UInt8]] = []
        var index = 0
        while index < raw.count {
            guard index + 4 <= raw.count else { throw OIPJSONError("\(described): BYTES element length cut short") }
            let length = Int(UInt32(raw[index]) | UInt32(raw[index + 1]) << 8 | UInt32(raw[index + 2]) << 16 | UInt32(raw[index + 3]) << 24)
            index += 4
            guard index + length <= raw.count else { throw OIPJSONError("\(described): BYTES element of \(length) bytes cut short") }
            elements.append(Array(raw[index..<(index + length)]))
            index += length
        }
        guard elements.count == count else {
            throw OIPJSONError("\(described): \(elements.count) BYTES elements, the shape has \(count)")
        }
        return elements
    }

    static func parameters(_ value: JSONValue, field: String) throws -> [String: InferParameter] {
        guard case .object(let members) = value else { throw OIPJSONError("\(field) must be an object") }
        var out: [String: InferParameter] = [:]
        for (key, member) in members {
            switch member {
            case .bool(let b): out[key] = .bool(b)
            case .number(_, let exact?): out[key] = .int64(exact)
            case .number(let d, nil): out[key] = .double(d)
            case .string(let s): out[key] = .string(s)
            default: throw OIPJSONError("\(field).\(key) must be a boolean, number or string")
            }
        }
        return out
    }

    private static func expected(_ datatype: String) -> String {
        switch datatype {
        case "BOOL": return "booleans"
        case "BYTES": return "strings"
        default: return "numbers"
        }
    }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    // MARK: Responses

    /// Translates a model's response; outputs in `binaryOutputs` (or all with `binaryAll`)
    /// become binary data after the JSON, in order.
    public static func response(_ response: ModelInferResponse, binaryOutputs: Set<String>, binaryAll: Bool) throws -> Response {
        var outputs: [[String: Any]] = []
        var binary: [UInt8] = []
        let useRaw = !response.rawOutputContents.isEmpty
        guard !useRaw || response.rawOutputContents.count == response.outputs.count else {
            throw OIPJSONError("the model answered \(response.outputs.count) outputs with \(response.rawOutputContents.count) raw contents")
        }
        for (index, output) in response.outputs.enumerated() {
            let described = "output \"\(output.name)\""
            var object: [String: Any] = ["name": output.name, "datatype": output.datatype, "shape": output.shape.map { Int($0) }]
            var parameters = parametersJSON(output.parameters)
            let raw = useRaw ? response.rawOutputContents[index] : nil
            if binaryAll || binaryOutputs.contains(output.name) {
                let bytes = try raw ?? rawBytes(fromContents: output.contents ?? InferTensorContents(), datatype: output.datatype,
                                                 shape: output.shape, described)
                parameters["binary_data_size"] = bytes.count
                binary += bytes
            } else {
                object["data"] = try raw.map { try values(fromRaw: $0, datatype: output.datatype, shape: output.shape, described) }
                    ?? values(fromContents: output.contents ?? InferTensorContents(), datatype: output.datatype)
            }
            if !parameters.isEmpty { object["parameters"] = parameters }
            outputs.append(object)
        }
        var json: [String: Any] = ["model_name": response.modelName, "model_version": response.modelVersion, "outputs": outputs]
        if !response.id.isEmpty { json["id"] = response.id }
        let parameters = parametersJSON(response.parameters)
        if !parameters.isEmpty { json["parameters"] = parameters }
        return Response(json: json, binary: binary)
    }

    static func parametersJSON(_ parameters: [String: InferParameter]) -> [String: Any] {
        parameters.mapValues { parameter -> Any in
            switch parameter {
            case .bool(let b): return b
            case .int64(let i): return i
            case .string(let s): return s
            case .double(let d): return d
            case .uint64(let u): return u
            }
        }
    }

    /// Typed contents as a flat JSON list.
    static func values(fromContents contents: InferTensorContents, datatype: String) -> [Any] {
        switch datatype {
        case "BOOL": return contents.boolContents
        case "INT8", "INT16", "INT32": return contents.intContents.map { Int($0) }
        case "INT64": return contents.int64Contents.map { Int($0) }
        case "UINT8", "UINT16", "UINT32": return contents.uintContents.map { Int($0) }
        case "UINT64": return contents.uint64Contents.map { $0 }
        case "FP32": return contents.fp32Contents.map { Double($0) }
        case "FP64": return contents.fp64Contents
        case "BYTES": return contents.bytesContents.map { String(decoding: $0, as: UTF8.self) }
        default: return []
        }
    }

    /// Raw little-endian bytes as a flat JSON list.
    static func values(fromRaw raw: [UInt8], datatype: String, shape: [Int64], _ described: String) throws -> [Any] {
        guard let size = elementSizes[datatype] else { throw OIPJSONError("\(described): unknown datatype \(datatype)") }
        let count = try elementCount(shape, described)
        if datatype == "BYTES" {
            return try splitBytes(raw, count: count, described).map { String(decoding: $0, as: UTF8.self) }
        }
        guard raw.count == count * size else {
            throw OIPJSONError("\(described): shape \(shape) of \(datatype) needs \(count * size) bytes, the model sent \(raw.count)")
        }
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { target in
                for byte in 0..<MemoryLayout<T>.size { target[byte] = raw[i * MemoryLayout<T>.size + byte] }
            }
            return T(littleEndian: value)
        }
        return (0..<count).map { i -> Any in
            switch datatype {
            case "BOOL": return raw[i] != 0
            case "INT8": return Int(Int8(bitPattern: raw[i]))
            case "UINT8": return Int(raw[i])
            case "INT16": return Int(Int16(bitPattern: load(UInt16.self, i)))
            case "UINT16": return Int(load(UInt16.self, i))
            case "INT32": return Int(Int32(bitPattern: load(UInt32.self, i)))
            case "UINT32": return Int(load(UInt32.self, i))
            case "INT64": return Int(Int64(bitPattern: load(UInt64.self, i)))
            case "UINT64": return load(UInt64.self, i)
            case "FP16": return Double(Float(Float16(bitPattern: load(UInt16.self, i))))
            case "FP32": return Double(Float(bitPattern: load(UInt32.self, i)))
            default: return Double(bitPattern: load(UInt64.self, i))
            }
        }
    }

    /// Typed contents as raw bytes (for a binary output the model answered with typed contents).
    static func rawBytes(fromContents contents: InferTensorContents, datatype: String, shape: [Int64], _ described: String) throws -> [UInt8] {
        let values = self.values(fromContents: contents, datatype: datatype)
        let json: JSONValue = .array(values.map { value in
            switch value {
            case let b as Bool: return .bool(b)
            case let i as Int: return .number(Double(i), exact: Int64(i))
            case let u as UInt64: return .number(Double(u), exact: Int64(exactly: u))
            case let d as Double: return .number(d, exact: nil)
            case let s as String: return .string(s)
            default: return .null
            }
        })
        return try rawBytes(json, datatype: datatype, shape: shape, described)
    }
}

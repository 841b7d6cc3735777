// Swift value types for byoc.v1 inference.proto: DataType, Tensor, PredictRequest, PredictResponse.
import ByocProtos
import CProtobufC
import Foundation

/// The element type of a `Tensor` (byoc.v1.DataType).
public enum DataType: Int32, CaseIterable, Sendable {
    case unspecified = 0, float32, float64, int32, int64, bool, string, bytes

    /// The proto enum value name, e.g. "FLOAT32" or "DATA_TYPE_UNSPECIFIED".
    public var name: String {
        switch self {
        case .unspecified: return "DATA_TYPE_UNSPECIFIED"
        case .float32: return "FLOAT32"
        case .float64: return "FLOAT64"
        case .int32: return "INT32"
        case .int64: return "INT64"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .bytes: return "BYTES"
        }
    }

    /// Looks a value up by its proto name, ignoring case ("FLOAT32", "float32").
    public init?(name: String) {
        let upper = name.uppercased()
        guard let value = Self.allCases.first(where: { $0.name == upper }) else { return nil }
        self = value
    }
}

/// Values of one tensor, as a typed list or as raw row-major little-endian bytes (byoc.v1.Tensor).
public struct Tensor: Equatable, Sendable, ProtoMessage {
    /// The element type.
    public var dtype: DataType
    /// The dimensions; empty for a scalar.
    public var shape: [Int64]
    /// FLOAT32 values.
    public var floats: [Float]
    /// FLOAT64 values.
    public var doubles: [Double]
    /// INT32 and INT64 values.
    public var ints: [Int64]
    /// BOOL values.
    public var bools: [Bool]
    /// STRING values.
    public var strings: [String]
    /// Row-major little-endian values instead of a typed list.
    public var raw: [UInt8]

    /// Creates a tensor; every field defaults to empty.
    public init(dtype: DataType = .unspecified, shape: [Int64] = [], floats: [Float] = [],
                doubles: [Double] = [], ints: [Int64] = [], bools: [Bool] = [],
                strings: [String] = [], raw: [UInt8] = []) {
        self.dtype = dtype
        self.shape = shape
        self.floats = floats
        self.doubles = doubles
        self.ints = ints
        self.bools = bools
        self.strings = strings
        self.raw = raw
    }

    /// Creates an empty tensor.
    public init() { self.init(dtype: .unspecified) }

    /// Decodes a byoc.v1.Tensor.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.Tensor", byoc__v1__tensor__unpack,
                                 byoc__v1__tensor__free_unpacked, Tensor.init(c:))
    }

    /// Encodes as a byoc.v1.Tensor.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__tensor__get_packed_size, byoc__v1__tensor__pack)
    }

    /// Returns a JSON-compatible dictionary: "dtype" (name), "shape" and each non-empty value list
    /// under its field name ("raw" as base64; non-finite floats as "NaN"/"Infinity"/"-Infinity").
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = ["dtype": dtype.name, "shape": shape.map { Int($0) }]
        if !floats.isEmpty { object["floats"] = floats.map { jsonNumber(Double($0)) } }
        if !doubles.isEmpty { object["doubles"] = doubles.map(jsonNumber) }
        if !ints.isEmpty { object["ints"] = ints.map { Int($0) } }
        if !bools.isEmpty { object["bools"] = bools }
        if !strings.isEmpty { object["strings"] = strings }
        if !raw.isEmpty { object["raw"] = Data(raw).base64EncodedString() }
        return object
    }

    init(c: Byoc__V1__Tensor) {
        self.init(dtype: DataType(rawValue: protoEnumValue(c.dtype)) ?? .unspecified,
                  shape: swiftArray(c.n_shape, c.shape),
                  floats: swiftArray(c.n_floats, c.floats),
                  doubles: swiftArray(c.n_doubles, c.doubles),
                  ints: swiftArray(c.n_ints, c.ints),
                  bools: swiftBools(c.n_bools, c.bools),
                  strings: swiftStrings(c.n_strings, c.strings),
                  raw: swiftBytes(c.raw))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__Tensor> {
        let m = arena.message(byoc__v1__tensor__init)
        m.pointee.dtype = cEnum(dtype.rawValue)
        (m.pointee.n_shape, m.pointee.shape) = arena.array(shape)
        (m.pointee.n_floats, m.pointee.floats) = arena.array(floats)
        (m.pointee.n_doubles, m.pointee.doubles) = arena.array(doubles)
        (m.pointee.n_ints, m.pointee.ints) = arena.array(ints)
        (m.pointee.n_bools, m.pointee.bools) = arena.bools(bools)
        (m.pointee.n_strings, m.pointee.strings) = arena.strings(strings)
        m.pointee.raw = arena.binary(raw)
        return m
    }
}

/// A JSON number, or protobuf's JSON string for a non-finite value.
private func jsonNumber(_ value: Double) -> Any {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return value
}

/// A call to a model (byoc.v1.PredictRequest); fields 1 (model) and 2 (version) always encode first.
public struct PredictRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version; "" means the model's default version.
    public var version: String
    /// Named input tensors.
    public var inputs: [String: Tensor]
    /// Opaque bytes for containers with their own format.
    public var payload: [UInt8]
    /// Free-form string parameters.
    public var parameters: [String: String]

    /// Creates a request; every field defaults to empty.
    public init(model: String = "", version: String = "", inputs: [String: Tensor] = [:],
                payload: [UInt8] = [], parameters: [String: String] = [:]) {
        self.model = model
        self.version = version
        self.inputs = inputs
        self.payload = payload
        self.parameters = parameters
    }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.PredictRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.PredictRequest", byoc__v1__predict_request__unpack,
                                 byoc__v1__predict_request__free_unpacked, PredictRequest.init(c:))
    }

    /// Encodes as a byoc.v1.PredictRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__predict_request__get_packed_size, byoc__v1__predict_request__pack)
    }

    init(c: Byoc__V1__PredictRequest) {
        self.init(model: swiftString(c.model), version: swiftString(c.version),
                  inputs: swiftMap(c.n_inputs, c.inputs) {
                      (swiftString($0.key), $0.value.map { Tensor(c: $0.pointee) } ?? Tensor())
                  },
                  payload: swiftBytes(c.payload),
                  parameters: swiftMap(c.n_parameters, c.parameters) {
                      (swiftString($0.key), swiftString($0.value))
                  })
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__PredictRequest> {
        let m = arena.message(byoc__v1__predict_request__init)
        m.pointee.model = arena.string(model)
        m.pointee.version = arena.string(version)
        (m.pointee.n_inputs, m.pointee.inputs) = arena.map(inputs, byoc__v1__predict_request__inputs_entry__init) {
            entry, key, tensor in
            entry.pointee.key = key
            entry.pointee.value = tensor.toC(arena)
        }
        m.pointee.payload = arena.binary(payload)
        (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
            parameters, byoc__v1__predict_request__parameters_entry__init
        ) { entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = arena.string(value)
        }
        return m
    }
}

/// A model's answer (byoc.v1.PredictResponse).
public struct PredictResponse: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version that actually served the call.
    public var version: String
    /// Named output tensors.
    public var outputs: [String: Tensor]
    /// Opaque bytes for containers with their own format.
    public var payload: [UInt8]

    /// Creates a response; every field defaults to empty.
    public init(model: String = "", version: String = "", outputs: [String: Tensor] = [:],
                payload: [UInt8] = []) {
        self.model = model
        self.version = version
        self.outputs = outputs
        self.payload = payload
    }

    /// Creates an empty response.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.PredictResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.PredictResponse", byoc__v1__predict_response__unpack,
                                 byoc__v1__predict_response__free_unpacked, PredictResponse.init(c:))
    }

    /// Encodes as a byoc.v1.PredictResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__predict_response__get_packed_size, byoc__v1__predict_response__pack)
    }

    init(c: Byoc__V1__PredictResponse) {
        self.init(model: swiftString(c.model), version: swiftString(c.version),
                  outputs: swiftMap(c.n_outputs, c.outputs) {
                      (swiftString($0.key), $0.value.map { Tensor(c: $0.pointee) } ?? Tensor())
                  },
                  payload: swiftBytes(c.payload))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__PredictResponse> {
        let m = arena.message(byoc__v1__predict_response__init)
        m.pointee.model = arena.string(model)
        m.pointee.version = arena.string(version)
        (m.pointee.n_outputs, m.pointee.outputs) = arena.map(
            outputs, byoc__v1__predict_response__outputs_entry__init
        ) { entry, key, tensor in
            entry.pointee.key = key
            entry.pointee.value = tensor.toC(arena)
        }
        m.pointee.payload = arena.binary(payload)
        return m
    }
}

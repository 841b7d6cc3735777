// Swift value types for inference grpc_predict_v2.proto, the Open Inference Protocol (KServe v2).
import ByocProtos
import CProtobufC

// MARK: - Server and model health and metadata

/// Asks whether the server is live (inference.ServerLiveRequest; no fields).
public struct ServerLiveRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes an inference.ServerLiveRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerLiveRequest", inference__server_live_request__unpack,
                                 inference__server_live_request__free_unpacked) { _ in ServerLiveRequest() }
    }

    /// Encodes as an inference.ServerLiveRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(inference__server_live_request__init) },
                      inference__server_live_request__get_packed_size, inference__server_live_request__pack)
    }
}

/// Whether the server is live (inference.ServerLiveResponse).
public struct ServerLiveResponse: Equatable, Sendable, ProtoMessage {
    /// True when the server is live.
    public var live: Bool

    /// Creates a response; `live` defaults to false.
    public init(live: Bool = false) { self.live = live }

    /// Creates a response with `live` false.
    public init() { self.init(live: false) }

    /// Decodes an inference.ServerLiveResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerLiveResponse", inference__server_live_response__unpack,
                                 inference__server_live_response__free_unpacked) {
            ServerLiveResponse(live: $0.live != 0)
        }
    }

    /// Encodes as an inference.ServerLiveResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__server_live_response__init)
            m.pointee.live = live ? 1 : 0
            return m
        }, inference__server_live_response__get_packed_size, inference__server_live_response__pack)
    }
}

/// Asks whether the server is ready (inference.ServerReadyRequest; no fields).
public struct ServerReadyRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes an inference.ServerReadyRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerReadyRequest", inference__server_ready_request__unpack,
                                 inference__server_ready_request__free_unpacked) { _ in ServerReadyRequest() }
    }

    /// Encodes as an inference.ServerReadyRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(inference__server_ready_request__init) },
                      inference__server_ready_request__get_packed_size, inference__server_ready_request__pack)
    }
}

/// Whether the server is ready (inference.ServerReadyResponse).
public struct ServerReadyResponse: Equatable, Sendable, ProtoMessage {
    /// True when the server is ready.
    public var ready: Bool

    /// Creates a response; `ready` defaults to false.
    public init(ready: Bool = false) { self.ready = ready }

    /// Creates a response with `ready` false.
    public init() { self.init(ready: false) }

    /// Decodes an inference.ServerReadyResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerReadyResponse", inference__server_ready_response__unpack,
                                 inference__server_ready_response__free_unpacked) {
            ServerReadyResponse(ready: $0.ready != 0)
        }
    }

    /// Encodes as an inference.ServerReadyResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__server_ready_response__init)
            m.pointee.ready = ready ? 1 : 0
            return m
        }, inference__server_ready_response__get_packed_size, inference__server_ready_response__pack)
    }
}

/// Asks whether a model is ready (inference.ModelReadyRequest).
public struct ModelReadyRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var name: String
    /// The version; "" = the default version.
    public var version: String

    /// Creates a request; every field defaults to empty.
    public init(name: String = "", version: String = "") {
        self.name = name
        self.version = version
    }

    /// Creates an empty request.
    public init() { self.init(name: "") }

    /// Decodes an inference.ModelReadyRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelReadyRequest", inference__model_ready_request__unpack,
                                 inference__model_ready_request__free_unpacked) {
            ModelReadyRequest(name: swiftString($0.name), version: swiftString($0.version))
        }
    }

    /// Encodes as an inference.ModelReadyRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_ready_request__init)
            m.pointee.name = arena.string(name)
            m.pointee.version = arena.string(version)
            return m
        }, inference__model_ready_request__get_packed_size, inference__model_ready_request__pack)
    }
}

/// Whether a model is ready (inference.ModelReadyResponse).
public struct ModelReadyResponse: Equatable, Sendable, ProtoMessage {
    /// True when the model has a ready endpoint.
    public var ready: Bool

    /// Creates a response; `ready` defaults to false.
    public init(ready: Bool = false) { self.ready = ready }

    /// Creates a response with `ready` false.
    public init() { self.init(ready: false) }

    /// Decodes an inference.ModelReadyResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelReadyResponse", inference__model_ready_response__unpack,
                                 inference__model_ready_response__free_unpacked) {
            ModelReadyResponse(ready: $0.ready != 0)
        }
    }

    /// Encodes as an inference.ModelReadyResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_ready_response__init)
            m.pointee.ready = ready ? 1 : 0
            return m
        }, inference__model_ready_response__get_packed_size, inference__model_ready_response__pack)
    }
}

/// Asks for the server's metadata (inference.ServerMetadataRequest; no fields).
public struct ServerMetadataRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes an inference.ServerMetadataRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerMetadataRequest",
                                 inference__server_metadata_request__unpack,
                                 inference__server_metadata_request__free_unpacked) { _ in ServerMetadataRequest() }
    }

    /// Encodes as an inference.ServerMetadataRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(inference__server_metadata_request__init) },
                      inference__server_metadata_request__get_packed_size, inference__server_metadata_request__pack)
    }
}

/// The server's name, version and protocol extensions (inference.ServerMetadataResponse).
public struct ServerMetadataResponse: Equatable, Sendable, ProtoMessage {
    /// The server name.
    public var name: String
    /// The server version.
    public var version: String
    /// Supported protocol extensions.
    public var extensions: [String]

    /// Creates a response; every field defaults to empty.
    public init(name: String = "", version: String = "", extensions: [String] = []) {
        self.name = name
        self.version = version
        self.extensions = extensions
    }

    /// Creates an empty response.
    public init() { self.init(name: "") }

    /// Decodes an inference.ServerMetadataResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ServerMetadataResponse",
                                 inference__server_metadata_response__unpack,
                                 inference__server_metadata_response__free_unpacked) {
            ServerMetadataResponse(name: swiftString($0.name), version: swiftString($0.version),
                                   extensions: swiftStrings($0.n_extensions, $0.extensions))
        }
    }

    /// Encodes as an inference.ServerMetadataResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__server_metadata_response__init)
            m.pointee.name = arena.string(name)
            m.pointee.version = arena.string(version)
            (m.pointee.n_extensions, m.pointee.extensions) = arena.strings(extensions)
            return m
        }, inference__server_metadata_response__get_packed_size, inference__server_metadata_response__pack)
    }
}

/// Asks for a model's metadata (inference.ModelMetadataRequest).
public struct ModelMetadataRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var name: String
    /// The version; "" = the default version.
    public var version: String

    /// Creates a request; every field defaults to empty.
    public init(name: String = "", version: String = "") {
        self.name = name
        self.version = version
    }

    /// Creates an empty request.
    public init() { self.init(name: "") }

    /// Decodes an inference.ModelMetadataRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelMetadataRequest", inference__model_metadata_request__unpack,
                                 inference__model_metadata_request__free_unpacked) {
            ModelMetadataRequest(name: swiftString($0.name), version: swiftString($0.version))
        }
    }

    /// Encodes as an inference.ModelMetadataRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_metadata_request__init)
            m.pointee.name = arena.string(name)
            m.pointee.version = arena.string(version)
            return m
        }, inference__model_metadata_request__get_packed_size, inference__model_metadata_request__pack)
    }
}

/// One input or output a model declares (inference.ModelMetadataResponse.TensorMetadata).
public struct TensorMetadata: Equatable, Sendable {
    /// The tensor name.
    public var name: String
    /// The datatype, e.g. "FP32".
    public var datatype: String
    /// The shape; -1 marks a variable dimension.
    public var shape: [Int64]

    /// Creates tensor metadata; every field defaults to empty.
    public init(name: String = "", datatype: String = "", shape: [Int64] = []) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
    }

    init(c: Inference__ModelMetadataResponse__TensorMetadata) {
        self.init(name: swiftString(c.name), datatype: swiftString(c.datatype), shape: swiftArray(c.n_shape, c.shape))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__ModelMetadataResponse__TensorMetadata> {
        let m = arena.message(inference__model_metadata_response__tensor_metadata__init)
        m.pointee.name = arena.string(name)
        m.pointee.datatype = arena.string(datatype)
        (m.pointee.n_shape, m.pointee.shape) = arena.array(shape)
        return m
    }
}

/// A model's name, versions, platform and tensors (inference.ModelMetadataResponse).
public struct ModelMetadataResponse: Equatable, Sendable, ProtoMessage {
    /// The proto-nested name of `TensorMetadata`.
    public typealias TensorMetadata = Messages.TensorMetadata

    /// The model name.
    public var name: String
    /// The model's versions.
    public var versions: [String]
    /// The serving platform, e.g. "onnxruntime_onnx".
    public var platform: String
    /// The declared inputs.
    public var inputs: [TensorMetadata]
    /// The declared outputs.
    public var outputs: [TensorMetadata]

    /// Creates a response; every field defaults to empty.
    public init(name: String = "", versions: [String] = [], platform: String = "",
                inputs: [TensorMetadata] = [], outputs: [TensorMetadata] = []) {
        self.name = name
        self.versions = versions
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
    }

    /// Creates an empty response.
    public init() { self.init(name: "") }

    /// Decodes an inference.ModelMetadataResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelMetadataResponse",
                                 inference__model_metadata_response__unpack,
                                 inference__model_metadata_response__free_unpacked) {
            ModelMetadataResponse(name: swiftString($0.name), versions: swiftStrings($0.n_versions, $0.versions),
                                  platform: swiftString($0.platform),
                                  inputs: swiftMessages($0.n_inputs, $0.inputs, TensorMetadata.init(c:)),
                                  outputs: swiftMessages($0.n_outputs, $0.outputs, TensorMetadata.init(c:)))
        }
    }

    /// Encodes as an inference.ModelMetadataResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_metadata_response__init)
            m.pointee.name = arena.string(name)
            (m.pointee.n_versions, m.pointee.versions) = arena.strings(versions)
            m.pointee.platform = arena.string(platform)
            (m.pointee.n_inputs, m.pointee.inputs) = arena.messages(inputs) { $0.toC(arena) }
            (m.pointee.n_outputs, m.pointee.outputs) = arena.messages(outputs) { $0.toC(arena) }
            return m
        }, inference__model_metadata_response__get_packed_size, inference__model_metadata_response__pack)
    }
}

// MARK: - Inference

/// A request or tensor parameter, one of five types (inference.InferParameter).
///
/// A parameter with no value set on the wire has no Swift representation: decoding drops
/// that map entry.
public enum InferParameter: Equatable, Sendable {
    case bool(Bool)
    case int64(Int64)
    case string(String)
    case double(Double)
    case uint64(UInt64)

    /// Converts a C parameter; nil when no value is set.
    init?(c: Inference__InferParameter) {
        switch c.parameter_choice_case {
        case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM: self = .bool(c.bool_param != 0)
        case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM: self = .int64(c.int64_param)
        case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM: self = .string(swiftString(c.string_param))
        case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM: self = .double(c.double_param)
        case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM: self = .uint64(c.uint64_param)
        default: return nil
        }
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__InferParameter> {
        let m = arena.message(inference__infer_parameter__init)
        switch self {
        case .bool(let value):
            m.pointee.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM
            m.pointee.bool_param = value ? 1 : 0
        case .int64(let value):
            m.pointee.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM
            m.pointee.int64_param = value
        case .string(let value):
            m.pointee.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM
            m.pointee.string_param = arena.string(value)
        case .double(let value):
            m.pointee.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM
            m.pointee.double_param = value
        case .uint64(let value):
            m.pointee.parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM
            m.pointee.uint64_param = value
        }
        return m
    }
}

/// Tensor values as typed lists (inference.InferTensorContents).
public struct InferTensorContents: Equatable, Sendable, ProtoMessage {
    /// BOOL values.
    public var boolContents: [Bool]
    /// INT8, INT16 and INT32 values.
    public var intContents: [Int32]
    /// INT64 values.
    public var int64Contents: [Int64]
    /// UINT8, UINT16 and UINT32 values.
    public var uintContents: [UInt32]
    /// UINT64 values.
    public var uint64Contents: [UInt64]
    /// FP32 values.
    public var fp32Contents: [Float]
    /// FP64 values.
    public var fp64Contents: [Double]
    /// BYTES values.
    public var bytesContents: [[UInt8]]

    /// Creates contents; every list defaults to empty.
    public init(boolContents: [Bool] = [], intContents: [Int32] = [], int64Contents: [Int64] = [],
                uintContents: [UInt32] = [], uint64Contents: [UInt64] = [], fp32Contents: [Float] = [],
                fp64Contents: [Double] = [], bytesContents: [[UInt8]] = []) {
        self.boolContents = boolContents
        self.intContents = intContents
        self.int64Contents = int64Contents
        self.uintContents = uintContents
        self.uint64Contents = uint64Contents
        self.fp32Contents = fp32Contents
        self.fp64Contents = fp64Contents
        self.bytesContents = bytesContents
    }

    /// Creates empty contents.
    public init() { self.init(boolContents: []) }

    /// Decodes an inference.InferTensorContents.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.InferTensorContents", inference__infer_tensor_contents__unpack,
                                 inference__infer_tensor_contents__free_unpacked, InferTensorContents.init(c:))
    }

    /// Encodes as an inference.InferTensorContents.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, inference__infer_tensor_contents__get_packed_size, inference__infer_tensor_contents__pack)
    }

    init(c: Inference__InferTensorContents) {
        self.init(boolContents: swiftBools(c.n_bool_contents, c.bool_contents),
                  intContents: swiftArray(c.n_int_contents, c.int_contents),
                  int64Contents: swiftArray(c.n_int64_contents, c.int64_contents),
                  uintContents: swiftArray(c.n_uint_contents, c.uint_contents),
                  uint64Contents: swiftArray(c.n_uint64_contents, c.uint64_contents),
                  fp32Contents: swiftArray(c.n_fp32_contents, c.fp32_contents),
                  fp64Contents: swiftArray(c.n_fp64_contents, c.fp64_contents),
                  bytesContents: swiftBytesList(c.n_bytes_contents, c.bytes_contents))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__InferTensorContents> {
        let m = arena.message(inference__infer_tensor_contents__init)
        (m.pointee.n_bool_contents, m.pointee.bool_contents) = arena.bools(boolContents)
        (m.pointee.n_int_contents, m.pointee.int_contents) = arena.array(intContents)
        (m.pointee.n_int64_contents, m.pointee.int64_contents) = arena.array(int64Contents)
        (m.pointee.n_uint_contents, m.pointee.uint_contents) = arena.array(uintContents)
        (m.pointee.n_uint64_contents, m.pointee.uint64_contents) = arena.array(uint64Contents)
        (m.pointee.n_fp32_contents, m.pointee.fp32_contents) = arena.array(fp32Contents)
        (m.pointee.n_fp64_contents, m.pointee.fp64_contents) = arena.array(fp64Contents)
        (m.pointee.n_bytes_contents, m.pointee.bytes_contents) = arena.binaries(bytesContents)
        return m
    }
}

/// One input tensor of an inference request (inference.ModelInferRequest.InferInputTensor).
public struct InferInputTensor: Equatable, Sendable {
    /// The tensor name.
    public var name: String
    /// The datatype, e.g. "FP32".
    public var datatype: String
    /// The shape.
    public var shape: [Int64]
    /// Tensor parameters.
    public var parameters: [String: InferParameter]
    /// Typed values; nil when the values are in the request's raw contents.
    public var contents: InferTensorContents?

    /// Creates an input tensor; every field defaults to empty.
    public init(name: String = "", datatype: String = "", shape: [Int64] = [],
                parameters: [String: InferParameter] = [:], contents: InferTensorContents? = nil) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.parameters = parameters
        self.contents = contents
    }

    init(c: Inference__ModelInferRequest__InferInputTensor) {
        self.init(name: swiftString(c.name), datatype: swiftString(c.datatype), shape: swiftArray(c.n_shape, c.shape),
                  parameters: swiftMap(c.n_parameters, c.parameters) {
                      (swiftString($0.key), $0.value.flatMap { InferParameter(c: $0.pointee) })
                  },
                  contents: c.contents.map { InferTensorContents(c: $0.pointee) })
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__ModelInferRequest__InferInputTensor> {
        let m = arena.message(inference__model_infer_request__infer_input_tensor__init)
        m.pointee.name = arena.string(name)
        m.pointee.datatype = arena.string(datatype)
        (m.pointee.n_shape, m.pointee.shape) = arena.array(shape)
        (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
            parameters, inference__model_infer_request__infer_input_tensor__parameters_entry__init
        ) { entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = value.toC(arena)
        }
        m.pointee.contents = contents?.toC(arena)
        return m
    }
}

/// An output the client asks for (inference.ModelInferRequest.InferRequestedOutputTensor).
public struct InferRequestedOutputTensor: Equatable, Sendable {
    /// The output name.
    public var name: String
    /// Output parameters.
    public var parameters: [String: InferParameter]

    /// Creates a requested output; every field defaults to empty.
    public init(name: String = "", parameters: [String: InferParameter] = [:]) {
        self.name = name
        self.parameters = parameters
    }

    init(c: Inference__ModelInferRequest__InferRequestedOutputTensor) {
        self.init(name: swiftString(c.name),
                  parameters: swiftMap(c.n_parameters, c.parameters) {
                      (swiftString($0.key), $0.value.flatMap { InferParameter(c: $0.pointee) })
                  })
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__ModelInferRequest__InferRequestedOutputTensor> {
        let m = arena.message(inference__model_infer_request__infer_requested_output_tensor__init)
        m.pointee.name = arena.string(name)
        (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
            parameters, inference__model_infer_request__infer_requested_output_tensor__parameters_entry__init
        ) { entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = value.toC(arena)
        }
        return m
    }
}

/// One output tensor of an inference response (inference.ModelInferResponse.InferOutputTensor).
public struct InferOutputTensor: Equatable, Sendable {
    /// The tensor name.
    public var name: String
    /// The datatype, e.g. "FP32".
    public var datatype: String
    /// The shape.
    public var shape: [Int64]
    /// Tensor parameters.
    public var parameters: [String: InferParameter]
    /// Typed values; nil when the values are in the response's raw contents.
    public var contents: InferTensorContents?

    /// Creates an output tensor; every field defaults to empty.
    public init(name: String = "", datatype: String = "", shape: [Int64] = [],
                parameters: [String: InferParameter] = [:], contents: InferTensorContents? = nil) {
        self.name = name
        self.datatype = datatype
        self.shape = shape
        self.parameters = parameters
        self.contents = contents
    }

    init(c: Inference__ModelInferResponse__InferOutputTensor) {
        self.init(name: swiftString(c.name), datatype: swiftString(c.datatype), shape: swiftArray(c.n_shape, c.shape),
                  parameters: swiftMap(c.n_parameters, c.parameters) {
                      (swiftString($0.key), $0.value.flatMap { InferParameter(c: $0.pointee) })
                  },
                  contents: c.contents.map { InferTensorContents(c: $0.pointee) })
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Inference__ModelInferResponse__InferOutputTensor> {
        let m = arena.message(inference__model_infer_response__infer_output_tensor__init)
        m.pointee.name = arena.string(name)
        m.pointee.datatype = arena.string(datatype)
        (m.pointee.n_shape, m.pointee.shape) = arena.array(shape)
        (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
            parameters, inference__model_infer_response__infer_output_tensor__parameters_entry__init
        ) { entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = value.toC(arena)
        }
        m.pointee.contents = contents?.toC(arena)
        return m
    }
}

/// An inference call (inference.ModelInferRequest); fields 1 and 2 name the model and version.
public struct ModelInferRequest: Equatable, Sendable, ProtoMessage {
    /// The proto-nested name of `InferInputTensor`.
    public typealias InferInputTensor = Messages.InferInputTensor
    /// The proto-nested name of `InferRequestedOutputTensor`.
    public typealias InferRequestedOutputTensor = Messages.InferRequestedOutputTensor

    /// The model name.
    public var modelName: String
    /// The version; "" = the default version.
    public var modelVersion: String
    /// A client-chosen request id, echoed in the response.
    public var id: String
    /// Request parameters.
    public var parameters: [String: InferParameter]
    /// The input tensors.
    public var inputs: [InferInputTensor]
    /// The outputs to return; empty = all.
    public var outputs: [InferRequestedOutputTensor]
    /// Raw input values, one entry per input in order, instead of `contents`.
    public var rawInputContents: [[UInt8]]

    /// Creates a request; every field defaults to empty.
    public init(modelName: String = "", modelVersion: String = "", id: String = "",
                parameters: [String: InferParameter] = [:], inputs: [InferInputTensor] = [],
                outputs: [InferRequestedOutputTensor] = [], rawInputContents: [[UInt8]] = []) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.id = id
        self.parameters = parameters
        self.inputs = inputs
        self.outputs = outputs
        self.rawInputContents = rawInputContents
    }

    /// Creates an empty request.
    public init() { self.init(modelName: "") }

    /// Decodes an inference.ModelInferRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelInferRequest", inference__model_infer_request__unpack,
                                 inference__model_infer_request__free_unpacked) { c in
            ModelInferRequest(
                modelName: swiftString(c.model_name), modelVersion: swiftString(c.model_version),
                id: swiftString(c.id),
                parameters: swiftMap(c.n_parameters, c.parameters) {
                    (swiftString($0.key), $0.value.flatMap { InferParameter(c: $0.pointee) })
                },
                inputs: swiftMessages(c.n_inputs, c.inputs, InferInputTensor.init(c:)),
                outputs: swiftMessages(c.n_outputs, c.outputs, InferRequestedOutputTensor.init(c:)),
                rawInputContents: swiftBytesList(c.n_raw_input_contents, c.raw_input_contents))
        }
    }

    /// Encodes as an inference.ModelInferRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_infer_request__init)
            m.pointee.model_name = arena.string(modelName)
            m.pointee.model_version = arena.string(modelVersion)
            m.pointee.id = arena.string(id)
            (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
                parameters, inference__model_infer_request__parameters_entry__init
            ) { entry, key, value in
                entry.pointee.key = key
                entry.pointee.value = value.toC(arena)
            }
            (m.pointee.n_inputs, m.pointee.inputs) = arena.messages(inputs) { $0.toC(arena) }
            (m.pointee.n_outputs, m.pointee.outputs) = arena.messages(outputs) { $0.toC(arena) }
            (m.pointee.n_raw_input_contents, m.pointee.raw_input_contents) = arena.binaries(rawInputContents)
            return m
        }, inference__model_infer_request__get_packed_size, inference__model_infer_request__pack)
    }
}

/// An inference result (inference.ModelInferResponse).
public struct ModelInferResponse: Equatable, Sendable, ProtoMessage {
    /// The proto-nested name of `InferOutputTensor`.
    public typealias InferOutputTensor = Messages.InferOutputTensor

    /// The model name.
    public var modelName: String
    /// The version that served the call.
    public var modelVersion: String
    /// The request id.
    public var id: String
    /// Response parameters.
    public var parameters: [String: InferParameter]
    /// The output tensors.
    public var outputs: [InferOutputTensor]
    /// Raw output values, one entry per output in order, instead of `contents`.
    public var rawOutputContents: [[UInt8]]

    /// Creates a response; every field defaults to empty.
    public init(modelName: String = "", modelVersion: String = "", id: String = "",
                parameters: [String: InferParameter] = [:], outputs: [InferOutputTensor] = [],
                rawOutputContents: [[UInt8]] = []) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.id = id
        self.parameters = parameters
        self.outputs = outputs
        self.rawOutputContents = rawOutputContents
    }

    /// Creates an empty response.
    public init() { self.init(modelName: "") }

    /// Decodes an inference.ModelInferResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "inference.ModelInferResponse", inference__model_infer_response__unpack,
                                 inference__model_infer_response__free_unpacked) { c in
            ModelInferResponse(
                modelName: swiftString(c.model_name), modelVersion: swiftString(c.model_version),
                id: swiftString(c.id),
                parameters: swiftMap(c.n_parameters, c.parameters) {
                    (swiftString($0.key), $0.value.flatMap { InferParameter(c: $0.pointee) })
                },
                outputs: swiftMessages(c.n_outputs, c.outputs, InferOutputTensor.init(c:)),
                rawOutputContents: swiftBytesList(c.n_raw_output_contents, c.raw_output_contents))
        }
    }

    /// Encodes as an inference.ModelInferResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(inference__model_infer_response__init)
            m.pointee.model_name = arena.string(modelName)
            m.pointee.model_version = arena.string(modelVersion)
            m.pointee.id = arena.string(id)
            (m.pointee.n_parameters, m.pointee.parameters) = arena.map(
                parameters, inference__model_infer_response__parameters_entry__init
            ) { entry, key, value in
                entry.pointee.key = key
                entry.pointee.value = value.toC(arena)
            }
            (m.pointee.n_outputs, m.pointee.outputs) = arena.messages(outputs) { $0.toC(arena) }
            (m.pointee.n_raw_output_contents, m.pointee.raw_output_contents) = arena.binaries(rawOutputContents)
            return m
        }, inference__model_infer_response__get_packed_size, inference__model_infer_response__pack)
    }
}

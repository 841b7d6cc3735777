// Swift value types for byoc.v1 admin.proto: the Admin API's requests, responses and registry records.
import ByocProtos
import CProtobufC

/// Where a model version is in its lifecycle (byoc.v1.VersionState).
public enum VersionState: Int32, CaseIterable, Sendable {
    case unspecified = 0, pending, deploying, ready, failed, deleting

    /// The proto enum value name, e.g. "READY" or "VERSION_STATE_UNSPECIFIED".
    public var name: String {
        switch self {
        case .unspecified: return "VERSION_STATE_UNSPECIFIED"
        case .pending: return "PENDING"
        case .deploying: return "DEPLOYING"
        case .ready: return "READY"
        case .failed: return "FAILED"
        case .deleting: return "DELETING"
        }
    }

    /// Looks a value up by its proto name, ignoring case ("READY", "ready").
    public init?(name: String) {
        let upper = name.uppercased()
        guard let value = Self.allCases.first(where: { $0.name == upper }) else { return nil }
        self = value
    }
}

/// Kubernetes-style resource quantities ("500m", "1Gi"); empty means unset (byoc.v1.Resources).
public struct Resources: Equatable, Sendable, ProtoMessage {
    /// CPU request, e.g. "500m".
    public var cpuRequest: String
    /// CPU limit.
    public var cpuLimit: String
    /// Memory request, e.g. "1Gi".
    public var memoryRequest: String
    /// Memory limit.
    public var memoryLimit: String

    /// Creates resources; every quantity defaults to unset.
    public init(cpuRequest: String = "", cpuLimit: String = "", memoryRequest: String = "",
                memoryLimit: String = "") {
        self.cpuRequest = cpuRequest
        self.cpuLimit = cpuLimit
        self.memoryRequest = memoryRequest
        self.memoryLimit = memoryLimit
    }

    /// Creates resources with every quantity unset.
    public init() { self.init(cpuRequest: "") }

    /// Decodes a byoc.v1.Resources.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.Resources", byoc__v1__resources__unpack,
                                 byoc__v1__resources__free_unpacked, Resources.init(c:))
    }

    /// Encodes as a byoc.v1.Resources.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__resources__get_packed_size, byoc__v1__resources__pack)
    }

    /// Returns a JSON-compatible dictionary with protobuf JSON names ("cpuRequest", ...).
    public func jsonObject() -> [String: Any] {
        ["cpuRequest": cpuRequest, "cpuLimit": cpuLimit, "memoryRequest": memoryRequest,
         "memoryLimit": memoryLimit]
    }

    init(c: Byoc__V1__Resources) {
        self.init(cpuRequest: swiftString(c.cpu_request), cpuLimit: swiftString(c.cpu_limit),
                  memoryRequest: swiftString(c.memory_request), memoryLimit: swiftString(c.memory_limit))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__Resources> {
        let m = arena.message(byoc__v1__resources__init)
        m.pointee.cpu_request = arena.string(cpuRequest)
        m.pointee.cpu_limit = arena.string(cpuLimit)
        m.pointee.memory_request = arena.string(memoryRequest)
        m.pointee.memory_limit = arena.string(memoryLimit)
        return m
    }
}

/// Registers a new model version (byoc.v1.RegisterModelRequest).
public struct RegisterModelRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version to register.
    public var version: String
    /// Container image (Kubernetes runtime, or docker/podman locally).
    public var image: String
    /// Local runtime: the command that serves the model on $PORT.
    public var command: [String]
    /// gRPC port inside the container; 0 = 8080 (local: assigned).
    public var port: Int32
    /// Environment variables for the model's process.
    public var env: [String: String]
    /// Minimum replicas; 0 = 1.
    public var minReplicas: Int32
    /// Maximum replicas; 0 = minReplicas.
    public var maxReplicas: Int32
    /// Resource requests and limits, when given.
    public var resources: Resources?
    /// HPA target in percent; 0 = 80.
    public var targetCpuUtilization: Int32

    /// Creates a request; every field defaults to empty or zero.
    public init(model: String = "", version: String = "", image: String = "", command: [String] = [],
                port: Int32 = 0, env: [String: String] = [:], minReplicas: Int32 = 0,
                maxReplicas: Int32 = 0, resources: Resources? = nil, targetCpuUtilization: Int32 = 0) {
        self.model = model
        self.version = version
        self.image = image
        self.command = command
        self.port = port
        self.env = env
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.resources = resources
        self.targetCpuUtilization = targetCpuUtilization
    }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.RegisterModelRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.RegisterModelRequest", byoc__v1__register_model_request__unpack,
                                 byoc__v1__register_model_request__free_unpacked, RegisterModelRequest.init(c:))
    }

    /// Encodes as a byoc.v1.RegisterModelRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__register_model_request__get_packed_size,
                      byoc__v1__register_model_request__pack)
    }

    init(c: Byoc__V1__RegisterModelRequest) {
        self.init(model: swiftString(c.model), version: swiftString(c.version), image: swiftString(c.image),
                  command: swiftStrings(c.n_command, c.command), port: c.port,
                  env: swiftMap(c.n_env, c.env) { (swiftString($0.key), swiftString($0.value)) },
                  minReplicas: c.min_replicas, maxReplicas: c.max_replicas,
                  resources: c.resources.map { Resources(c: $0.pointee) },
                  targetCpuUtilization: c.target_cpu_utilization)
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__RegisterModelRequest> {
        let m = arena.message(byoc__v1__register_model_request__init)
        m.pointee.model = arena.string(model)
        m.pointee.version = arena.string(version)
        m.pointee.image = arena.string(image)
        (m.pointee.n_command, m.pointee.command) = arena.strings(command)
        m.pointee.port = port
        (m.pointee.n_env, m.pointee.env) = arena.map(env, byoc__v1__register_model_request__env_entry__init) {
            entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = arena.string(value)
        }
        m.pointee.min_replicas = minReplicas
        m.pointee.max_replicas = maxReplicas
        m.pointee.resources = resources?.toC(arena)
        m.pointee.target_cpu_utilization = targetCpuUtilization
        return m
    }
}

/// One registered model version and its observed state (byoc.v1.ModelVersion).
public struct ModelVersion: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version.
    public var version: String
    /// Container image.
    public var image: String
    /// Local runtime command.
    public var command: [String]
    /// gRPC port inside the container.
    public var port: Int32
    /// Environment variables.
    public var env: [String: String]
    /// Minimum replicas.
    public var minReplicas: Int32
    /// Maximum replicas.
    public var maxReplicas: Int32
    /// Lifecycle state.
    public var state: VersionState
    /// Replicas that answer their health check.
    public var readyReplicas: Int32
    /// Human-readable detail, e.g. why the version failed.
    public var message: String
    /// Registration time in Unix milliseconds.
    public var createdUnixMs: Int64
    /// Resource requests and limits, when given.
    public var resources: Resources?
    /// HPA target in percent.
    public var targetCpuUtilization: Int32
    /// Replicas the reconciler currently wants.
    public var desiredReplicas: Int32

    /// Creates a model version; every field defaults to empty or zero.
    public init(model: String = "", version: String = "", image: String = "", command: [String] = [],
                port: Int32 = 0, env: [String: String] = [:], minReplicas: Int32 = 0,
                maxReplicas: Int32 = 0, state: VersionState = .unspecified, readyReplicas: Int32 = 0,
                message: String = "", createdUnixMs: Int64 = 0, resources: Resources? = nil,
                targetCpuUtilization: Int32 = 0, desiredReplicas: Int32 = 0) {
        self.model = model
        self.version = version
        self.image = image
        self.command = command
        self.port = port
        self.env = env
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.state = state
        self.readyReplicas = readyReplicas
        self.message = message
        self.createdUnixMs = createdUnixMs
        self.resources = resources
        self.targetCpuUtilization = targetCpuUtilization
        self.desiredReplicas = desiredReplicas
    }

    /// Creates an empty model version.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.ModelVersion.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ModelVersion", byoc__v1__model_version__unpack,
                                 byoc__v1__model_version__free_unpacked, ModelVersion.init(c:))
    }

    /// Encodes as a byoc.v1.ModelVersion.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__model_version__get_packed_size, byoc__v1__model_version__pack)
    }

    /// Returns a JSON-compatible dictionary with protobuf JSON names; "state" is the enum name,
    /// "createdUnixMs" a number, and "resources" is present only when set.
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = [
            "model": model, "version": version, "image": image, "command": command,
            "port": Int(port), "env": env, "minReplicas": Int(minReplicas), "maxReplicas": Int(maxReplicas),
            "state": state.name, "readyReplicas": Int(readyReplicas), "message": message,
            "createdUnixMs": Int(createdUnixMs), "targetCpuUtilization": Int(targetCpuUtilization),
            "desiredReplicas": Int(desiredReplicas),
        ]
        if let resources { object["resources"] = resources.jsonObject() }
        return object
    }

    init(c: Byoc__V1__ModelVersion) {
        self.init(model: swiftString(c.model), version: swiftString(c.version), image: swiftString(c.image),
                  command: swiftStrings(c.n_command, c.command), port: c.port,
                  env: swiftMap(c.n_env, c.env) { (swiftString($0.key), swiftString($0.value)) },
                  minReplicas: c.min_replicas, maxReplicas: c.max_replicas,
                  state: VersionState(rawValue: protoEnumValue(c.state)) ?? .unspecified,
                  readyReplicas: c.ready_replicas, message: swiftString(c.message),
                  createdUnixMs: c.created_unix_ms,
                  resources: c.resources.map { Resources(c: $0.pointee) },
                  targetCpuUtilization: c.target_cpu_utilization, desiredReplicas: c.desired_replicas)
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__ModelVersion> {
        let m = arena.message(byoc__v1__model_version__init)
        m.pointee.model = arena.string(model)
        m.pointee.version = arena.string(version)
        m.pointee.image = arena.string(image)
        (m.pointee.n_command, m.pointee.command) = arena.strings(command)
        m.pointee.port = port
        (m.pointee.n_env, m.pointee.env) = arena.map(env, byoc__v1__model_version__env_entry__init) {
            entry, key, value in
            entry.pointee.key = key
            entry.pointee.value = arena.string(value)
        }
        m.pointee.min_replicas = minReplicas
        m.pointee.max_replicas = maxReplicas
        m.pointee.state = cEnum(state.rawValue)
        m.pointee.ready_replicas = readyReplicas
        m.pointee.message = arena.string(message)
        m.pointee.created_unix_ms = createdUnixMs
        m.pointee.resources = resources?.toC(arena)
        m.pointee.target_cpu_utilization = targetCpuUtilization
        m.pointee.desired_replicas = desiredReplicas
        return m
    }
}

/// A model with its default version and every registered version (byoc.v1.Model).
public struct Model: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var name: String
    /// The version served when a request names none.
    public var defaultVersion: String
    /// Every registered version.
    public var versions: [ModelVersion]

    /// Creates a model; every field defaults to empty.
    public init(name: String = "", defaultVersion: String = "", versions: [ModelVersion] = []) {
        self.name = name
        self.defaultVersion = defaultVersion
        self.versions = versions
    }

    /// Creates an empty model.
    public init() { self.init(name: "") }

    /// Decodes a byoc.v1.Model.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.Model", byoc__v1__model__unpack,
                                 byoc__v1__model__free_unpacked, Model.init(c:))
    }

    /// Encodes as a byoc.v1.Model.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__model__get_packed_size, byoc__v1__model__pack)
    }

    /// Returns a JSON-compatible dictionary: "name", "defaultVersion" and "versions".
    public func jsonObject() -> [String: Any] {
        ["name": name, "defaultVersion": defaultVersion, "versions": versions.map { $0.jsonObject() }]
    }

    init(c: Byoc__V1__Model) {
        self.init(name: swiftString(c.name), defaultVersion: swiftString(c.default_version),
                  versions: swiftMessages(c.n_versions, c.versions, ModelVersion.init(c:)))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__Model> {
        let m = arena.message(byoc__v1__model__init)
        m.pointee.name = arena.string(name)
        m.pointee.default_version = arena.string(defaultVersion)
        (m.pointee.n_versions, m.pointee.versions) = arena.messages(versions) { $0.toC(arena) }
        return m
    }
}

/// Lists every model (byoc.v1.ListModelsRequest; no fields).
public struct ListModelsRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes a byoc.v1.ListModelsRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ListModelsRequest", byoc__v1__list_models_request__unpack,
                                 byoc__v1__list_models_request__free_unpacked) { _ in ListModelsRequest() }
    }

    /// Encodes as a byoc.v1.ListModelsRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(byoc__v1__list_models_request__init) },
                      byoc__v1__list_models_request__get_packed_size, byoc__v1__list_models_request__pack)
    }
}

/// Every registered model (byoc.v1.ListModelsResponse).
public struct ListModelsResponse: Equatable, Sendable, ProtoMessage {
    /// The models.
    public var models: [Model]

    /// Creates a response; `models` defaults to empty.
    public init(models: [Model] = []) { self.models = models }

    /// Creates an empty response.
    public init() { self.init(models: []) }

    /// Decodes a byoc.v1.ListModelsResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ListModelsResponse", byoc__v1__list_models_response__unpack,
                                 byoc__v1__list_models_response__free_unpacked) {
            ListModelsResponse(models: swiftMessages($0.n_models, $0.models, Model.init(c:)))
        }
    }

    /// Encodes as a byoc.v1.ListModelsResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__list_models_response__init)
            (m.pointee.n_models, m.pointee.models) = arena.messages(models) { $0.toC(arena) }
            return m
        }, byoc__v1__list_models_response__get_packed_size, byoc__v1__list_models_response__pack)
    }
}

/// Fetches one model (byoc.v1.GetModelRequest).
public struct GetModelRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String

    /// Creates a request; `model` defaults to empty.
    public init(model: String = "") { self.model = model }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.GetModelRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.GetModelRequest", byoc__v1__get_model_request__unpack,
                                 byoc__v1__get_model_request__free_unpacked) {
            GetModelRequest(model: swiftString($0.model))
        }
    }

    /// Encodes as a byoc.v1.GetModelRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__get_model_request__init)
            m.pointee.model = arena.string(model)
            return m
        }, byoc__v1__get_model_request__get_packed_size, byoc__v1__get_model_request__pack)
    }
}

/// Makes a version the model's default (byoc.v1.SetDefaultVersionRequest).
public struct SetDefaultVersionRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version to make the default.
    public var version: String

    /// Creates a request; every field defaults to empty.
    public init(model: String = "", version: String = "") {
        self.model = model
        self.version = version
    }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.SetDefaultVersionRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.SetDefaultVersionRequest",
                                 byoc__v1__set_default_version_request__unpack,
                                 byoc__v1__set_default_version_request__free_unpacked) {
            SetDefaultVersionRequest(model: swiftString($0.model), version: swiftString($0.version))
        }
    }

    /// Encodes as a byoc.v1.SetDefaultVersionRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__set_default_version_request__init)
            m.pointee.model = arena.string(model)
            m.pointee.version = arena.string(version)
            return m
        }, byoc__v1__set_default_version_request__get_packed_size, byoc__v1__set_default_version_request__pack)
    }
}

/// Changes a version's replica bounds (byoc.v1.ScaleModelVersionRequest).
public struct ScaleModelVersionRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version to scale.
    public var version: String
    /// Minimum replicas.
    public var minReplicas: Int32
    /// Maximum replicas; 0 = minReplicas.
    public var maxReplicas: Int32

    /// Creates a request; every field defaults to empty or zero.
    public init(model: String = "", version: String = "", minReplicas: Int32 = 0, maxReplicas: Int32 = 0) {
        self.model = model
        self.version = version
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
    }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.ScaleModelVersionRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ScaleModelVersionRequest",
                                 byoc__v1__scale_model_version_request__unpack,
                                 byoc__v1__scale_model_version_request__free_unpacked) {
            ScaleModelVersionRequest(model: swiftString($0.model), version: swiftString($0.version),
                                     minReplicas: $0.min_replicas, maxReplicas: $0.max_replicas)
        }
    }

    /// Encodes as a byoc.v1.ScaleModelVersionRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__scale_model_version_request__init)
            m.pointee.model = arena.string(model)
            m.pointee.version = arena.string(version)
            m.pointee.min_replicas = minReplicas
            m.pointee.max_replicas = maxReplicas
            return m
        }, byoc__v1__scale_model_version_request__get_packed_size, byoc__v1__scale_model_version_request__pack)
    }
}

/// Deletes one version, or every version when `version` is "" (byoc.v1.DeleteModelRequest).
public struct DeleteModelRequest: Equatable, Sendable, ProtoMessage {
    /// The model name.
    public var model: String
    /// The version; "" = every version of the model.
    public var version: String

    /// Creates a request; every field defaults to empty.
    public init(model: String = "", version: String = "") {
        self.model = model
        self.version = version
    }

    /// Creates an empty request.
    public init() { self.init(model: "") }

    /// Decodes a byoc.v1.DeleteModelRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.DeleteModelRequest", byoc__v1__delete_model_request__unpack,
                                 byoc__v1__delete_model_request__free_unpacked) {
            DeleteModelRequest(model: swiftString($0.model), version: swiftString($0.version))
        }
    }

    /// Encodes as a byoc.v1.DeleteModelRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__delete_model_request__init)
            m.pointee.model = arena.string(model)
            m.pointee.version = arena.string(version)
            return m
        }, byoc__v1__delete_model_request__get_packed_size, byoc__v1__delete_model_request__pack)
    }
}

/// The versions a DeleteModel call removed (byoc.v1.DeleteModelResponse).
public struct DeleteModelResponse: Equatable, Sendable, ProtoMessage {
    /// The deleted versions.
    public var deleted: [ModelVersion]

    /// Creates a response; `deleted` defaults to empty.
    public init(deleted: [ModelVersion] = []) { self.deleted = deleted }

    /// Creates an empty response.
    public init() { self.init(deleted: []) }

    /// Decodes a byoc.v1.DeleteModelResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.DeleteModelResponse", byoc__v1__delete_model_response__unpack,
                                 byoc__v1__delete_model_response__free_unpacked) {
            DeleteModelResponse(deleted: swiftMessages($0.n_deleted, $0.deleted, ModelVersion.init(c:)))
        }
    }

    /// Encodes as a byoc.v1.DeleteModelResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__delete_model_response__init)
            (m.pointee.n_deleted, m.pointee.deleted) = arena.messages(deleted) { $0.toC(arena) }
            return m
        }, byoc__v1__delete_model_response__get_packed_size, byoc__v1__delete_model_response__pack)
    }
}

// MARK: - API tokens

/// An API token as the registry describes it, never with its secret (byoc.v1.Token).
public struct Token: Equatable, Sendable, ProtoMessage {
    /// 12 lowercase hex characters; public (the token text is `byoc_<id>_<secret>`).
    public var id: String
    /// "admin" or "predict".
    public var scope: String
    /// predict: the models the token may call; empty = every model.
    public var models: [String]
    /// 0 = never expires.
    public var expiresUnixMs: Int64
    public var createdUnixMs: Int64
    /// 0 = not revoked.
    public var revokedUnixMs: Int64
    public var description: String

    /// Creates a token description; every field defaults to empty or zero.
    public init(id: String = "", scope: String = "", models: [String] = [], expiresUnixMs: Int64 = 0,
                createdUnixMs: Int64 = 0, revokedUnixMs: Int64 = 0, description: String = "") {
        self.id = id
        self.scope = scope
        self.models = models
        self.expiresUnixMs = expiresUnixMs
        self.createdUnixMs = createdUnixMs
        self.revokedUnixMs = revokedUnixMs
        self.description = description
    }

    /// Creates an empty token description.
    public init() { self.init(id: "") }

    /// Decodes a byoc.v1.Token.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.Token", byoc__v1__token__unpack,
                                 byoc__v1__token__free_unpacked, Token.init(c:))
    }

    /// Encodes as a byoc.v1.Token.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, byoc__v1__token__get_packed_size, byoc__v1__token__pack)
    }

    /// Returns a JSON-compatible dictionary with protobuf JSON names ("expiresUnixMs", ...).
    public func jsonObject() -> [String: Any] {
        ["id": id, "scope": scope, "models": models, "expiresUnixMs": Int(expiresUnixMs),
         "createdUnixMs": Int(createdUnixMs), "revokedUnixMs": Int(revokedUnixMs), "description": description]
    }

    init(c: Byoc__V1__Token) {
        self.init(id: swiftString(c.id), scope: swiftString(c.scope), models: swiftStrings(c.n_models, c.models),
                  expiresUnixMs: c.expires_unix_ms, createdUnixMs: c.created_unix_ms,
                  revokedUnixMs: c.revoked_unix_ms, description: swiftString(c.description))
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Byoc__V1__Token> {
        let m = arena.message(byoc__v1__token__init)
        m.pointee.id = arena.string(id)
        m.pointee.scope = arena.string(scope)
        (m.pointee.n_models, m.pointee.models) = arena.strings(models)
        m.pointee.expires_unix_ms = expiresUnixMs
        m.pointee.created_unix_ms = createdUnixMs
        m.pointee.revoked_unix_ms = revokedUnixMs
        m.pointee.description = arena.string(description)
        return m
    }
}

/// Creates an API token (byoc.v1.CreateTokenRequest).
public struct CreateTokenRequest: Equatable, Sendable, ProtoMessage {
    /// "admin" or "predict".
    public var scope: String
    /// predict only: the models it may call; empty = every model.
    public var models: [String]
    /// 0 = never; otherwise in the future.
    public var expiresUnixMs: Int64
    public var description: String

    /// Creates a request; every field defaults to empty or zero.
    public init(scope: String = "", models: [String] = [], expiresUnixMs: Int64 = 0, description: String = "") {
        self.scope = scope
        self.models = models
        self.expiresUnixMs = expiresUnixMs
        self.description = description
    }

    /// Creates an empty request.
    public init() { self.init(scope: "") }

    /// Decodes a byoc.v1.CreateTokenRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.CreateTokenRequest", byoc__v1__create_token_request__unpack,
                                 byoc__v1__create_token_request__free_unpacked) {
            CreateTokenRequest(scope: swiftString($0.scope), models: swiftStrings($0.n_models, $0.models),
                               expiresUnixMs: $0.expires_unix_ms, description: swiftString($0.description))
        }
    }

    /// Encodes as a byoc.v1.CreateTokenRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__create_token_request__init)
            m.pointee.scope = arena.string(scope)
            (m.pointee.n_models, m.pointee.models) = arena.strings(models)
            m.pointee.expires_unix_ms = expiresUnixMs
            m.pointee.description = arena.string(description)
            return m
        }, byoc__v1__create_token_request__get_packed_size, byoc__v1__create_token_request__pack)
    }
}

/// The created token and its full text, shown only here (byoc.v1.CreateTokenResponse).
public struct CreateTokenResponse: Equatable, Sendable, ProtoMessage {
    public var token: Token?
    /// The full bearer token text `byoc_<id>_<secret>`.
    public var secret: String

    /// Creates a response; every field defaults to unset or empty.
    public init(token: Token? = nil, secret: String = "") {
        self.token = token
        self.secret = secret
    }

    /// Creates an empty response.
    public init() { self.init(token: nil) }

    /// Decodes a byoc.v1.CreateTokenResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.CreateTokenResponse", byoc__v1__create_token_response__unpack,
                                 byoc__v1__create_token_response__free_unpacked) {
            CreateTokenResponse(token: $0.token.map { Token(c: $0.pointee) }, secret: swiftString($0.secret))
        }
    }

    /// Encodes as a byoc.v1.CreateTokenResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__create_token_response__init)
            m.pointee.token = token?.toC(arena)
            m.pointee.secret = arena.string(secret)
            return m
        }, byoc__v1__create_token_response__get_packed_size, byoc__v1__create_token_response__pack)
    }
}

/// Lists every token (byoc.v1.ListTokensRequest; no fields).
public struct ListTokensRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes a byoc.v1.ListTokensRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ListTokensRequest", byoc__v1__list_tokens_request__unpack,
                                 byoc__v1__list_tokens_request__free_unpacked) { _ in ListTokensRequest() }
    }

    /// Encodes as a byoc.v1.ListTokensRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(byoc__v1__list_tokens_request__init) },
                      byoc__v1__list_tokens_request__get_packed_size, byoc__v1__list_tokens_request__pack)
    }
}

/// Every token, revoked and expired ones too, oldest first (byoc.v1.ListTokensResponse).
public struct ListTokensResponse: Equatable, Sendable, ProtoMessage {
    public var tokens: [Token]

    /// Creates a response; `tokens` defaults to empty.
    public init(tokens: [Token] = []) { self.tokens = tokens }

    /// Creates an empty response.
    public init() { self.init(tokens: []) }

    /// Decodes a byoc.v1.ListTokensResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.ListTokensResponse", byoc__v1__list_tokens_response__unpack,
                                 byoc__v1__list_tokens_response__free_unpacked) {
            ListTokensResponse(tokens: swiftMessages($0.n_tokens, $0.tokens, Token.init(c:)))
        }
    }

    /// Encodes as a byoc.v1.ListTokensResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__list_tokens_response__init)
            (m.pointee.n_tokens, m.pointee.tokens) = arena.messages(tokens) { $0.toC(arena) }
            return m
        }, byoc__v1__list_tokens_response__get_packed_size, byoc__v1__list_tokens_response__pack)
    }
}

/// Revokes a token by id (byoc.v1.RevokeTokenRequest).
public struct RevokeTokenRequest: Equatable, Sendable, ProtoMessage {
    public var id: String

    /// Creates a request; `id` defaults to empty.
    public init(id: String = "") { self.id = id }

    /// Creates an empty request.
    public init() { self.init(id: "") }

    /// Decodes a byoc.v1.RevokeTokenRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "byoc.v1.RevokeTokenRequest", byoc__v1__revoke_token_request__unpack,
                                 byoc__v1__revoke_token_request__free_unpacked) {
            RevokeTokenRequest(id: swiftString($0.id))
        }
    }

    /// Encodes as a byoc.v1.RevokeTokenRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(byoc__v1__revoke_token_request__init)
            m.pointee.id = arena.string(id)
            return m
        }, byoc__v1__revoke_token_request__get_packed_size, byoc__v1__revoke_token_request__pack)
    }
}

import Foundation
import GRPC
import Messages
import Registry
import Routing

/// The `byoc.v1.Admin` service: decode, validate, change the registry, bring routing up to date.
///
/// Transport-agnostic: the gateway hands it the bare method name and the request message
/// bytes and sends back the returned bytes, or the thrown `GRPCStatus` as trailers.
public final class AdminService: Sendable {
    private let registry: Registry
    private let changed: @Sendable () async -> Void
    private let limits: AdminLimits
    private let tokens: AdminTokens
    private let logs: AdminLogSource?
    private let wake: (@Sendable (VersionKey, FollowerActivity?) async -> Bool)?

    /// - Parameters:
    ///   - changed: awaited after every registry change, before the call answers. The gateway
    ///     publishes routes from the registry and returns once every worker routes with them
    ///     (`Reconciler.registryChanged`), and wakes the reconciler: a caller that sets a default
    ///     version or deletes one sees the change in the next call it makes.
    ///   - tokensChanged: awaited with every token after one is created or revoked, before the
    ///     call answers (the gateway installs a new `AuthTable` on its workers from it, so a
    ///     created token works, and a revoked one fails, as soon as the caller has the answer).
    ///   - logs: where GetLogs reads replica logs (the runtime's); nil: UNIMPLEMENTED.
    ///   - wake: WakeModelVersion's effect (the lifecycle loop's wake, or with a follower's
    ///     activity report its `report`; true: it was IDLE or on its way); nil: UNAVAILABLE (no
    ///     lifecycle loop runs here).
    public init(registry: Registry, changed: @escaping @Sendable () async -> Void, limits: AdminLimits = AdminLimits(),
                tokensChanged: @escaping @Sendable (TokenSnapshot) async -> Void = { _ in },
                logs: AdminLogSource? = nil, wake: (@Sendable (VersionKey, FollowerActivity?) async -> Bool)? = nil) {
        self.registry = registry
        self.logs = logs
        self.wake = wake
        self.changed = changed
        self.limits = limits
        self.tokens = AdminTokens(registry: registry, changed: tokensChanged)
    }

    /// Runs `method` (e.g. "RegisterModel") on a serialized request; returns the serialized
    /// response. Throws `GRPCStatus`: UNIMPLEMENTED for an unknown method, INVALID_ARGUMENT for
    /// undecodable or invalid input, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, INTERNAL.
    public func call(method: String, request: [UInt8]) async throws -> [UInt8] {
        do {
            switch method {
            case "RegisterModel": return try await registerModel(try decode(request)).serializedBytes()
            case "ListModels": return try await listModels(try decode(request)).serializedBytes()
            case "GetModel": return try await getModel(try decode(request)).serializedBytes()
            case "SetDefaultVersion": return try await setDefaultVersion(try decode(request)).serializedBytes()
            case "ScaleModelVersion": return try await scaleModelVersion(try decode(request)).serializedBytes()
            case "DeleteModel": return try await deleteModel(try decode(request)).serializedBytes()
            case "SetAlias": return try await setAlias(try decode(request)).serializedBytes()
            case "SetTraffic": return try await setTraffic(try decode(request)).serializedBytes()
            case "CreateToken": return try await tokens.create(try decode(request)).serializedBytes()
            case "ListTokens": return try await tokens.list(try decode(request)).serializedBytes()
            case "RevokeToken": return try await tokens.revoke(try decode(request)).serializedBytes()
            case "CollectUnused": return try await collectUnused(try decode(request)).serializedBytes()
            case "WakeModelVersion": return try await wakeModelVersion(try decode(request)).serializedBytes()
            case "ListEvents": return try await AdminEvents.list(try decode(request), registry: registry).serializedBytes()
            default: throw GRPCStatus(.unimplemented, "unknown method byoc.v1.Admin/\(method)")
            }
        } catch let error as RegistryError {
            throw Self.status(error)
        }
    }

    /// Runs a server-streaming `method` (`AdminMethods.serverStreaming`, e.g. "GetLogs"):
    /// throws `GRPCStatus` as `call` does, else returns the serialized response messages.
    public func stream(method: String, request: [UInt8]) async throws -> AsyncThrowingStream<[UInt8], Error> {
        do {
            switch method {
            case "GetLogs": return try await AdminLogs.stream(try decode(request), registry: registry, source: logs)
            default: throw GRPCStatus(.unimplemented, "unknown streaming method byoc.v1.Admin/\(method)")
            }
        } catch let error as RegistryError {
            throw Self.status(error)
        }
    }

    // MARK: - RPCs

    /// Registers a version (PENDING); the first version of a model becomes its default.
    private func registerModel(_ request: RegisterModelRequest) async throws -> ModelVersion {
        let spec = try AdminValidation.registration(request, limits: limits)
        let record = try await registry.register(spec)
        await changed()
        return AdminConversions.modelVersion(record)
    }

    /// Every model with its versions and their current state.
    private func listModels(_ request: ListModelsRequest) async throws -> ListModelsResponse {
        ListModelsResponse(models: try await registry.models().map(AdminConversions.model))
    }

    /// One model with its versions.
    private func getModel(_ request: GetModelRequest) async throws -> Model {
        try AdminValidation.model(request.model)
        return AdminConversions.model(try await registry.model(request.model))
    }

    /// Points the model's empty-version alias at `version`.
    private func setDefaultVersion(_ request: SetDefaultVersionRequest) async throws -> Model {
        try AdminValidation.model(request.model)
        try AdminValidation.version(request.version)
        let model = try await registry.setDefault(model: request.model, version: request.version)
        await changed()
        return AdminConversions.model(model)
    }

    /// Points an alias at a version (version "" removes it).
    private func setAlias(_ request: SetAliasRequest) async throws -> Model {
        try AdminValidation.model(request.model)
        try AdminValidation.version(request.alias, field: "alias")
        if !request.version.isEmpty { try AdminValidation.version(request.version) }
        let model = try await registry.setAlias(model: request.model, alias: request.alias, version: request.version)
        await changed()
        return AdminConversions.model(model)
    }

    /// Replaces the split and shadow of the calls that name no version.
    private func setTraffic(_ request: SetTrafficRequest) async throws -> Model {
        try AdminValidation.model(request.model)
        let (targets, shadow) = try AdminValidation.traffic(request)
        let model = try await registry.setTraffic(model: request.model, targets: targets, shadow: shadow)
        await changed()
        return AdminConversions.model(model)
    }

    /// Changes a version's replica bounds (min 0 = 1, or 0 for a version that scales to zero,
    /// with the settings given or, when absent, its current ones; max 0 = min).
    private func scaleModelVersion(_ request: ScaleModelVersionRequest) async throws -> ModelVersion {
        let key = try AdminValidation.key(model: request.model, version: request.version)
        let autoscaling = try request.autoscaling.map { try AdminValidation.autoscaling($0) }
        let idleAfter: Int32
        if let autoscaling {
            idleAfter = autoscaling.scaleToZeroAfterSeconds
        } else {
            idleAfter = (try? await registry.version(key))?.spec.autoscaling.scaleToZeroAfterSeconds ?? 0
        }
        let bounds = try AdminValidation.replicas(min: request.minReplicas, max: request.maxReplicas,
                                                  limit: limits.maxReplicas, scalesToZero: idleAfter > 0)
        let record = try await registry.scale(key,
                                              minReplicas: bounds.min, maxReplicas: bounds.max, autoscaling: autoscaling)
        await changed()
        return AdminConversions.modelVersion(record)
    }

    /// Starts an IDLE version (or cancels its way to IDLE) for the calls a gateway holds, or
    /// takes a follower replica's activity report for it.
    private func wakeModelVersion(_ request: WakeModelVersionRequest) async throws -> WakeModelVersionResponse {
        let key = try AdminValidation.key(model: request.model, version: request.version)
        let activity = try request.report.map { try AdminValidation.activityReport($0) }
        _ = try await registry.version(key)
        guard let wake else { throw GRPCStatus(.unavailable, "no lifecycle loop runs on this gateway yet") }
        return WakeModelVersionResponse(woken: await wake(key, activity))
    }

    /// Deletes one version, or the whole model when `version` is empty.
    private func deleteModel(_ request: DeleteModelRequest) async throws -> DeleteModelResponse {
        try AdminValidation.model(request.model)
        if !request.version.isEmpty { try AdminValidation.version(request.version) }
        let deleted = try await registry.delete(model: request.model, version: request.version)
        await changed()
        return DeleteModelResponse(deleted: deleted.map(AdminConversions.modelVersion))
    }

    /// Garbage collection now (dry_run: only says what would go): every version, deleted or
    /// kept, and why, by the request's period or else the gateway's `--gc-unused-after`
    /// (FAILED_PRECONDITION when neither is given).
    private func collectUnused(_ request: CollectUnusedRequest) async throws -> CollectUnusedResponse {
        guard request.unusedAfterSeconds >= 0, request.unusedAfterSeconds <= Self.maxUnusedAfterSeconds else {
            throw GRPCStatus(.invalidArgument,
                             "unused_after_seconds must be between 0 and \(Self.maxUnusedAfterSeconds) (0 = the gateway's --gc-unused-after), got \(request.unusedAfterSeconds)")
        }
        let seconds = request.unusedAfterSeconds > 0 ? request.unusedAfterSeconds : limits.gcUnusedAfterSeconds
        guard seconds > 0 else {
            throw GRPCStatus(.failedPrecondition,
                             "garbage collection is off: start the gateway with --gc-unused-after DURATION (e.g. 7d), or give unused_after_seconds")
        }
        let text = request.unusedAfterSeconds > 0 ? "\(seconds)s" : limits.gcUnusedAfterText
        let cutoff = Int64((Date().timeIntervalSince1970 * 1000).rounded()) - seconds * 1000
        let verdicts = try await registry.collectUnused(cutoffUnixMs: cutoff, unusedAfter: text, dryRun: request.dryRun)
        if !request.dryRun, verdicts.contains(where: \.deleted) { await changed() }
        return CollectUnusedResponse(
            versions: verdicts.map {
                CollectedVersion(model: $0.key.model, version: $0.key.version, deleted: $0.deleted, reason: $0.reason,
                                 lastCalledUnixMs: $0.lastCalledUnixMs)
            },
            unusedAfterSeconds: seconds)
    }

    /// The longest period CollectUnused takes: a hundred years.
    static let maxUnusedAfterSeconds: Int64 = 100 * 365 * 86_400

    // MARK: - Helpers

    /// Decodes a request under `limits.decoding`; INVALID_ARGUMENT with the decoder's reason.
    private func decode<M: ProtoMessage>(_ bytes: [UInt8]) throws -> M {
        do { return try M(serializedBytes: bytes, limits: limits.decoding) } catch {
            throw GRPCStatus(.invalidArgument, "cannot decode \(M.self): \(error)")
        }
    }

    /// The gRPC status for a registry error.
    public static func status(_ error: RegistryError) -> GRPCStatus {
        switch error.code {
        case .notFound: return GRPCStatus(.notFound, error.message)
        case .alreadyExists: return GRPCStatus(.alreadyExists, error.message)
        case .failedPrecondition: return GRPCStatus(.failedPrecondition, error.message)
        case .invalidArgument: return GRPCStatus(.invalidArgument, error.message)
        case .resourceExhausted: return GRPCStatus(.resourceExhausted, error.message)
        case .unavailable: return GRPCStatus(.unavailable, error.message)
        case .internal: return GRPCStatus(.internal, error.message)
        }
    }
}

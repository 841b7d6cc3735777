import Foundation

// The values the registry stores and returns: keys, desired specs, observed status, events.

/// Identifies one model version.
public struct VersionKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var model: String
    public var version: String

    public init(model: String, version: String) {
        self.model = model
        self.version = version
    }

    public var description: String { "\(model)/\(version)" }

    public static func < (lhs: VersionKey, rhs: VersionKey) -> Bool {
        (lhs.model, lhs.version) < (rhs.model, rhs.version)
    }
}

/// Where a model version is in its lifecycle (the `VersionState` of the Admin API).
public enum DeploymentState: String, Sendable, CaseIterable {
    case pending = "PENDING"
    case deploying = "DEPLOYING"
    case ready = "READY"
    case failed = "FAILED"
    case deleting = "DELETING"
    /// Scaled to zero (no replica runs); the next call wakes it.
    case idle = "IDLE"
}

/// How a version's replica count follows its calls (validated; zeros mean "off" / defaults).
public struct AutoscalingSpec: Sendable, Equatable {
    /// The scale-down delay when `scaleDownDelaySeconds` is 0.
    public static let defaultScaleDownDelaySeconds: Int32 = 30

    /// In-flight calls per replica to aim at; 0 = replicas stay at min (Kubernetes: the CPU HPA).
    public var targetConcurrency: Int32
    /// > 0: after this long without a call a version with `minReplicas` 0 runs no replica (IDLE)
    /// until the next call wakes it.
    public var scaleToZeroAfterSeconds: Int32
    /// How long demand must stay lower before replicas are removed; 0 = 30.
    public var scaleDownDelaySeconds: Int32

    public init(targetConcurrency: Int32 = 0, scaleToZeroAfterSeconds: Int32 = 0, scaleDownDelaySeconds: Int32 = 0) {
        self.targetConcurrency = targetConcurrency
        self.scaleToZeroAfterSeconds = scaleToZeroAfterSeconds
        self.scaleDownDelaySeconds = scaleDownDelaySeconds
    }

    /// The scale-down delay in force (0 means the default).
    public var effectiveScaleDownDelaySeconds: Int32 {
        scaleDownDelaySeconds == 0 ? Self.defaultScaleDownDelaySeconds : scaleDownDelaySeconds
    }

    /// `target 4, scale down after 30s` (or `off`).
    public var description: String {
        guard targetConcurrency > 0 else { return "off" }
        return "target \(targetConcurrency), scale down after \(effectiveScaleDownDelaySeconds)s"
    }
}

/// Kubernetes-style resource quantities ("500m", "1Gi"); empty strings mean unset.
public struct ResourceSpec: Sendable, Equatable {
    /// The extended resource `gpus` counts when `gpuResource` is empty.
    public static let defaultGPUResource = "nvidia.com/gpu"

    public var cpuRequest: String
    public var cpuLimit: String
    public var memoryRequest: String
    public var memoryLimit: String
    /// Count of `gpuResource` per replica (request = limit); 0 = none.
    public var gpus: Int32
    /// Extended resource name; "" = `defaultGPUResource`.
    public var gpuResource: String

    public init(cpuRequest: String = "", cpuLimit: String = "", memoryRequest: String = "", memoryLimit: String = "",
                gpus: Int32 = 0, gpuResource: String = "") {
        self.cpuRequest = cpuRequest
        self.cpuLimit = cpuLimit
        self.memoryRequest = memoryRequest
        self.memoryLimit = memoryLimit
        self.gpus = gpus
        self.gpuResource = gpuResource
    }
}

/// A toleration of the model pods (a Kubernetes `corev1.Toleration`, validated).
public struct TolerationSpec: Sendable, Equatable, Codable {
    public var key: String
    /// "Equal" or "Exists" ("" means Equal).
    public var `operator`: String
    public var value: String
    /// "", "NoSchedule", "PreferNoSchedule" or "NoExecute".
    public var effect: String

    public init(key: String = "", operator: String = "", value: String = "", effect: String = "") {
        self.key = key
        self.operator = `operator`
        self.value = value
        self.effect = effect
    }
}

/// Where and how the Kubernetes runtime schedules a version's pods (ignored locally).
public struct PodOptions: Sendable, Equatable {
    public var nodeSelector: [String: String]
    public var tolerations: [TolerationSpec]
    /// Names of Secrets in the models' namespace.
    public var imagePullSecrets: [String]
    /// The image runs as root: runAsNonRoot is dropped (non-root is the default).
    public var allowRoot: Bool

    public init(nodeSelector: [String: String] = [:], tolerations: [TolerationSpec] = [],
                imagePullSecrets: [String] = [], allowRoot: Bool = false) {
        self.nodeSelector = nodeSelector
        self.tolerations = tolerations
        self.imagePullSecrets = imagePullSecrets
        self.allowRoot = allowRoot
    }
}

/// The desired state of a model version, as registered (already validated and normalised).
public struct VersionSpec: Sendable, Equatable {
    public var key: VersionKey
    /// Container image; run by Kubernetes, or by docker/podman locally when there is no command.
    public var image: String
    /// The local runtime's command serving gRPC on `$PORT`.
    public var command: [String]
    /// gRPC port inside the container; 0 = the default (8080).
    public var port: Int32
    public var env: [String: String]
    /// Replicas the runtime keeps running (at least 1 after normalisation, except 0 for a
    /// version that scales to zero: it runs at least 1 while awake).
    public var minReplicas: Int32
    /// Autoscaling ceiling (Kubernetes HPA); the local runtime runs `minReplicas`.
    public var maxReplicas: Int32
    public var resources: ResourceSpec?
    /// HPA CPU target in percent; 0 = the runtime's default.
    public var targetCpuUtilization: Int32
    public var pod: PodOptions
    /// Concurrency autoscaling (target 0: off).
    public var autoscaling: AutoscalingSpec
    /// Replicas the gateway's concurrency autoscaler asks for, in [min, max], or 0 for an IDLE
    /// version: set by the reconciler on the spec it hands the runtime, never stored; nil =
    /// `minReplicas` (at least 1).
    public var autoscaledReplicas: Int32?

    public init(key: VersionKey, image: String = "", command: [String] = [], port: Int32 = 0,
                env: [String: String] = [:], minReplicas: Int32 = 1, maxReplicas: Int32 = 1,
                resources: ResourceSpec? = nil, targetCpuUtilization: Int32 = 0, pod: PodOptions = PodOptions(),
                autoscaling: AutoscalingSpec = AutoscalingSpec()) {
        self.key = key
        self.image = image
        self.command = command
        self.port = port
        self.env = env
        self.minReplicas = minReplicas
        self.maxReplicas = maxReplicas
        self.resources = resources
        self.targetCpuUtilization = targetCpuUtilization
        self.pod = pod
        self.autoscaling = autoscaling
    }

    /// Replicas the version runs at least while awake: its minimum, and 1 for a version that
    /// scales to zero (min 0).
    public var floorReplicas: Int32 { max(1, minReplicas) }

    /// Replicas the runtime should run now: the autoscaler's count, else the floor.
    public var replicasToRun: Int32 { autoscaledReplicas ?? floorReplicas }

    /// Whether the gateway's concurrency autoscaler sets the replica count (no CPU HPA then).
    public var scalesOnConcurrency: Bool { autoscaling.targetConcurrency > 0 && maxReplicas > floorReplicas }

    /// Whether the version goes IDLE (no replica) after `scaleToZeroAfterSeconds` without a
    /// call, and calls to it are held while it wakes. The gateway owns its replica count
    /// (no CPU HPA).
    public var scalesToZero: Bool { autoscaling.scaleToZeroAfterSeconds > 0 && minReplicas == 0 }
}

/// What the reconciler last observed of a version.
public struct VersionStatus: Sendable, Equatable {
    public var state: DeploymentState
    public var readyReplicas: Int32
    /// Replicas the runtime is aiming for.
    public var desiredReplicas: Int32
    /// Human-readable detail, e.g. why the version FAILED.
    public var message: String

    public init(state: DeploymentState, readyReplicas: Int32 = 0, desiredReplicas: Int32 = 0, message: String = "") {
        self.state = state
        self.readyReplicas = readyReplicas
        self.desiredReplicas = desiredReplicas
        self.message = message
    }
}

/// A stored model version: its spec, last observed status and creation time.
public struct VersionRecord: Sendable, Equatable {
    public var spec: VersionSpec
    public var status: VersionStatus
    public var createdUnixMs: Int64
    /// When a gateway worker last routed a call to it (batched from the workers); 0 = never.
    public var lastCalledUnixMs: Int64

    public init(spec: VersionSpec, status: VersionStatus, createdUnixMs: Int64, lastCalledUnixMs: Int64 = 0) {
        self.spec = spec
        self.status = status
        self.createdUnixMs = createdUnixMs
        self.lastCalledUnixMs = lastCalledUnixMs
    }

    public var key: VersionKey { spec.key }
}

/// A stored model: its default version, every version in registration order, and how its
/// calls are spread (aliases, split, shadow).
public struct ModelRecord: Sendable, Equatable {
    public var name: String
    public var defaultVersion: String
    public var createdUnixMs: Int64
    public var versions: [VersionRecord]
    /// Alias -> version.
    public var aliases: [String: String]
    /// The split of calls that name no version, in the order given (empty: the default).
    public var traffic: [TrafficTargetRecord]
    /// The shadow (nil: none).
    public var shadow: TrafficTargetRecord?

    public init(name: String, defaultVersion: String, createdUnixMs: Int64, versions: [VersionRecord],
                aliases: [String: String] = [:], traffic: [TrafficTargetRecord] = [], shadow: TrafficTargetRecord? = nil) {
        self.name = name
        self.defaultVersion = defaultVersion
        self.createdUnixMs = createdUnixMs
        self.versions = versions
        self.aliases = aliases
        self.traffic = traffic
        self.shadow = shadow
    }

    /// The concrete version `name` means: a version, or the version an alias names; nil when neither.
    public func concreteVersion(_ name: String) -> String? {
        if versions.contains(where: { $0.key.version == name }) { return name }
        return aliases[name]
    }
}

/// A share of a model's calls as stored: a version or an alias, and its percent.
public struct TrafficTargetRecord: Sendable, Equatable {
    public var version: String
    public var percent: Int32

    public init(version: String, percent: Int32) {
        self.version = version
        self.percent = percent
    }

    /// `VERSION=PERCENT`.
    public var description: String { "\(version)=\(percent)" }
}

/// What garbage collection does (or, on a dry run, would do) with one version, and why.
public struct CollectionVerdict: Sendable, Equatable {
    public var key: VersionKey
    /// Deleted (dry run: would be).
    public var deleted: Bool
    /// Why it goes, or why it is kept.
    public var reason: String
    /// 0 = never called.
    public var lastCalledUnixMs: Int64

    public init(key: VersionKey, deleted: Bool, reason: String, lastCalledUnixMs: Int64) {
        self.key = key
        self.deleted = deleted
        self.reason = reason
        self.lastCalledUnixMs = lastCalledUnixMs
    }
}

/// One row of the append-only event log.
public struct RegistryEvent: Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Sendable {
        case registered, scaled, defaultChanged = "default_changed", deleted, observed
        /// An API token was created or revoked (model and version are ""; the detail names the
        /// token's id and scope, never its secret).
        case tokenCreated = "token_created", tokenRevoked = "token_revoked"
        /// An alias was set, moved or removed.
        case aliasChanged = "alias_changed"
        /// The split or the shadow changed.
        case trafficChanged = "traffic_changed"
        /// The concurrency autoscaler changed the replica count (the detail says why).
        case autoscaled
    }

    public var id: Int64
    public var timeUnixMs: Int64
    public var model: String
    /// Empty for model-level events (a default change).
    public var version: String
    public var kind: Kind
    public var oldState: DeploymentState?
    public var newState: DeploymentState?
    public var detail: String
}

/// What an API token may call.
public enum TokenScopeName: String, Sendable, CaseIterable {
    case admin, predict
}

/// A stored API token: everything but the secret, of which only SHA-256 is kept.
public struct TokenRecord: Sendable, Equatable {
    /// 12 lowercase hex characters; public.
    public var id: String
    /// SHA-256 of the secret (32 bytes).
    public var secretSHA256: [UInt8]
    public var scope: TokenScopeName
    /// predict: the models it may call; empty = every model.
    public var models: [String]
    /// 0 = never.
    public var expiresUnixMs: Int64
    public var createdUnixMs: Int64
    /// 0 = not revoked.
    public var revokedUnixMs: Int64
    public var description: String

    public init(id: String, secretSHA256: [UInt8], scope: TokenScopeName, models: [String] = [],
                expiresUnixMs: Int64 = 0, createdUnixMs: Int64 = 0, revokedUnixMs: Int64 = 0, description: String = "") {
        self.id = id
        self.secretSHA256 = secretSHA256
        self.scope = scope
        self.models = models
        self.expiresUnixMs = expiresUnixMs
        self.createdUnixMs = createdUnixMs
        self.revokedUnixMs = revokedUnixMs
        self.description = description
    }

    /// Neither revoked nor expired at `nowUnixMs`.
    public func isUsable(atUnixMs nowUnixMs: Int64) -> Bool {
        revokedUnixMs == 0 && (expiresUnixMs == 0 || expiresUnixMs > nowUnixMs)
    }
}

/// Every token with a stamp that grows with every registry change, read in one go, so the
/// newest of several concurrently taken snapshots can be told apart.
public struct TokenSnapshot: Sendable, Equatable {
    /// The newest event id when the tokens were read.
    public var version: Int64
    public var tokens: [TokenRecord]

    public init(version: Int64, tokens: [TokenRecord]) {
        self.version = version
        self.tokens = tokens
    }
}

/// Milliseconds since the Unix epoch, now.
func unixMillisecondsNow() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

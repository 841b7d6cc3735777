import Registry
import Routing

// The seam between the reconciler and whatever runs model replicas (local processes,
// Kubernetes): the reconciler hands it desired specs and reads back what it observes.

/// What a runtime observed of one model version.
public struct ObservedVersion: Sendable, Equatable {
    public var state: DeploymentState
    public var readyReplicas: Int32
    /// Replicas the runtime is aiming for.
    public var desiredReplicas: Int32
    /// Why the version is not READY (empty when it is).
    public var message: String
    /// Ready replicas' gRPC endpoints, routed to by the data plane.
    public var endpoints: [Endpoint]

    public init(state: DeploymentState, readyReplicas: Int32 = 0, desiredReplicas: Int32 = 0,
                message: String = "", endpoints: [Endpoint] = []) {
        self.state = state
        self.readyReplicas = readyReplicas
        self.desiredReplicas = desiredReplicas
        self.message = message
        self.endpoints = endpoints
    }

    /// The part the registry stores.
    public var status: VersionStatus {
        VersionStatus(state: state, readyReplicas: readyReplicas, desiredReplicas: desiredReplicas, message: message)
    }
}

/// Runs model versions. Every method is idempotent: the reconciler calls `apply` for every
/// desired version on every pass (level-triggered), and `remove` for every observed key the
/// registry no longer has.
public protocol Runtime: AnyObject, Sendable {
    /// Installs the callback the runtime calls whenever something it observes changes on its
    /// own (a replica became ready, exited, was restarted), so the reconciler runs a pass.
    func setChangeHandler(_ handler: @escaping @Sendable () -> Void) async

    /// Brings the version towards `spec` (start or stop replicas as needed) without waiting
    /// for replicas to become ready, and returns what is observed now. Throws when the runtime
    /// cannot act at all (the reconciler retries with backoff).
    func apply(_ spec: VersionSpec) async throws -> ObservedVersion

    /// Stops and forgets every replica of `key`.
    func remove(_ key: VersionKey) async throws

    /// Every version the runtime currently runs or manages.
    func observedKeys() async -> [VersionKey]

    /// Stops everything (graceful, then forced) and refuses further work.
    func shutdown() async
}

/// An error a runtime reports when it cannot act.
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

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

/// Runs model versions. Every method is idempotent: the reconciler calls `apply` for a desired
/// version whenever its key is reconciled (level-triggered: on every resync too), and `remove`
/// for an observed key the registry no longer has. Calls for different keys may run at once;
/// calls for one key never do.
public protocol Runtime: AnyObject, Sendable {
    /// Installs the callback the runtime calls whenever something it observes changes on its
    /// own (a replica became ready, exited, was restarted), so the reconciler resyncs every key.
    func setChangeHandler(_ handler: @escaping @Sendable () -> Void) async

    /// Brings the version towards `spec` (start or stop replicas as needed) without waiting
    /// for replicas to become ready, and returns what is observed now. Throws when the runtime
    /// cannot act at all: the reconciler retries with backoff, except after a `RuntimeError`
    /// with code `invalidSpec` (the version is FAILED with its message until the spec changes).
    func apply(_ spec: VersionSpec) async throws -> ObservedVersion

    /// Stops and forgets every replica of `key`.
    func remove(_ key: VersionKey) async throws

    /// Every version the runtime currently runs or manages.
    func observedKeys() async -> [VersionKey]

    /// Stops everything (graceful, then forced) and refuses further work.
    func shutdown() async

    /// The log of every replica of `key`: the last `tail` lines of each replica first, then
    /// (with `follow`) new lines as they are written, until the consumer stops iterating.
    /// Throws a `RuntimeError` (e.g. the log source cannot be read).
    nonisolated func logs(_ key: VersionKey, tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error>
}

/// One line a replica wrote, as `GetLogs` streams it.
public struct ReplicaLogLine: Sendable, Equatable {
    /// The replica (local: its index; Kubernetes: the pod name).
    public var replica: String
    public var line: String
    /// When the line was written (or read, when the source keeps no time), in ms since 1970.
    public var timeUnixMs: Int64

    public init(replica: String, line: String, timeUnixMs: Int64) {
        self.replica = replica
        self.line = line
        self.timeUnixMs = timeUnixMs
    }
}

/// An error a runtime reports when it cannot act on a version.
public struct RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Whether the same call may succeed later.
    public enum Code: String, Sendable {
        /// The runtime cannot act right now (process spawning, the API server): retry.
        case unavailable = "UNAVAILABLE"
        /// The spec cannot run on this runtime at all (e.g. no image for Kubernetes): do not retry.
        case invalidSpec = "INVALID_SPEC"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An `unavailable` error.
    public init(_ message: String) { self.init(.unavailable, message) }

    public var description: String { message }
}

/// What one `reconcile(key)` asks of the work queue (controller-runtime's `Result`/`error`).
public enum ReconcileOutcome: Sendable, Equatable {
    /// Converged as far as this pass can tell: forget the key's failures; the next event or
    /// resync queues it again.
    case done
    /// Converged for now, look again after the delay (failures forgotten).
    case requeue(after: Duration)
    /// Failed: retried with the key's exponential backoff when retryable, never when terminal.
    case error(ReconcileError)
}

/// Why reconciling one key failed.
public struct ReconcileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, which decides whether the key is retried.
    public enum Code: String, Sendable {
        /// The desired spec cannot run on this runtime: retrying cannot help (terminal).
        case invalidSpec = "INVALID_SPEC"
        /// The runtime (processes, the Kubernetes API) could not act: retried with backoff.
        case runtimeUnavailable = "RUNTIME_UNAVAILABLE"
        /// The registry could not be read or written: retried with backoff.
        case registryUnavailable = "REGISTRY_UNAVAILABLE"

        /// True when retrying the same spec cannot succeed.
        public var isTerminal: Bool { self == .invalidSpec }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var isTerminal: Bool { code.isTerminal }

    public var description: String { "\(code.rawValue): \(message)" }
}

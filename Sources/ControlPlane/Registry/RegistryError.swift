// Errors the registry reports, with a code that maps one-to-one onto a gRPC status.

/// Why a registry operation was refused or failed.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The category of failure; Admin maps it to a gRPC status code.
    public enum Code: String, Sendable {
        /// The model or version does not exist.
        case notFound = "NOT_FOUND"
        /// The model version is already registered.
        case alreadyExists = "ALREADY_EXISTS"
        /// The request contradicts the registry (e.g. a split naming an unknown version).
        case invalidArgument = "INVALID_ARGUMENT"
        /// The operation is not allowed in the current state (e.g. deleting the default version).
        case failedPrecondition = "FAILED_PRECONDITION"
        /// The disk holding the database is full: nothing was written; retry once space frees.
        case resourceExhausted = "RESOURCE_EXHAUSTED"
        /// The database cannot take writes now (read-only, or locked past the busy timeout).
        case unavailable = "UNAVAILABLE"
        /// The database failed (I/O, corruption, closed).
        case `internal` = "INTERNAL"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

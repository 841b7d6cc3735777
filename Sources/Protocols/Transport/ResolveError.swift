#if canImport(Glibc)
import Glibc
#endif

/// A host name that getaddrinfo could not resolve (not a network error: no address was tried).
/// Thrown by `Socket` only (the memberwise init is this module's).
public struct ResolveError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The name as given.
    public var host: String
    /// getaddrinfo's EAI_* code.
    public var code: Int32

    /// The C library's description of the code, e.g. "Name or service not known".
    public var reason: String { String(cString: gai_strerror(code)) }

    public var description: String { "cannot resolve host \"\(host)\": \(reason.lowercased())" }
}

#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the operation and its errno.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The call that failed, e.g. `connect`.
    public var operation: String
    /// The errno value.
    public var code: Int32

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    /// The C library's description of the errno value.
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(operation): \(reason.lowercased())" }
}

/// Runs a system call, retrying on EINTR, and throws `SystemError` when it returns -1.
@inline(__always)
@discardableResult
public func retryingOnInterrupt<T: FixedWidthInteger>(_ operation: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = errno
            if code == EINTR { continue }
            throw SystemError(operation, code: code)
        }
        return result
    }
}

#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

/// A TLS failure in one line (`description`), with the OpenSSL error queue behind it.
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The one-line explanation, e.g. "certificate verify failed: self-signed certificate".
    public var message: String
    /// The OpenSSL error queue at the time, oldest first, as `ERR_error_string_n` formats it.
    public var openSSLErrors: [String]

    public init(_ message: String, openSSLErrors: [String] = []) {
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    public var description: String { message }

    /// Drains the calling thread's OpenSSL error queue: `context: <reason of the first error>`.
    static func fromQueue(_ context: String, fallback: String = "unknown OpenSSL error") -> TLSError {
        let (reason, all) = drainErrorQueue()
        return TLSError("\(context): \(reason ?? fallback)", openSSLErrors: all)
    }

    /// The reason string of the first queued error and every queued error's full text.
    static func drainErrorQueue() -> (reason: String?, all: [String]) {
        var reason: String?
        var all: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            all.append(String(cString: buffer))
            if reason == nil, let text = ERR_reason_error_string(code) { reason = String(cString: text) }
        }
        return (reason, all)
    }
}

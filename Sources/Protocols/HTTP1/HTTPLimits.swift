/// Limits of the HTTP/1.1 server: everything a client can make the gateway hold is bounded.
public struct HTTPLimits: Sendable {
    /// Longest request target (the URL in the request line): 414 above.
    public var maxURLBytes = 8 * 1024
    /// Most header fields in one request: 431 above.
    public var maxHeaderCount = 64
    /// Most bytes of header names and values (plus 4 per field for ": " and CRLF): 431 above.
    public var maxHeaderBytes = 16 * 1024
    /// Largest request body: 413 above (checked against Content-Length before reading).
    public var maxBodyBytes = 1 << 20
    /// Paths under this prefix take bodies up to `maxLargeBodyBytes` instead (the Open
    /// Inference Protocol's REST `infer`, bounded like a gRPC message by --max-message-bytes).
    public var largeBodyPathPrefix: String?
    public var maxLargeBodyBytes = 64 << 20
    /// A request's line and headers must arrive within this time of its first byte (slow
    /// loris): 408 and close.
    public var headerTimeoutNanos: UInt64 = 10_000_000_000
    /// The body must arrive within this time after the headers: 408 and close.
    public var bodyTimeoutNanos: UInt64 = 30_000_000_000
    /// A keep-alive connection with no request (or a response the client does not read) is
    /// closed after this long.
    public var idleTimeoutNanos: UInt64 = 60_000_000_000
    /// After the last response of a closing connection, how long unread input is drained
    /// before the socket closes (so the client sees the response, not a reset).
    public var lingerNanos: UInt64 = 2_000_000_000
    /// Most requests served on one connection before it is closed.
    public var maxRequestsPerConnection = 10_000

    public init() {}

    /// The body limit of a request for `target` (its path, with or without a query).
    public func maxBodyBytes(forTarget target: String) -> Int {
        if let prefix = largeBodyPathPrefix, target.hasPrefix(prefix) { return max(maxBodyBytes, maxLargeBodyBytes) }
        return maxBodyBytes
    }
}

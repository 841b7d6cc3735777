import HTTP2

/// The parsed request headers of a gRPC call.
public struct GRPCRequestHead {
    /// `/package.Service/Method`.
    public var path: String
    /// All request headers, pseudo-headers included.
    public var headers: HeaderBlock
    /// Absolute deadline in monotonic nanoseconds, from `grpc-timeout`.
    public var deadline: UInt64?
    /// The `grpc-encoding` header, when present and not `identity`.
    public var encoding: String?
    /// When the headers arrived (monotonic nanoseconds).
    public var receivedAt: UInt64

    public init(path: String, headers: HeaderBlock, deadline: UInt64?, encoding: String?, receivedAt: UInt64) {
        self.path = path
        self.headers = headers
        self.deadline = deadline
        self.encoding = encoding
        self.receivedAt = receivedAt
    }

    /// The method part of the path.
    public var method: Substring {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return path[path.index(after: slash)...]
    }

    /// The first value of a metadata header.
    public func metadata(_ name: String) -> String? { headers[field: name] }
}

/// Building responses the gateway makes itself.
public enum GRPCResponses {
    /// Response headers of a normal gRPC response.
    public static func responseHeaders(extra: [HeaderField] = []) -> [HeaderField] {
        [HeaderField(":status", "200"), HeaderField("content-type", "application/grpc")] + extra
    }

    /// The most UTF-8 bytes of a status message sent in `grpc-message`: messages quote the
    /// caller's input, and a trailer block above the client's header list limit (grpcio: 8 KiB)
    /// would fail the call with INTERNAL or leave it hanging instead of carrying the status.
    public static let maxMessageBytes = 1024

    /// Trailers carrying `status` (its message cut to `maxMessageBytes`).
    public static func trailers(_ status: GRPCStatus, extra: [HeaderField] = []) -> [HeaderField] {
        var fields = [HeaderField("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            fields.append(HeaderField("grpc-message", PercentEncoding.encode(truncated(status.message))))
        }
        return fields + extra
    }

    /// `message` cut at a character boundary to at most `maxMessageBytes` UTF-8 bytes, saying so.
    static func truncated(_ message: String) -> String {
        guard message.utf8.count > maxMessageBytes else { return message }
        let suffix = " ... (\(message.utf8.count) bytes, truncated)"
        let budget = maxMessageBytes - suffix.utf8.count
        var end = message.startIndex
        var bytes = 0
        while end < message.endIndex {
            let next = message.index(after: end)
            bytes += message.utf8.distance(from: end, to: next)
            if bytes > budget { break }
            end = next
        }
        return message[..<end] + suffix
    }

    /// Ends a response whose headers went out with trailers carrying `status` (noted as the
    /// stream's `sentGRPCStatus`).
    public static func finish(_ stream: HTTP2Stream, _ status: GRPCStatus) {
        stream.sentGRPCStatus = status.code.rawValue
        stream.finish(trailers: trailers(status))
    }

    /// Sends a trailers-only response (HTTP 200, status in the single HEADERS frame; noted as
    /// the stream's `sentGRPCStatus`).
    public static func sendTrailersOnly(_ stream: HTTP2Stream, _ status: GRPCStatus) {
        stream.sentGRPCStatus = status.code.rawValue
        if stream.headersSent {
            stream.finish(trailers: trailers(status))
        } else {
            stream.sendHeaders(responseHeaders() + trailers(status), endStream: true)
        }
        // We will not read the rest of the request.
        stream.stopPeerAfterResponse()
    }

    /// Sends a plain HTTP error response (e.g. 415 for a wrong content-type).
    public static func sendHTTPError(_ stream: HTTP2Stream, status: Int, message: String) {
        stream.sendHeaders([HeaderField(":status", String(status)), HeaderField("content-type", "text/plain")],
                           endStream: false)
        stream.write(Array((message + "\n").utf8))
        stream.finish()
    }
}

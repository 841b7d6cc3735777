import GRPC
import HTTP2

/// Which headers cross the proxy, and the headers of the upstream request.
enum ProxyHeaders {
    /// Connection-specific headers that never cross a proxy (RFC 9113 section 8.2.2), plus
    /// those the proxy sets itself.
    static func isHopByHop(_ name: String) -> Bool {
        switch name {
        case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host",
             "grpc-timeout":
            return true
        default:
            return false
        }
    }

    /// The upstream request headers: our pseudo-headers, `te: trailers`, the remaining
    /// deadline, and the client's metadata minus hop-by-hop headers (and minus `authorization`
    /// when the gateway checked it itself: the platform's tokens never reach a model).
    static func upstreamRequest(from client: [HeaderField], path: String, authority: String,
                                remainingNanos: UInt64?, dropAuthorization: Bool = false) -> [HeaderField] {
        var headers: [HeaderField] = [
            HeaderField(":method", "POST"),
            HeaderField(":scheme", "http"),
            HeaderField(":authority", authority),
            HeaderField(":path", path),
            HeaderField("te", "trailers"),
        ]
        headers.reserveCapacity(client.count + 6)
        if let remainingNanos {
            headers.append(HeaderField("grpc-timeout", GRPCTimeout.format(nanoseconds: max(remainingNanos, 1_000))))
        }
        for field in client where !field.name.hasPrefix(":") && !isHopByHop(field.name) {
            if dropAuthorization && field.name == "authorization" { continue }
            headers.append(field)
        }
        return headers
    }

    /// Response headers or trailers for the client: the upstream's minus hop-by-hop headers.
    static func downstream(_ upstream: [HeaderField]) -> [HeaderField] {
        func dropped(_ field: HeaderField) -> Bool { isHopByHop(field.name) && field.name != "grpc-timeout" }
        // Usually nothing is dropped: pass the same array on instead of copying it.
        guard upstream.contains(where: dropped) else { return upstream }
        return upstream.filter { !dropped($0) }
    }
}

import GRPC
import HTTP2

/// Which headers cross the proxy, and the headers of the upstream request.
enum ProxyHeaders {
    /// Connection-specific headers that never cross a proxy (RFC 9113 section 8.2.2), plus
    /// those the proxy sets itself.
    /// Dispatches on the name's length first, so a name compares against at most two
    /// candidates (a `switch` over strings would compare every field with all eight).
    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: return name == "te"
        case 4: return name == "host"
        case 7: return name == "upgrade"
        case 10: return name == "connection" || name == "keep-alive"
        case 12: return name == "grpc-timeout"
        case 16: return name == "proxy-connection"
        case 17: return name == "transfer-encoding"
        default: return false
        }
    }

    /// Writes the upstream request headers: our pseudo-headers, `te: trailers`, the remaining
    /// deadline, and the client's metadata minus hop-by-hop headers (and minus `authorization`
    /// when the gateway checked it itself: the platform's tokens never reach a model).
    static func writeUpstreamRequest(into writer: inout HeaderListWriter, from client: [HeaderField], path: String,
                                     authority: String, remainingNanos: UInt64?, dropAuthorization: Bool = false) {
        writer.append(":method", "POST")
        writer.append(":scheme", "http")
        writer.append(":authority", authority)
        writer.append(":path", path)
        writer.append("te", "trailers")
        if let remainingNanos {
            writer.append("grpc-timeout", GRPCTimeout.format(nanoseconds: max(remainingNanos, 1_000)))
        }
        client.withUnsafeBufferPointer { fields in
            for index in fields.indices {
                let field = fields[index]
                if field.isPseudo || isHopByHop(field.name) { continue }
                if dropAuthorization && field.hasName("authorization") { continue }
                writer.append(field.name, field.value)
            }
        }
    }

    /// Response headers or trailers for the client: the upstream's minus hop-by-hop headers.
    static func downstream(_ upstream: [HeaderField]) -> [HeaderField] {
        func dropped(_ field: HeaderField) -> Bool { isHopByHop(field.name) && field.name != "grpc-timeout" }
        // Usually nothing is dropped: pass the same array on instead of copying it.
        guard upstream.contains(where: dropped) else { return upstream }
        return upstream.filter { !dropped($0) }
    }
}

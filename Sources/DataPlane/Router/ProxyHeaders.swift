import GRPC
import HTTP2
import Telemetry

/// Which headers cross the proxy, and the headers of the upstream request.
enum ProxyHeaders {
    /// Connection-specific headers that never cross a proxy (RFC 9113 section 8.2.2), plus
    /// those the proxy sets itself. Dispatches on the name's length first, so a name compares
    /// against at most two candidates.
    static func isHopByHop(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return HeaderBlock.equal(name, "te")
        case 4: return HeaderBlock.equal(name, "host")
        case 7: return HeaderBlock.equal(name, "upgrade")
        case 10: return HeaderBlock.equal(name, "connection") || HeaderBlock.equal(name, "keep-alive")
        case 12: return HeaderBlock.equal(name, "grpc-timeout")
        case 16: return HeaderBlock.equal(name, "proxy-connection")
        case 17: return HeaderBlock.equal(name, "transfer-encoding")
        default: return false
        }
    }

    /// Writes the upstream request headers: our pseudo-headers, `te: trailers`, the remaining
    /// deadline, and the client's metadata minus hop-by-hop headers (and minus `authorization`
    /// when the gateway checked it itself: the platform's tokens never reach a model). With
    /// `traceparent` (the gateway traces: the trace and the attempt's span, written here without
    /// a `String`) the client's own `traceparent` is replaced by it, and
    /// its `tracestate` kept only with `keepTraceState` (the client's trace goes on). The
    /// client's fields are passed as views of `client`'s bytes, which must outlive the submission.
    static func writeUpstreamRequest(into writer: inout HeaderListWriter, from client: HeaderBlock, path: String,
                                     authority: String, remainingNanos: UInt64?, dropAuthorization: Bool = false,
                                     traceparent: (trace: TraceContext, parent: UInt64)? = nil, keepTraceState: Bool = true) {
        writer.appendLiteral(":method", "POST")
        writer.appendLiteral(":scheme", "http")
        writer.append(literal: ":authority", authority)
        writer.append(literal: ":path", path)
        writer.appendLiteral("te", "trailers")
        if let remainingNanos {
            writer.append(literal: "grpc-timeout", GRPCTimeout.format(nanoseconds: max(remainingNanos, 1_000)))
        }
        if let traceparent {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: TraceContext.traceparentLength) { value in
                traceparent.trace.writeTraceparent(parent: traceparent.parent, into: value.baseAddress!)
                writer.append(unindexedLiteral: "traceparent", bytes: UnsafeRawBufferPointer(value))
            }
        }
        client.visit { name, value in
            if name.first == UInt8(ascii: ":") || isHopByHop(name) { return true }
            if dropAuthorization && HeaderBlock.equal(name, "authorization") { return true }
            if traceparent != nil {
                if HeaderBlock.equal(name, "traceparent") { return true }
                if !keepTraceState && HeaderBlock.equal(name, "tracestate") { return true }
            }
            writer.append(referencing: name, value: value)
            return true
        }
    }

    /// Response headers or trailers for the client: the upstream's minus hop-by-hop headers
    /// (`grpc-timeout` is not one in a response).
    static func downstream(_ upstream: HeaderBlock) -> HeaderBlock {
        func dropped(_ name: UnsafeRawBufferPointer) -> Bool { isHopByHop(name) && !HeaderBlock.equal(name, "grpc-timeout") }
        var any = false
        upstream.visit { name, _ in
            any = dropped(name)
            return !any
        }
        // Usually nothing is dropped: pass the same block on instead of copying it.
        guard any else { return upstream }
        var kept = HeaderBlock()
        upstream.visit { name, value in
            if !dropped(name) { kept.append(name: name, value: value) }
            return true
        }
        return kept
    }
}

/// A finished span, encoded as an OTLP/JSON `Span` object
/// (opentelemetry-proto trace/v1, JSON mapping: ids in hex, times as decimal strings).
public struct SpanRecord {
    public enum Kind: Int {
        /// The gateway serving a call.
        case server = 2
        /// One attempt of the call at a model endpoint.
        case client = 3
    }

    public var trace: TraceContext
    public var spanID: UInt64
    /// 0: a root span.
    public var parentSpanID: UInt64 = 0
    /// The caller's `tracestate`, kept ("" when none).
    public var traceState = ""
    public var name = ""
    /// The gRPC service and method (`rpc.service`, `rpc.method`; "": left out).
    public var service = ""
    public var method = ""
    public var kind = Kind.server
    public var startUnixNanos: UInt64 = 0
    public var endUnixNanos: UInt64 = 0
    public var model = ""
    public var version = ""
    /// The call's (server) or the attempt's (client) grpc-status, when one was seen.
    public var grpcStatus: Int?
    /// Client spans: the endpoint and the attempt's number (1 = first).
    public var serverHost = ""
    public var serverPort = 0
    public var attempt = 0
    /// Why the span failed ("" unless it did; a failing grpc-status fails it too).
    public var error = ""

    public init(trace: TraceContext, spanID: UInt64) {
        self.trace = trace
        self.spanID = spanID
    }

    /// Appends the span as one JSON object.
    public func encode(into out: JSONBuffer) {
        out.raw("{\"traceId\":\"")
        out.hex(trace.traceHigh)
        out.hex(trace.traceLow)
        out.raw("\",\"spanId\":\"")
        out.hex(spanID)
        out.raw("\"")
        if parentSpanID != 0 {
            out.raw(",\"parentSpanId\":\"")
            out.hex(parentSpanID)
            out.raw("\"")
        }
        if !traceState.isEmpty {
            out.raw(",\"traceState\":")
            out.string(traceState)
        }
        out.raw(",\"name\":")
        out.string(name)
        out.raw(",\"kind\":")
        out.int(kind.rawValue)
        out.raw(",\"startTimeUnixNano\":\"")
        out.unsigned(startUnixNanos)
        out.raw("\",\"endTimeUnixNano\":\"")
        out.unsigned(max(endUnixNanos, startUnixNanos))
        out.raw("\",\"attributes\":[")
        stringAttribute(out, "rpc.system", "grpc", first: true)
        if !service.isEmpty { stringAttribute(out, "rpc.service", service) }
        if !method.isEmpty { stringAttribute(out, "rpc.method", method) }
        if !model.isEmpty { stringAttribute(out, "byoc.model", model) }
        if !version.isEmpty { stringAttribute(out, "byoc.version", version) }
        if let grpcStatus { intAttribute(out, "rpc.grpc.status_code", grpcStatus) }
        if kind == .client {
            if !serverHost.isEmpty {
                stringAttribute(out, "server.address", serverHost)
                intAttribute(out, "server.port", serverPort)
            }
            intAttribute(out, "byoc.attempt", attempt)
        }
        out.raw("]")
        let failed = !error.isEmpty || (grpcStatus.map { $0 != 0 } ?? false)
        if failed {
            out.raw(",\"status\":{\"code\":2")
            if !error.isEmpty {
                out.raw(",\"message\":")
                out.string(error)
            }
            out.raw("}")
        }
        out.raw("}")
    }

    private func stringAttribute(_ out: JSONBuffer, _ key: StaticString, _ value: String, first: Bool = false) {
        if !first { out.raw(",") }
        out.raw("{\"key\":\"")
        out.raw(key)
        out.raw("\",\"value\":{\"stringValue\":")
        out.string(value)
        out.raw("}}")
    }

    private func intAttribute(_ out: JSONBuffer, _ key: StaticString, _ value: Int) {
        out.raw(",{\"key\":\"")
        out.raw(key)
        out.raw("\",\"value\":{\"intValue\":\"")
        out.int(value)
        out.raw("\"}}")
    }
}

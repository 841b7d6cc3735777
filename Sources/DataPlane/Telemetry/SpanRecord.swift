/// A finished span: filled in on the worker (ids as integers, shared strings, no formatting)
/// and encoded on the exporter's thread as an OTLP `Span` (opentelemetry-proto trace/v1): as a
/// JSON object (the JSON mapping: ids in hex, times as decimal strings) or as protobuf, in the
/// field `ScopeSpans.spans` (so a batch is a run of them the exporter wraps).
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
    /// The gRPC path (`/package.Service/Method`): the span is named after it without its
    /// leading `/`, and its service and method (`rpc.service`, `rpc.method`) are the parts
    /// before and after the last `/`. Plain HTTP: the request's path.
    public var path = ""
    /// Plain HTTP requests: the request method (the span is named `METHOD PATH`, with HTTP
    /// attributes instead of gRPC ones) and the response status.
    public var httpMethod = ""
    public var httpStatus = 0
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
    /// A server span's last attempt, encoded as its client child span right after it (one
    /// record per call on the worker; earlier attempts of a retried call are records of their own).
    public var child: Child?

    /// A client span under a server span: the attempt's own values (the rest is the parent's).
    public struct Child {
        public var spanID: UInt64
        public var startUnixNanos: UInt64
        public var endUnixNanos: UInt64
        public var grpcStatus: Int?
        public var error: String
        public var number: Int
        public var serverHost: String
        public var serverPort: Int

        public init(spanID: UInt64, startUnixNanos: UInt64, endUnixNanos: UInt64, grpcStatus: Int?, error: String,
                    number: Int, serverHost: String, serverPort: Int) {
            self.spanID = spanID
            self.startUnixNanos = startUnixNanos
            self.endUnixNanos = endUnixNanos
            self.grpcStatus = grpcStatus
            self.error = error
            self.number = number
            self.serverHost = serverHost
            self.serverPort = serverPort
        }
    }

    /// The spans this record encodes to (1, or 2 with a child).
    public var spanCount: Int { child == nil ? 1 : 2 }

    /// `child` as a client span of its own, child of this span.
    public func childSpan(_ child: Child) -> SpanRecord {
        var span = SpanRecord(trace: trace, spanID: child.spanID, parent: spanID, traceState: traceState, path: path,
                              kind: .client, start: child.startUnixNanos, end: child.endUnixNanos)
        span.model = model
        span.version = version
        span.grpcStatus = child.grpcStatus
        span.serverHost = child.serverHost
        span.serverPort = child.serverPort
        span.attempt = child.number
        span.error = child.error
        return span
    }

    /// A span of `trace` named after `path`, from `start` to `end` (Unix nanoseconds).
    public init(trace: TraceContext, spanID: UInt64, parent: UInt64, traceState: String, path: String, kind: Kind,
                start: UInt64, end: UInt64) {
        self.init(trace: trace, spanID: spanID)
        parentSpanID = parent
        self.traceState = traceState
        self.path = path
        self.kind = kind
        startUnixNanos = start
        endUnixNanos = end
    }

    public init(trace: TraceContext, spanID: UInt64) {
        self.trace = trace
        self.spanID = spanID
    }

    /// About how many bytes the encoded span takes (the fixed part and the strings; for the
    /// exporter's bound, cheap to work out on the worker).
    public var encodedSizeEstimate: Int {
        // The caller-chosen strings; the rest is bounded (addresses, the route table's names).
        720 + traceState.utf8.count + 2 * path.utf8.count + model.utf8.count
    }

    /// Appends the span as one JSON object (and its child's after it, comma-separated).
    public func encode(into out: RecordBuffer) {
        encodeJSON(own, parent: parentSpanID, kind: kind, into: out)
        if let child {
            out.raw(",")
            encodeJSON(child, parent: spanID, kind: .client, into: out)
        }
    }

    /// This span's own values in the shape of a child's (what differs between the two).
    private var own: Child {
        Child(spanID: spanID, startUnixNanos: startUnixNanos, endUnixNanos: endUnixNanos, grpcStatus: grpcStatus,
              error: error, number: attempt, serverHost: serverHost, serverPort: serverPort)
    }

    private func encodeJSON(_ part: Child, parent: UInt64, kind: Kind, into out: RecordBuffer) {
        out.raw("{\"traceId\":\"")
        out.hex(trace.traceHigh)
        out.hex(trace.traceLow)
        out.raw("\",\"spanId\":\"")
        out.hex(part.spanID)
        out.raw("\"")
        if parent != 0 {
            out.raw(",\"parentSpanId\":\"")
            out.hex(parent)
            out.raw("\"")
        }
        if !traceState.isEmpty {
            out.raw(",\"traceState\":")
            out.string(traceState)
        }
        out.raw(",\"name\":")
        out.fragment(0, path, httpMethod) { out in
            if !httpMethod.isEmpty {
                out.string(httpMethod + " " + path)
            } else {
                var path = path
                path.withUTF8 { out.quoted(Self.name($0)) }
            }
        }
        out.raw(",\"kind\":")
        out.int(kind.rawValue)
        out.raw(",\"startTimeUnixNano\":\"")
        out.unsigned(part.startUnixNanos)
        out.raw("\",\"endTimeUnixNano\":\"")
        out.unsigned(max(part.endUnixNanos, part.startUnixNanos))
        out.raw("\",\"attributes\":[")
        if !httpMethod.isEmpty {
            stringAttribute(out, "http.request.method", httpMethod, first: true)
            stringAttribute(out, "url.path", path)
            intAttribute(out, "http.response.status_code", httpStatus)
        } else {
            out.fragment(1, path) { out in
                stringAttribute(out, "rpc.system", "grpc", first: true)
                var path = path
                path.withUTF8 { path in
                    let (service, method) = Self.serviceAndMethod(path)
                    if !service.isEmpty { bytesAttribute(out, "rpc.service", service) }
                    if !method.isEmpty { bytesAttribute(out, "rpc.method", method) }
                }
            }
        }
        out.fragment(2, model, version) { out in
            if !model.isEmpty { stringAttribute(out, "byoc.model", model) }
            if !version.isEmpty { stringAttribute(out, "byoc.version", version) }
        }
        if let grpcStatus = part.grpcStatus { intAttribute(out, "rpc.grpc.status_code", grpcStatus) }
        if kind == .client {
            if !part.serverHost.isEmpty {
                out.fragment(3, part.serverHost, "", "", part.serverPort) { out in
                    stringAttribute(out, "server.address", part.serverHost)
                    intAttribute(out, "server.port", part.serverPort)
                }
            }
            intAttribute(out, "byoc.attempt", part.number)
        }
        out.raw("]")
        if failed(part) {
            out.raw(",\"status\":{\"code\":2")
            if !part.error.isEmpty {
                out.raw(",\"message\":")
                out.string(part.error)
            }
            out.raw("}")
        }
        out.raw("}")
    }

    /// Whether the span failed (an error, a grpc-status other than OK, an HTTP 5xx).
    private func failed(_ part: Child) -> Bool {
        !part.error.isEmpty || (part.grpcStatus.map { $0 != 0 } ?? false) || httpStatus >= 500
    }

    /// The span name of a gRPC path: without its leading `/`.
    static func name(_ path: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        path.first == UInt8(ascii: "/") ? UnsafeBufferPointer(rebasing: path[1...]) : path
    }

    /// A gRPC path's service and method: the name before and after its last `/` (both empty
    /// when it has none).
    static func serviceAndMethod(_ path: UnsafeBufferPointer<UInt8>) -> (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) {
        let name = Self.name(path)
        guard let slash = name.lastIndex(of: UInt8(ascii: "/")) else {
            return (UnsafeBufferPointer(start: nil, count: 0), UnsafeBufferPointer(start: nil, count: 0))
        }
        return (UnsafeBufferPointer(rebasing: name[..<slash]), UnsafeBufferPointer(rebasing: name[(slash + 1)...]))
    }

    /// Appends the span as protobuf field 2 of `ScopeSpans` (tag, length, `Span`), and its
    /// child's after it.
    public func encodeProtobuf(into out: RecordBuffer) {
        encodeProtobuf(own, parent: parentSpanID, kind: kind, into: out)
        if let child { encodeProtobuf(child, parent: spanID, kind: .client, into: out) }
    }

    private func encodeProtobuf(_ part: Child, parent: UInt64, kind: Kind, into out: RecordBuffer) {
        out.tag(2, 2)
        let span = out.beginLength()
        out.id128(1, high: trace.traceHigh, low: trace.traceLow)
        out.id64(2, part.spanID)
        if !traceState.isEmpty { out.protoString(3, traceState) }
        if parent != 0 { out.id64(4, parent) }
        var pathCopy = path
        if !httpMethod.isEmpty {
            out.protoString(5, httpMethod + " " + path)
        } else {
            pathCopy.withUTF8 { out.protoBytes(5, Self.name($0)) }
        }
        out.tag(6, 0)
        out.varint(UInt64(kind.rawValue))
        out.fixed64(7, part.startUnixNanos)
        out.fixed64(8, max(part.endUnixNanos, part.startUnixNanos))
        if !httpMethod.isEmpty {
            out.keyValue(9, "http.request.method", httpMethod)
            out.keyValue(9, "url.path", path)
            out.keyValue(9, "http.response.status_code", int: httpStatus)
        } else {
            out.keyValue(9, "rpc.system", "grpc")
            pathCopy.withUTF8 { path in
                let (service, method) = Self.serviceAndMethod(path)
                if !service.isEmpty { out.keyValue(9, "rpc.service", bytes: service) }
                if !method.isEmpty { out.keyValue(9, "rpc.method", bytes: method) }
            }
        }
        if !model.isEmpty { out.keyValue(9, "byoc.model", model) }
        if !version.isEmpty { out.keyValue(9, "byoc.version", version) }
        if let grpcStatus = part.grpcStatus { out.keyValue(9, "rpc.grpc.status_code", int: grpcStatus) }
        if kind == .client {
            if !part.serverHost.isEmpty {
                out.keyValue(9, "server.address", part.serverHost)
                out.keyValue(9, "server.port", int: part.serverPort)
            }
            out.keyValue(9, "byoc.attempt", int: part.number)
        }
        if failed(part) {
            // Status { message = 2; code = 3 (STATUS_CODE_ERROR = 2) }
            let message = part.error.utf8.count
            out.tag(15, 2)
            out.varint(UInt64(message == 0 ? 2 : 1 + RecordBuffer.varintSize(UInt64(message)) + message + 2))
            if message > 0 { out.protoString(2, part.error) }
            out.tag(3, 0)
            out.varint(2)
        }
        out.endLength(span)
    }

    private func stringAttribute(_ out: RecordBuffer, _ key: StaticString, _ value: String, first: Bool = false) {
        if !first { out.raw(",") }
        out.raw("{\"key\":\"")
        out.raw(key)
        out.raw("\",\"value\":{\"stringValue\":")
        out.string(value)
        out.raw("}}")
    }

    private func bytesAttribute(_ out: RecordBuffer, _ key: StaticString, _ value: UnsafeBufferPointer<UInt8>) {
        out.raw(",{\"key\":\"")
        out.raw(key)
        out.raw("\",\"value\":{\"stringValue\":")
        out.quoted(value)
        out.raw("}}")
    }

    private func intAttribute(_ out: RecordBuffer, _ key: StaticString, _ value: Int) {
        out.raw(",{\"key\":\"")
        out.raw(key)
        out.raw("\",\"value\":{\"intValue\":\"")
        out.int(value)
        out.raw("\"}}")
    }
}

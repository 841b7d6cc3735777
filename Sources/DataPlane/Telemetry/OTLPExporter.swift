#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// `--otlp-endpoint`: exports spans over OTLP/HTTP (`POST /v1/traces`,
/// `ExportTraceServiceRequest`, protobuf or JSON) from the channel's thread: each wake-up
/// encodes what the workers handed over since the last one and sends it, in requests of about
/// `maxRequestBytes` at most, with blocking sockets bounded by `timeoutSeconds`. A request
/// that fails (refused, timed out, not 2xx) drops its spans, counted; the next batch tries
/// again on a new connection, and what waits meanwhile is bounded by the channel.
public final class OTLPExporter: @unchecked Sendable {
    /// `--otlp-protocol`: the request body's encoding.
    public enum Encoding: String, Sendable {
        case protobuf = "http/protobuf"
        case json = "http/json"

        var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }
    }

    public struct ConfigError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Most bytes of spans waiting for the exporter before spans are dropped.
    public static let maxPendingBytes = 16 << 20
    public static let maxRequestBytes = 4 << 20
    public static let timeoutSeconds = 5

    public let host: String
    public let port: Int
    /// The request path (`/v1/traces` unless the URL named one).
    public let path: String
    public let encoding: Encoding
    private let serviceName: String
    private let serviceVersion: String
    /// The last export failed (logged once until one succeeds again).
    private var failing = false
    /// The spans of the request being built, encoded (the exporter thread's).
    private let spanBytes = RecordBuffer(capacity: 1 << 20)

    /// Parses `http://HOST:PORT[/PATH]` (no PATH or `/`: `/v1/traces`).
    public init(endpoint: String, encoding: Encoding = .json, serviceName: String, serviceVersion: String) throws {
        self.encoding = encoding
        guard endpoint.hasPrefix("http://") else {
            throw ConfigError(description: "--otlp-endpoint must be http://HOST:PORT[/PATH], got \"\(endpoint)\"")
        }
        let rest = endpoint.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let given = String(rest[slash...])
        path = given.isEmpty || given == "/" ? "/v1/traces" : given
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]),
              port > 0, port < 65536, colon != authority.startIndex else {
            throw ConfigError(description: "--otlp-endpoint must name HOST:PORT, got \"\(endpoint)\"")
        }
        var host = String(authority[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host
        self.port = port
        self.serviceName = serviceName
        self.serviceVersion = serviceVersion
    }

    /// A started channel exporting through this exporter.
    public func makeChannel() -> BatchChannel<SpanRecord> {
        let channel = BatchChannel<SpanRecord>(name: "otlp-export", maxPendingBytes: Self.maxPendingBytes) { [self] batches in
            export(batches)
        }
        channel.start()
        return channel
    }

    /// Encodes and sends the spans of `batches`; returns how many were not accepted. Once a
    /// request fails, the rest of this delivery is dropped without trying (a collector that
    /// does not answer costs one timeout per delivery, not one per request).
    func export(_ batches: [[SpanRecord]]) -> Int {
        let total = batches.reduce(0) { $0 + $1.reduce(0) { $0 + $1.spanCount } }
        var handled = 0
        var count = 0
        spanBytes.reset()
        for batch in batches {
            for span in batch {
                switch encoding {
                case .protobuf:
                    span.encodeProtobuf(into: spanBytes)
                case .json:
                    if count > 0 { spanBytes.raw(",") }
                    span.encode(into: spanBytes)
                }
                count += span.spanCount
                if spanBytes.count >= Self.maxRequestBytes {
                    guard send(count) else { return total - handled }
                    handled += count
                    count = 0
                    spanBytes.reset()
                }
            }
        }
        if count > 0, !send(count) { return count }
        return 0
    }

    /// POSTs the `count` spans encoded in `spanBytes`; false when the collector did not take
    /// them (said once on stderr until an export works again).
    private func send(_ count: Int) -> Bool {
        let problem = spanBytes.withBytes { post($0) }
        if let problem {
            if !failing {
                failing = true
                FileHandle.standardError.write(Data("byoc-gateway: span export to http://\(host):\(port)\(path) failed: \(problem) (spans dropped and counted in byoc_spans_dropped_total until it works)\n".utf8))
            }
            return false
        }
        if failing {
            failing = false
            FileHandle.standardError.write(Data("byoc-gateway: span export to http://\(host):\(port)\(path) works again\n".utf8))
        }
        return true
    }

    /// The `ExportTraceServiceRequest` before and after `bytes` bytes of spans.
    private func envelope(spanBytes bytes: Int) -> (prefix: [UInt8], suffix: [UInt8]) {
        switch encoding {
        case .json:
            return jsonEnvelope
        case .protobuf:
            // ExportTraceServiceRequest { 1: ResourceSpans { 1: Resource { 1: attributes },
            // 2: ScopeSpans { 1: InstrumentationScope { 1: name }, 2: spans (the batches) } } }
            let resource = RecordBuffer(capacity: 256)
            resource.keyValue(1, "service.name", serviceName)
            resource.keyValue(1, "service.version", serviceVersion)
            let scope = RecordBuffer(capacity: 64)
            scope.protoString(1, "byoc-gateway")
            let scopeSpans = 1 + RecordBuffer.varintSize(UInt64(scope.count)) + scope.count + bytes
            let resourceSpans = 1 + RecordBuffer.varintSize(UInt64(resource.count)) + resource.count
                + 1 + RecordBuffer.varintSize(UInt64(scopeSpans)) + scopeSpans
            let out = RecordBuffer(capacity: 512)
            out.tag(1, 2)
            out.varint(UInt64(resourceSpans))
            out.tag(1, 2)
            out.varint(UInt64(resource.count))
            resource.bytes.withUnsafeBytes { out.append($0) }
            out.tag(2, 2)
            out.varint(UInt64(scopeSpans))
            out.tag(1, 2)
            out.varint(UInt64(scope.count))
            scope.bytes.withUnsafeBytes { out.append($0) }
            return (out.bytes, [])
        }
    }

    /// The `ExportTraceServiceRequest` JSON before and after the span objects.
    private lazy var jsonEnvelope: (prefix: [UInt8], suffix: [UInt8]) = {
        let out = RecordBuffer()
        out.raw("{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":")
        out.string(serviceName)
        out.raw("}},{\"key\":\"service.version\",\"value\":{\"stringValue\":")
        out.string(serviceVersion)
        out.raw("}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"byoc-gateway\"},\"spans\":[")
        return (out.bytes, Array("]}]}]}".utf8))
    }()

    /// POSTs `spans` (encoded spans) in one request, the envelope around them; nil when the
    /// collector answered 2xx, else what went wrong.
    private func post(_ spans: UnsafeRawBufferPointer) -> String? {
        let (prefix, suffix) = envelope(spanBytes: spans.count)
        let length = prefix.count + suffix.count + spans.count
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else { return "cannot resolve \(host): \(String(cString: gai_strerror(resolved)))" }
        defer { freeaddrinfo(list) }
        var fd: Int32 = -1
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd >= 0 {
                var timeout = timeval(tv_sec: Self.timeoutSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { break }
                lastError = errno == EINPROGRESS || errno == EAGAIN ? "connect: no answer within \(Self.timeoutSeconds) s"
                    : "connect: \(String(cString: strerror(errno)))"
                Glibc.close(fd)
                fd = -1
            }
            entry = info.pointee.ai_next
        }
        guard fd >= 0 else { return lastError }
        defer { Glibc.close(fd) }
        let head = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: \(encoding.contentType)\r\n"
            + "Content-Length: \(length)\r\nConnection: close\r\nUser-Agent: byoc-gateway\r\n\r\n"
        // Corked: the pieces leave as full segments, the last when the cork comes off.
        var on: Int32 = 1
        var off: Int32 = 0
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_CORK, &on, socklen_t(MemoryLayout<Int32>.size))
        var problem: String?
        for piece in [Array(head.utf8), prefix] where problem == nil {
            problem = piece.withUnsafeBytes { AccessLogFile.writeAll(fd, $0) }
        }
        if problem == nil { problem = AccessLogFile.writeAll(fd, spans) }
        if problem == nil { problem = suffix.withUnsafeBytes { AccessLogFile.writeAll(fd, $0) } }
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_CORK, &off, socklen_t(MemoryLayout<Int32>.size))
        if let problem { return "send: \(problem)" }
        // The status line is all we need; read until it is complete, then drain the rest.
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !response.contains(UInt8(ascii: "\n")) && response.count < 8192 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return "no answer within \(Self.timeoutSeconds) s" }
            guard n > 0 else { return n == 0 ? "the collector closed the connection without answering" : "recv: \(String(cString: strerror(errno)))" }
            response += buffer[0..<n]
        }
        let statusLine = String(decoding: response.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let status = Int(fields[1]) else { return "not an HTTP response: \(statusLine.prefix(80))" }
        return (200..<300).contains(status) ? nil : "HTTP \(status)"
    }
}

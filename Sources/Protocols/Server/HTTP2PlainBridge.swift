import HTTP1
import HTTP2
import Transport

/// Serves the plain-HTTP routes of an `HTTPService` over HTTP/2 streams that are not gRPC
/// (`curl --http2-prior-knowledge http://HOST:PORT/metrics`): installed as the gRPC worker's
/// `plainHTTP` hook. Paths the service does not route keep the gRPC side's 415.
public final class HTTP2PlainBridge: PlainHTTPHandler {
    public let service: HTTPService
    public let loop: EventLoop
    public let limits: HTTPLimits

    public init(service: HTTPService, loop: EventLoop, limits: HTTPLimits = HTTPLimits()) {
        self.service = service
        self.loop = loop
        self.limits = limits
    }

    public func accept(_ stream: HTTP2Stream, method: String, path: String, headers: [HeaderField]) -> HTTP2StreamDelegate? {
        guard service.router.servesPath(path) else { return nil }
        return PlainHTTP2Request(bridge: self)
    }
}

/// One plain request on an HTTP/2 stream: collects the body (bounded), runs the service,
/// sends the response.
final class PlainHTTP2Request: HTTP2StreamDelegate {
    let bridge: HTTP2PlainBridge
    private var request: HTTPRequest?
    private var body: [UInt8] = []
    private var bodyLimit = 0
    private var answered = false

    init(bridge: HTTP2PlainBridge) {
        self.bridge = bridge
    }

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        guard kind == .request, request == nil else { return }
        var fields: [(name: String, value: String)] = []
        var host: String?
        for field in headers {
            if field.name == ":authority" { host = field.value }
            if field.isPseudo { continue }
            fields.append((name: field.name.lowercased(), value: field.value))
        }
        if let host, !fields.contains(where: { $0.name == "host" }) { fields.append((name: "host", value: host)) }
        request = HTTPRequest(method: headers[field: ":method"] ?? "GET", target: headers[field: ":path"] ?? "/",
                              headers: fields, version: "HTTP/2")
        bodyLimit = bridge.limits.maxBodyBytes(forTarget: request?.target ?? "/")
        if let length = headers[field: "content-length"].flatMap(Int.init), length > bodyLimit {
            send(stream, .text(413, "the request body (\(length) bytes) is larger than \(bodyLimit) bytes"))
        }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
        guard !answered else { return }
        guard body.count + data.count <= bodyLimit else {
            send(stream, .text(413, "the request body is larger than \(bodyLimit) bytes"))
            return
        }
        body.append(contentsOf: data)
    }

    func streamEnded(_ stream: HTTP2Stream) {
        guard !answered, var request else { return }
        request.body = body
        body = []
        if bridge.service.completed != nil { request.peer = (stream.session.driver as? HTTP2Connection)?.remoteAddress ?? "" }
        let isHead = request.method == "HEAD"
        let responder = HTTPResponder(loop: bridge.loop) { [weak self, weak stream] response in
            guard let self, let stream else { return }
            self.send(stream, response, head: isHead)
        }
        bridge.service.handle(request, responder: responder)
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        answered = true
    }

    private func send(_ stream: HTTP2Stream, _ response: HTTPResponse, head: Bool = false) {
        guard !answered, !stream.isClosed else { return }
        answered = true
        var headers = [HeaderField(":status", String(response.status))]
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "connection" || lower == "content-length" || lower == "transfer-encoding" || lower == "keep-alive" { continue }
            headers.append(HeaderField(lower, value))
        }
        headers.append(HeaderField("content-length", String(response.body.count)))
        if head || response.body.isEmpty {
            stream.sendHeaders(headers, endStream: true)
        } else {
            stream.sendHeaders(headers, endStream: false)
            stream.write(response.body)
            stream.finish()
        }
        if !stream.remoteEnded { stream.stopPeerAfterResponse() }
    }
}

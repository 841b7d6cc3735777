import HTTP2
import Transport

extension GRPCClient {
    /// The request headers of a call to `path`: the gRPC pseudo-headers and content type, the
    /// deadline as `grpc-timeout`, then `metadata` (names lowercased).
    func requestHeaders(path: String, metadata: [(String, String)], timeoutMs: Int?) -> [HeaderField] {
        var headers = [HeaderField(":method", "POST"), HeaderField(":scheme", scheme), HeaderField(":authority", authority),
                       HeaderField(":path", path), HeaderField("content-type", "application/grpc"),
                       HeaderField("te", "trailers"), HeaderField("user-agent", "byoc-grpc-client/0.1")]
        if let timeoutMs { headers.append(HeaderField("grpc-timeout", "\(timeoutMs)m")) }
        for (name, value) in metadata { headers.append(HeaderField(name.lowercased(), value)) }
        return headers
    }

    /// The status of a call that could not start (UNAVAILABLE with the reason).
    func startFailure(_ error: HTTP2ClientError) -> GRPCStatus {
        switch error {
        case .cannotConnect(let why):
            return GRPCStatus(.unavailable, "cannot connect to \(authority): \(Self.reason(why))")
        case .cannotOpenStream:
            return GRPCStatus(.unavailable, "cannot open a stream to \(authority)")
        }
    }
}

/// The response metadata of one client call, and the status it ends with: what the unary and
/// the streaming calls share.
struct GRPCClientResponse {
    /// How a call ends, judged from its metadata when its stream ends.
    enum Ending {
        /// grpc-status 0: the call succeeded.
        case ok
        case failed(GRPCStatus)
        /// Neither status nor failure yet (the stream is still open).
        case pending
    }

    let authority: String
    private(set) var headers: [HeaderField] = []
    private(set) var trailers: [HeaderField] = []

    init(authority: String) { self.authority = authority }

    /// Keeps a header block: the response headers (which are also the trailers of a
    /// trailers-only answer) or the trailers.
    mutating func received(_ block: HeaderBlock, kind: HeaderKind) {
        switch kind {
        case .response:
            headers = block.fields
            if block[field: "grpc-status"] != nil { trailers = headers }
        case .trailers:
            trailers = block.fields
        case .request:
            break
        }
    }

    /// The call's ending once its response ended (`streamClosed`: the stream closed too).
    func ending(streamClosed: Bool) -> Ending {
        if let status = trailers[field: "grpc-status"] {
            let code = Int(status).flatMap(GRPCStatusCode.init(rawValue:)) ?? .unknown
            if code == .ok { return .ok }
            return .failed(GRPCStatus(code, trailers[field: "grpc-message"].map(PercentEncoding.decode) ?? ""))
        }
        if let status = headers[field: ":status"], status != "200" {
            return .failed(GRPCStatus(.unknown, "\(authority) answered HTTP \(status)"))
        }
        if streamClosed { return .failed(GRPCStatus(.internal, "\(authority) ended the call without grpc-status")) }
        return .pending
    }

    /// The status of a call whose connection or stream failed (UNAVAILABLE with the reason).
    func status(of failure: HTTP2ClientCallFailure) -> GRPCStatus {
        switch failure {
        case .connectFailed(let error):
            let why = error.map(GRPCClient.reason) ?? "connection refused"
            return GRPCStatus(.unavailable, "cannot connect to \(authority): \(why)")
        case .connectionLost(let error, let channel):
            // A TLS channel that failed its handshake (verification, ALPN) could not connect:
            // say why in one line.
            if let channel = channel as? EstablishingChannel, !channel.isEstablished {
                let why = error.map(GRPCClient.reason) ?? "TLS handshake failed"
                return GRPCStatus(.unavailable, "cannot connect to \(authority): \(why)")
            }
            return GRPCStatus(.unavailable, "lost the connection to \(authority)")
        case .reset(let code):
            return GRPCStatus(.unavailable, "\(authority) reset the stream (HTTP/2 error \(code.rawValue))")
        }
    }
}

import HTTP2
import Transport

extension GRPCClient {
    /// Calls a server-streaming `path` with one request message: yields each response message
    /// as it arrives, finishes at an OK status and throws `GRPCStatus` otherwise (UNAVAILABLE
    /// with the reason when the server cannot be reached). Ending the iteration cancels the call.
    public func serverStreaming(path: String, request: [UInt8], metadata: [(String, String)] = [],
                                timeoutMs: Int? = nil) -> AsyncThrowingStream<[UInt8], Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: Error.self)
        let delegate = ClientServerStreamingCall(authority: authority, continuation: continuation)
        continuation.onTermination = { [loop] _ in loop.execute { delegate.cancel() } }
        loop.execute { [self] in
            var headers = [HeaderField(":method", "POST"), HeaderField(":scheme", scheme), HeaderField(":authority", authority),
                           HeaderField(":path", path), HeaderField("content-type", "application/grpc"),
                           HeaderField("te", "trailers"), HeaderField("user-agent", "byoc-grpc-client/0.1")]
            if let timeoutMs { headers.append(HeaderField("grpc-timeout", "\(timeoutMs)m")) }
            for (name, value) in metadata { headers.append(HeaderField(name.lowercased(), value)) }
            let call: HTTP2ClientCall
            do { call = try client.start(headers: headers, delegate: delegate) } catch let error as HTTP2ClientError {
                switch error {
                case .cannotConnect(let why):
                    delegate.fail(GRPCStatus(.unavailable, "cannot connect to \(authority): \(Self.reason(why))"))
                case .cannotOpenStream:
                    delegate.fail(GRPCStatus(.unavailable, "cannot open a stream to \(authority)"))
                }
                return
            } catch {
                delegate.fail(GRPCStatus(.unavailable, "cannot call \(authority): \(error)"))
                return
            }
            delegate.call = call
            call.stream.write(GRPCFraming.frame(request))
            call.stream.finish()
        }
        return stream
    }
}

/// One client-side server-streaming call: yields messages as they arrive, ends at the status.
final class ClientServerStreamingCall: HTTP2ClientCallDelegate, @unchecked Sendable {
    let authority: String
    var call: HTTP2ClientCall?
    private let continuation: AsyncThrowingStream<[UInt8], Error>.Continuation
    private var headers: [HeaderField] = []
    private var trailers: [HeaderField] = []
    private var reader = GRPCMessageReader(maxMessageBytes: Int(Int32.max))
    private var finished = false

    init(authority: String, continuation: AsyncThrowingStream<[UInt8], Error>.Continuation) {
        self.authority = authority
        self.continuation = continuation
    }

    /// The consumer stopped: reset the stream.
    func cancel() {
        guard !finished else { return }
        finished = true
        call?.cancel()
        call?.end()
    }

    func fail(_ status: GRPCStatus) {
        guard !finished else { return }
        finished = true
        call?.end()
        continuation.finish(throwing: status)
    }

    func call(_ call: HTTP2ClientCall, receivedHeaders headers: HeaderBlock, kind: HeaderKind) {
        switch kind {
        case .response:
            self.headers = headers.fields
            if headers[field: "grpc-status"] != nil { trailers = self.headers }
        case .trailers:
            trailers = headers.fields
        case .request:
            break
        }
    }

    func call(_ call: HTTP2ClientCall, receivedData data: UnsafeRawBufferPointer) {
        guard !finished else { return }
        do { try reader.append(data) } catch {
            call.cancel()
            fail(error.status)
            return
        }
        for message in reader.takeMessages() { continuation.yield(message) }
    }

    func callEnded(_ call: HTTP2ClientCall, streamClosed: Bool) {
        guard !finished else { return }
        if let status = trailers[field: "grpc-status"] {
            let code = Int(status).flatMap(GRPCStatusCode.init(rawValue:)) ?? .unknown
            guard code == .ok else {
                fail(GRPCStatus(code, trailers[field: "grpc-message"].map(PercentEncoding.decode) ?? ""))
                return
            }
            finished = true
            call.end()
            continuation.finish()
        } else if let status = headers[field: ":status"], status != "200" {
            fail(GRPCStatus(.unknown, "\(authority) answered HTTP \(status)"))
        } else if streamClosed {
            fail(GRPCStatus(.internal, "\(authority) ended the call without grpc-status"))
        }
    }

    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure) {
        switch failure {
        case .connectFailed(let error):
            let why = error.map(GRPCClient.reason) ?? "connection refused"
            fail(GRPCStatus(.unavailable, "cannot connect to \(authority): \(why)"))
        case .connectionLost:
            fail(GRPCStatus(.unavailable, "lost the connection to \(authority)"))
        case .reset(let code):
            fail(GRPCStatus(.unavailable, "\(authority) reset the stream (HTTP/2 error \(code.rawValue))"))
        }
    }
}

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
            let call: HTTP2ClientCall
            do throws(HTTP2ClientError) {
                call = try client.start(headers: requestHeaders(path: path, metadata: metadata, timeoutMs: timeoutMs),
                                        delegate: delegate)
            } catch {
                delegate.fail(startFailure(error))
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
    var call: HTTP2ClientCall?
    private let continuation: AsyncThrowingStream<[UInt8], Error>.Continuation
    private var response: GRPCClientResponse
    private var reader = GRPCMessageReader(maxMessageBytes: Int(Int32.max))
    private var finished = false

    init(authority: String, continuation: AsyncThrowingStream<[UInt8], Error>.Continuation) {
        self.response = GRPCClientResponse(authority: authority)
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
        response.received(headers, kind: kind)
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
        switch response.ending(streamClosed: streamClosed) {
        case .ok:
            finished = true
            call.end()
            continuation.finish()
        case .failed(let status):
            fail(status)
        case .pending:
            break
        }
    }

    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure) {
        fail(response.status(of: failure))
    }
}

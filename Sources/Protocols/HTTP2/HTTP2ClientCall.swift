import Transport

/// Why a client call ended without a response.
public enum HTTP2ClientCallFailure: Error {
    /// The connection never came up; `error` says why when the connection knows.
    case connectFailed(HTTP2ConnectionError?)
    /// The connection closed while the call was open. `channel` is the connection's (a TLS
    /// channel that never finished its handshake means the server could not be reached).
    case connectionLost(HTTP2ConnectionError?, channel: ByteChannel)
    /// The server reset the stream.
    case reset(HTTP2ErrorCode)
}

/// What the owner of a client call hears (gRPC or Kubernetes response handling). Nothing is
/// called once the call ended (`HTTP2ClientCall.end`).
public protocol HTTP2ClientCallDelegate: AnyObject {
    /// The response headers, or the trailers, arrived.
    func call(_ call: HTTP2ClientCall, receivedHeaders headers: HeaderBlock, kind: HeaderKind)
    /// Response body bytes arrived (already returned to the flow-control window).
    func call(_ call: HTTP2ClientCall, receivedData data: UnsafeRawBufferPointer)
    /// The server ended the response (END_STREAM), or with `streamClosed` the stream closed
    /// cleanly (both may come, in that order).
    func callEnded(_ call: HTTP2ClientCall, streamClosed: Bool)
    /// The call failed before the response ended.
    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure)
}

/// One request on an `HTTP2Client`'s connection: the delegate of its stream, it returns body
/// bytes to the window, turns the stream's close reason into an `HTTP2ClientCallFailure`,
/// keeps the call's one timer, and ends once (`end`), after which its owner hears nothing.
/// Loop-confined.
public final class HTTP2ClientCall: HTTP2StreamDelegate {
    /// The connection the stream is on.
    public let connection: HTTP2Connection
    /// The request's stream (set when it opens).
    public private(set) var stream: HTTP2Stream!
    /// The owner; held until the call ends.
    public private(set) var delegate: HTTP2ClientCallDelegate?
    /// True once ended.
    public private(set) var isEnded = false
    private var timer: UInt64?

    init(connection: HTTP2Connection, delegate: HTTP2ClientCallDelegate) {
        self.connection = connection
        self.delegate = delegate
    }

    func attach(_ stream: HTTP2Stream) {
        self.stream = stream
    }

    /// Runs `fire` after `nanoseconds` unless the call ended by then; replaces a pending timer.
    public func schedule(afterNanos nanoseconds: UInt64, _ fire: @escaping () -> Void) {
        let loop = connection.loop
        if let timer { loop.cancelTimer(timer) }
        timer = loop.schedule(afterNanos: nanoseconds) { [weak self] in
            guard let self, !self.isEnded else { return }
            self.timer = nil
            fire()
        }
    }

    /// Ends the call: its timer is cancelled and the owner hears nothing more.
    public func end() {
        guard !isEnded else { return }
        isEnded = true
        if let timer { connection.loop.cancelTimer(timer) }
        timer = nil
        delegate = nil
    }

    /// Resets the stream (CANCEL) and ends the call.
    public func cancel() {
        stream?.reset(.cancel)
        end()
    }

    // MARK: HTTP2StreamDelegate

    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        delegate?.call(self, receivedHeaders: headers, kind: kind)
    }

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
        delegate?.call(self, receivedData: data)
    }

    public func streamEnded(_ stream: HTTP2Stream) {
        delegate?.callEnded(self, streamClosed: false)
    }

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        guard let delegate else { return }
        switch reason {
        case .finished: delegate.callEnded(self, streamClosed: true)
        case .connectFailed: delegate.call(self, failed: .connectFailed(connection.lastError))
        case .connectionLost: delegate.call(self, failed: .connectionLost(connection.lastError, channel: connection.channel))
        case .reset(let code): delegate.call(self, failed: .reset(code))
        }
    }
}

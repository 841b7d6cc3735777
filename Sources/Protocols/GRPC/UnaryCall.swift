import HTTP2
import Transport

/// A call with one request message answered in this process: collects the message, runs the
/// handler, which answers it unary (`respond` or `fail`) or server streaming (`send` for each
/// message, then `end`). Lives on its worker's loop; every answering method must be called
/// there (from another thread, go through `loop.execute`).
public final class UnaryCall: HTTP2StreamDelegate {
    /// A handler gets the call and the request message.
    public typealias Handler = (UnaryCall, [UInt8]) -> Void

    public let head: GRPCRequestHead
    public let loop: EventLoop
    private let stream: HTTP2Stream
    private let handler: Handler
    private var reader: GRPCMessageReader
    private var message: [UInt8]?
    private var finished = false
    /// Response headers went out (a streamed response has begun).
    private var headersSent = false
    /// Response bytes queued on the stream and not yet sent (a slow reader's backlog).
    public private(set) var queuedBytes = 0
    private var deadlineTimer: UInt64?
    /// Called once if the client cancels (or the deadline passes) before the response.
    public var onCancel: (() -> Void)?
    /// Response metadata sent with the response headers.
    public var responseMetadata: [HeaderField] = []

    /// True once the call ended (answered, failed or cancelled).
    public var isFinished: Bool { finished }

    public init(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
                handler: @escaping Handler) {
        self.stream = stream
        self.head = head
        self.loop = loop
        self.handler = handler
        // Calls answered here never decompress: a compressed message is refused, as
        // UNIMPLEMENTED naming the encoding when the client declared one.
        self.reader = GRPCMessageReader(maxMessageBytes: maxMessageBytes, compressionAllowed: false, encoding: head.encoding)
        if let deadline = head.deadline {
            let now = monotonicNanos()
            // Held until it fires or `finish` cancels it.
            deadlineTimer = loop.schedule(afterNanos: deadline > now ? deadline - now : 0) {
                self.deadlineTimer = nil
                self.cancel(GRPCStatus(.deadlineExceeded, "deadline exceeded"))
            }
        }
    }

    /// Sends `response` with status OK.
    public func respond(_ response: [UInt8]) {
        guard !finished else { return }
        finish()
        stream.sendHeaders(GRPCResponses.responseHeaders(extra: responseMetadata), endStream: false)
        stream.write(GRPCFraming.frame(response))
        GRPCResponses.finish(stream, .ok)
    }

    /// Ends the call with an error status (trailers-only, or trailers after streamed messages).
    public func fail(_ status: GRPCStatus) {
        guard !finished else { return }
        finish()
        if headersSent {
            GRPCResponses.finish(stream, status)
        } else {
            GRPCResponses.sendTrailersOnly(stream, status)
        }
    }

    /// Server streaming: sends one response message (after the response headers, the first time).
    public func send(_ message: [UInt8]) {
        guard !finished else { return }
        if !headersSent {
            headersSent = true
            stream.sendHeaders(GRPCResponses.responseHeaders(extra: responseMetadata), endStream: false)
        }
        let framed = GRPCFraming.frame(message)
        queuedBytes += framed.count
        stream.write(framed)
    }

    /// Server streaming: ends the response after the messages sent, with `status`.
    public func end(_ status: GRPCStatus = .ok) {
        guard !finished else { return }
        guard headersSent else {
            // No message: a trailers-only response carries the status.
            fail(status)
            return
        }
        finish()
        GRPCResponses.finish(stream, status)
    }

    private func finish() {
        finished = true
        if let timer = deadlineTimer { loop.cancelTimer(timer) }
        deadlineTimer = nil
    }

    private func cancel(_ status: GRPCStatus?) {
        guard !finished else { return }
        if let status { fail(status) } else { finish() }
        let callback = onCancel
        onCancel = nil
        callback?()
    }

    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {}

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        defer { stream.consume(data.count) }
        guard !finished else { return }
        do { try reader.append(data) } catch {
            fail(error.status)
            return
        }
        for body in reader.takeMessages() {
            if message != nil {
                fail(GRPCStatus(.invalidArgument, "a unary call takes exactly one request message"))
                return
            }
            message = body
        }
    }

    public func streamEnded(_ stream: HTTP2Stream) {
        guard !finished else { return }
        guard reader.isEmpty, let message else {
            fail(GRPCStatus(.invalidArgument, reader.isEmpty ? "the request has no message" : "the stream ended inside a gRPC message"))
            return
        }
        handler(self, message)
    }

    public func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        queuedBytes -= bytes
    }

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        if !finished { cancel(nil) }
    }
}

/// A dispatcher that serves a fixed table of unary methods (path -> handler).
public final class UnaryDispatcher: GRPCCallDispatcher {
    public let loop: EventLoop
    public let maxMessageBytes: Int
    private let handlers: [String: UnaryCall.Handler]

    public init(loop: EventLoop, maxMessageBytes: Int, handlers: [String: UnaryCall.Handler]) {
        self.loop = loop
        self.maxMessageBytes = maxMessageBytes
        self.handlers = handlers
    }

    public func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        guard let handler = handlers[head.path] else { return nil }
        return UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes, handler: handler)
    }
}

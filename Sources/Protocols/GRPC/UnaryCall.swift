import HTTP2
import Transport

/// A call with one request message answered in this process: collects the message, runs the
/// handler, which answers it unary (`respond` or `fail`) or server streaming (`send` for each
/// message, then `end`). Lives on its worker's loop; every answering method must be called
/// there (from another thread, go through `loop.execute`).
public final class UnaryCall: GRPCServerCall {
    /// A handler gets the call and the request message.
    public typealias Handler = (UnaryCall, [UInt8]) -> Void

    private let handler: Handler
    private var message: [UInt8]?

    public init(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
                handler: @escaping Handler) {
        self.handler = handler
        super.init(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes)
    }

    /// Sends `response` with status OK.
    public func respond(_ response: [UInt8]) {
        guard !isFinished else { return }
        send(response)
        end(.ok)
    }

    /// Ends the call with an error status (trailers-only, or trailers after streamed messages).
    public func fail(_ status: GRPCStatus) {
        end(status)
    }

    public override func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        guard read(data) else { return }
        stream.consume(data.count)
        for body in reader.takeMessages() {
            if message != nil {
                fail(GRPCStatus(.invalidArgument, "a unary call takes exactly one request message"))
                return
            }
            message = body
        }
    }

    public override func streamEnded(_ stream: HTTP2Stream) {
        guard !isFinished else { return }
        guard reader.isEmpty, let message else {
            fail(GRPCStatus(.invalidArgument, reader.isEmpty ? "the request has no message" : "the stream ended inside a gRPC message"))
            return
        }
        handler(self, message)
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

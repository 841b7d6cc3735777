import HTTP2
import Transport

/// A bidirectional-streaming call answered in this process: each request message goes to
/// `onMessage` as it arrives, which may `send` any number of responses; when the client
/// half-closes, `onEnd` runs (by default the call ends OK). Lives on its worker's loop, like
/// `UnaryCall`; every method must be called there.
public final class BidiCall: HTTP2StreamDelegate {
    /// Handles one request message of `call`.
    public typealias MessageHandler = (BidiCall, [UInt8]) -> Void

    public let head: GRPCRequestHead
    public let loop: EventLoop
    private let stream: HTTP2Stream
    private let onMessage: MessageHandler
    /// Runs once the client has sent its last message; nil ends the call OK.
    public var onEnd: ((BidiCall) -> Void)?
    private var reader: GRPCMessageReader
    private var finished = false
    private var headersSent = false
    private var deadlineTimer: UInt64?

    /// True once the call ended (answered, failed or cancelled).
    public var isFinished: Bool { finished }

    public init(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
                onMessage: @escaping MessageHandler) {
        self.stream = stream
        self.head = head
        self.loop = loop
        self.onMessage = onMessage
        self.reader = GRPCMessageReader(maxMessageBytes: maxMessageBytes, compressionAllowed: false, encoding: head.encoding)
        if let deadline = head.deadline {
            let now = monotonicNanos()
            deadlineTimer = loop.schedule(afterNanos: deadline > now ? deadline - now : 0) { [weak self] in
                self?.deadlineTimer = nil
                self?.end(GRPCStatus(.deadlineExceeded, "deadline exceeded"))
            }
        }
    }

    /// Sends one response message (after the response headers, the first time).
    public func send(_ message: [UInt8]) {
        guard !finished else { return }
        if !headersSent {
            headersSent = true
            stream.sendHeaders(GRPCResponses.responseHeaders(), endStream: false)
        }
        stream.write(GRPCFraming.frame(message))
    }

    /// Ends the call with `status` (trailers-only when no message was sent).
    public func end(_ status: GRPCStatus = .ok) {
        guard !finished else { return }
        finished = true
        if let timer = deadlineTimer { loop.cancelTimer(timer) }
        deadlineTimer = nil
        if headersSent {
            GRPCResponses.finish(stream, status)
        } else {
            GRPCResponses.sendTrailersOnly(stream, status)
        }
    }

    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {}

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        defer { stream.consume(data.count) }
        guard !finished else { return }
        do { try reader.append(data) } catch {
            end(error.status)
            return
        }
        for message in reader.takeMessages() {
            guard !finished else { return }
            onMessage(self, message)
        }
    }

    public func streamEnded(_ stream: HTTP2Stream) {
        guard !finished else { return }
        guard reader.isEmpty else {
            end(GRPCStatus(.invalidArgument, "the stream ended inside a gRPC message"))
            return
        }
        if let onEnd { onEnd(self) } else { end(.ok) }
    }

    public func streamDrained(_ stream: HTTP2Stream, bytes: Int) {}

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        guard !finished else { return }
        finished = true
        if let timer = deadlineTimer { loop.cancelTimer(timer) }
        deadlineTimer = nil
    }
}

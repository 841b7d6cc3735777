import HTTP2
import Transport

/// What every call answered in this process shares, whatever its shape (`UnaryCall`,
/// `BidiCall`): the client's stream, the request message reader, the deadline, the response
/// (headers once, then messages, then trailers, or a trailers-only status), the backlog of
/// response bytes not yet sent, and cancellation. Loop-confined: every method must be called
/// on `loop` (from another thread, go through `loop.execute`).
public class GRPCServerCall: HTTP2StreamDelegate {
    public let head: GRPCRequestHead
    public let loop: EventLoop
    let stream: HTTP2Stream
    /// Collects request messages. Calls answered here never decompress: a compressed message
    /// is refused, as UNIMPLEMENTED naming the encoding when the client declared one.
    var reader: GRPCMessageReader
    private var finished = false
    /// Response headers went out (a streamed response has begun).
    private var headersSent = false
    private var deadlineTimer: UInt64?
    /// Response bytes queued on the stream and not yet sent (a slow reader's backlog).
    public private(set) var queuedBytes = 0
    /// Called once if the client cancels (or the deadline passes) before the call ended.
    public var onCancel: (() -> Void)?
    /// Response metadata sent with the response headers.
    public var responseMetadata: [HeaderField] = []

    /// True once the call ended (answered, failed or cancelled).
    public var isFinished: Bool { finished }

    init(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int) {
        self.stream = stream
        self.head = head
        self.loop = loop
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

    /// Sends one response message (after the response headers, the first time).
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

    /// Ends the call with `status`: trailers after the messages sent, or a trailers-only
    /// response when none was.
    public func end(_ status: GRPCStatus = .ok) {
        guard !finished else { return }
        finish()
        if headersSent {
            GRPCResponses.finish(stream, status)
        } else {
            GRPCResponses.sendTrailersOnly(stream, status)
        }
    }

    private func finish() {
        finished = true
        if let timer = deadlineTimer { loop.cancelTimer(timer) }
        deadlineTimer = nil
    }

    /// The call ends before it was answered: with `status` to the client (the deadline), or
    /// without (the client went away). `onCancel` runs once.
    private func cancel(_ status: GRPCStatus?) {
        guard !finished else { return }
        if let status { end(status) } else { finish() }
        let callback = onCancel
        onCancel = nil
        callback?()
    }

    /// Appends request bytes to the reader; false (the call ended with the reader's status, and
    /// the bytes returned to the client's window) when they break the framing or a limit, or
    /// the call had ended already.
    func read(_ data: UnsafeRawBufferPointer) -> Bool {
        guard !finished else {
            stream.consume(data.count)
            return false
        }
        do { try reader.append(data) } catch {
            stream.consume(data.count)
            end(error.status)
            return false
        }
        return true
    }

    /// The response backlog shrank (`queuedBytes` is up to date); for subclasses.
    func responseDrained() {}

    // MARK: HTTP2StreamDelegate (the subclasses read the request)

    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {}

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
    }

    public func streamEnded(_ stream: HTTP2Stream) {}

    public func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        queuedBytes -= bytes
        responseDrained()
    }

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        cancel(nil)
    }
}

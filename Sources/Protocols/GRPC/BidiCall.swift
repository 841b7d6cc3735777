import HTTP2
import Transport

/// A bidirectional-streaming call answered in this process: each request message goes to
/// `onMessage` as it arrives, which may `send` any number of responses; when the client
/// half-closes, `onEnd` runs (by default the call ends OK). Lives on its worker's loop, like
/// `UnaryCall`; every method must be called there.
///
/// Backpressure: while the client leaves more than `pauseBytes` of responses unread, no
/// further request is handled and the request bytes received are not returned to the
/// client's flow-control window, so it can send at most one window more; handling resumes
/// once the backlog drained to `resumeBytes`. A client that sends thousands of requests and
/// never reads costs about one window of requests and `pauseBytes` of responses (issue 18:
/// before, each request's response was queued, without bound).
public final class BidiCall: GRPCServerCall {
    /// Handles one request message of `call`.
    public typealias MessageHandler = (BidiCall, [UInt8]) -> Void

    /// Unsent response bytes at which request handling pauses.
    public static let pauseBytes = 256 << 10
    /// Unsent response bytes at or below which a paused call handles requests again.
    public static let resumeBytes = 64 << 10

    private let onMessage: MessageHandler
    /// Runs once the client has sent its last message (and each was handled); nil ends the call OK.
    public var onEnd: ((BidiCall) -> Void)?
    /// Whole request messages not handled yet (from `pendingStart` on), waiting while paused.
    private var pending: [[UInt8]] = []
    private var pendingStart = 0
    /// Request bytes received and not yet returned to the client's window.
    private var unconsumed = 0
    /// The response backlog reached `pauseBytes` and has not drained to `resumeBytes` since.
    public private(set) var isPaused = false
    /// The client half-closed; `onEnd` runs once every pending request was handled.
    private var requestEnded = false

    public init(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
                onMessage: @escaping MessageHandler) {
        self.onMessage = onMessage
        super.init(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes)
    }

    public override func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        guard read(data) else { return }
        unconsumed += data.count
        pending.append(contentsOf: reader.takeMessages())
        handlePending()
    }

    public override func streamEnded(_ stream: HTTP2Stream) {
        guard !isFinished else { return }
        requestEnded = true
        handlePending()
    }

    override func responseDrained() {
        guard isPaused, queuedBytes <= Self.resumeBytes else { return }
        isPaused = false
        handlePending()
    }

    /// Handles pending requests until the backlog pauses the call; returns the bytes read to
    /// the client's window unless paused; ends the request once all were handled.
    private func handlePending() {
        while !isFinished && !isPaused && pendingStart < pending.count {
            let message = pending[pendingStart]
            pending[pendingStart] = []
            pendingStart += 1
            onMessage(self, message)
            if queuedBytes >= Self.pauseBytes { isPaused = true }
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
        if isFinished || !isPaused {
            stream.consume(unconsumed)
            unconsumed = 0
        }
        guard !isFinished, requestEnded, pending.isEmpty else { return }
        requestEnded = false
        guard reader.isEmpty else {
            end(GRPCStatus(.invalidArgument, "the stream ended inside a gRPC message"))
            return
        }
        if let onEnd { onEnd(self) } else { end(.ok) }
    }
}

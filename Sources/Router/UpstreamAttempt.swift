import CNGHTTP2
import GRPC
import HTTP2

/// One attempt of a proxied call at a model endpoint: the upstream stream's delegate, with
/// what belongs to that stream (its endpoint, the request bytes kept for a retry, the bytes
/// drained, the response's message boundaries). It reports the stream's events to its call;
/// a retry is a new attempt, which takes over the kept request bytes.
final class UpstreamAttempt: HTTP2StreamDelegate {
    static let maxReplayBytes = 64 * 1024

    /// The call this attempt serves. Held strongly: a finished call still hears its attempt's
    /// close; the call lets go of the attempt then, which ends the cycle.
    let call: ProxyCall
    /// The pool's state of the endpoint.
    let target: EndpointState
    /// The stream, set once the pool opened it (nil only while opening).
    private(set) var stream: HTTP2Stream!
    /// A copy of every request body byte sent to the model, kept while a retry is still
    /// allowed (nil once too large to keep, or once the endpoint answered).
    var replay: ReplayChunks?
    /// Request body bytes of this attempt that left for the endpoint.
    private(set) var drained = 0
    /// Message boundaries of the response body forwarded to the client, so a lost endpoint
    /// can still end the response cleanly between messages.
    private(set) var response = GRPCMessageBoundaries()

    init(call: ProxyCall, target: EndpointState, replay: ReplayChunks?) {
        self.call = call
        self.target = target
        self.replay = replay
    }

    /// Opens the stream through `pool` (which counts it in flight until it closes) and sends
    /// the request bytes kept from earlier attempts.
    func open(in pool: UpstreamPool, headers: (inout HeaderListWriter) -> Void) throws(PoolError) {
        let opened = try pool.openStream(to: target, delegate: self, headers: headers)
        stream = opened
        replay?.forEach { opened.write($0) }
    }

    /// Sends client body bytes to the model, keeping them while a retry is possible: one
    /// copy, queued on the stream and kept for a retry.
    func send(_ data: UnsafeRawBufferPointer) {
        let chunk = Array(data)
        if let kept = replay?.bytes {
            if kept + chunk.count <= Self.maxReplayBytes {
                replay!.append(chunk)
            } else {
                replay = nil
            }
        }
        stream.write(chunk)
    }

    /// Resets the stream with CANCEL unless it closed already.
    func cancel() {
        if !stream.isClosed { stream.reset(UInt32(NGHTTP2_CANCEL.rawValue)) }
    }

    /// Counts response body bytes forwarded to the client.
    func forwarded(_ data: UnsafeRawBufferPointer) {
        response.advance(over: data) { _, _ in }
    }

    // MARK: HTTP2StreamDelegate

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        call.attemptHeaders(self, headers, kind: kind)
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        call.attemptData(self, data)
    }

    func streamEnded(_ stream: HTTP2Stream) {
        call.attemptEnded(self)
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        drained += bytes
        call.attemptDrained(self)
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        call.attemptClosed(self, reason: reason)
    }
}

/// The body chunks sent to the model, kept for a retry. The chunks share storage with what was
/// queued upstream (no second copy), and the first is stored inline: a unary call's body is
/// usually one chunk, and keeping it then allocates nothing.
struct ReplayChunks {
    private var first: [UInt8]?
    private var rest: [[UInt8]] = []
    /// Bytes kept.
    private(set) var bytes = 0

    mutating func append(_ chunk: [UInt8]) {
        if first == nil { first = chunk } else { rest.append(chunk) }
        bytes += chunk.count
    }

    /// Calls `body` with every chunk, in order.
    func forEach(_ body: ([UInt8]) -> Void) {
        guard let first else { return }
        body(first)
        for chunk in rest { body(chunk) }
    }
}

import GRPC
import HTTP2

/// One attempt of a proxied call at a model endpoint: the upstream stream's delegate, with
/// what belongs to that stream (its endpoint, the request bytes kept for a retry, the bytes
/// drained, the response's message boundaries). It reports the stream's events to its call;
/// a retry is a new attempt, which takes over the kept request bytes.
///
/// Attempts are reused (`SpareAttempts`): once its stream closed, or its call cancelled it,
/// nothing refers to an attempt but its call, which hands it back.
final class UpstreamAttempt: HTTP2StreamDelegate {
    static let maxReplayBytes = 64 * 1024

    /// The call this attempt serves, unretained: while the attempt is its stream's delegate
    /// the call has not finished (a finishing call cancels its open attempt, which detaches
    /// it from the stream), and the client's stream holds an unfinished call. (Events reach
    /// the call without retaining it, as nghttp2's callbacks reach a connection.)
    private var call: Unmanaged<ProxyCall>
    /// The pool's state of the endpoint.
    private(set) var target: EndpointState
    /// The stream, set once the pool opened it (nil while opening and once handed back).
    private(set) var stream: HTTP2Stream!
    /// A copy of every request body byte sent to the model (this attempt's and, for a retry,
    /// the earlier attempts'), kept while a retry is still allowed (nil once too large to keep,
    /// or once the endpoint answered).
    var replay: ReplayChunks?
    /// Request body bytes of this attempt that left for the endpoint.
    private(set) var drained = 0
    /// Message boundaries of the response body forwarded to the client, so a lost endpoint
    /// can still end the response cleanly between messages.
    private(set) var response = GRPCMessageBoundaries()

    init(call: ProxyCall, target: EndpointState) {
        self.call = Unmanaged.passUnretained(call)
        self.target = target
        replay = ReplayChunks()
    }

    /// Makes a spare attempt a new one.
    fileprivate func reuse(call: ProxyCall, target: EndpointState) {
        self.call = Unmanaged.passUnretained(call)
        self.target = target
        replay = ReplayChunks()
        drained = 0
        response = GRPCMessageBoundaries()
    }

    /// Lets go of the stream and the kept bytes (the attempt becomes a spare).
    fileprivate func release() {
        stream = nil
        replay = nil
    }

    /// Opens the stream to `target` through `pool`, which counts it in flight until it closes,
    /// and sends the request bytes kept from earlier attempts. `target` is this attempt's own
    /// (the caller's reference, which saves counting one more).
    @inline(__always)
    func open(at target: EndpointState, in pool: UpstreamPool,
              headers: (inout HeaderListWriter) -> Void) throws(PoolError) {
        assert(target === self.target, "an attempt opens at its own endpoint")
        let opened = try pool.openStream(to: target, delegate: self, headers: headers)
        if (replay?.bytes ?? 0) > 0 { replay!.forEach { opened.write($0) } }
        stream = opened
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

    /// Resets the stream with CANCEL unless it closed already, and stops hearing from it (the
    /// call has finished; the pool still counts the stream until it closes).
    func cancel() {
        stream.delegate = nil
        if !stream.isClosed { stream.reset(.cancel) }
    }

    /// Counts response body bytes forwarded to the client.
    @inline(__always)
    func forwarded(_ data: UnsafeRawBufferPointer) {
        response.advance(over: data) { _, _ in }
    }

    // MARK: HTTP2StreamDelegate

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        call._withUnsafeGuaranteedRef { $0.attemptHeaders(self, headers, kind: kind) }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        call._withUnsafeGuaranteedRef { $0.attemptData(self, data) }
    }

    func streamEnded(_ stream: HTTP2Stream) {
        call._withUnsafeGuaranteedRef { $0.attemptEnded(self) }
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        drained += bytes
        call._withUnsafeGuaranteedRef { $0.attemptDrained(self) }
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        call._withUnsafeGuaranteedRef { $0.attemptClosed(self, reason: reason) }
    }
}

/// Attempts whose stream is done, kept for reuse by one worker's calls: in the steady state a
/// call's attempt costs no allocation. A fixed array of references moved in and out (no
/// reference counting or uniqueness checks on the per-call path); one owner, its worker.
struct SpareAttempts: ~Copyable {
    /// Spares kept at most (about the most calls a worker proxies at once).
    static let limit = 1024
    /// Slots `0..<count` are initialized.
    private let slots = UnsafeMutablePointer<UpstreamAttempt>.allocate(capacity: SpareAttempts.limit)
    private(set) var count = 0

    /// An attempt for `call` at `target`: a spare when there is one.
    mutating func make(call: ProxyCall, target: EndpointState) -> UpstreamAttempt {
        guard count > 0 else { return UpstreamAttempt(call: call, target: target) }
        count -= 1
        let spare = (slots + count).move()
        spare.reuse(call: call, target: target)
        return spare
    }

    /// Takes back an attempt nothing else refers to (its stream closed, or it was cancelled).
    mutating func recycle(_ attempt: consuming UpstreamAttempt) {
        attempt.release()
        guard count < Self.limit else { return }
        (slots + count).initialize(to: attempt)
        count += 1
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
}

/// The body chunks sent to the model, kept for a retry. The chunks share storage with what was
/// queued upstream (no second copy), and the first is stored inline: a unary call's body is
/// usually one chunk, and keeping it then allocates nothing.
struct ReplayChunks {
    private var first: [UInt8]?
    /// The chunks after the first (nil until there is a second: copying an empty value
    /// retains nothing).
    private var rest: [[UInt8]]?
    /// Bytes kept.
    private(set) var bytes = 0

    mutating func append(_ chunk: [UInt8]) {
        if first == nil {
            first = chunk
        } else if rest == nil {
            rest = [chunk]
        } else {
            rest!.append(chunk)
        }
        bytes += chunk.count
    }

    /// Calls `body` with every chunk, in order.
    func forEach(_ body: ([UInt8]) -> Void) {
        guard let first else { return }
        body(first)
        for chunk in rest ?? [] { body(chunk) }
    }
}

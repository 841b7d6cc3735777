/// The life of one HTTP/2 stream as this side sees it (RFC 9113 section 5.1, in the spirit of
/// swift-nio-http2's `StreamStateMachine`), plus what a proxy needs: whether our header block
/// went out, and whether we ended our side with END_STREAM or with RST_STREAM.
///
/// "Ended locally" means queued, not yet on the wire: a stream whose END_STREAM waits in
/// nghttp2's queue is already `halfClosedLocal` or `closing`. Events are methods; each returns
/// whether the caller should act (submit the frame, tell the delegate).
public struct HTTP2StreamState: Equatable, Sendable {
    /// How this side ended its half of the stream.
    public enum LocalEnd: Equatable, Sendable {
        /// END_STREAM (on the headers, or after the body and optional trailers).
        case endStream
        /// RST_STREAM.
        case reset
    }

    /// Where the stream is, in RFC 9113 terms (plus `closing`). The order matters: every
    /// phase from `halfClosedLocal` on has this side ended.
    public enum Phase: UInt8, Comparable, Sendable {
        /// A client stream whose request nghttp2 has not taken yet.
        case idle
        /// Both sides may send.
        case open
        /// The peer ended its side (END_STREAM received); we may still send.
        case halfClosedRemote
        /// We ended our side; the peer may still send.
        case halfClosedLocal
        /// Both sides ended; nghttp2 closes the stream once the last frames are out.
        case closing
        /// Closed: no more events.
        case closed

        public static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
    }

    /// The current phase.
    public private(set) var phase: Phase
    /// True once our header block was submitted (request headers for a client stream).
    public private(set) var headersSent = false
    /// How this side ended (meaningful from `halfClosedLocal` on).
    public private(set) var end = LocalEnd.endStream
    /// `stopPeerAfterResponse` asked for RST_STREAM(NO_ERROR) once our END_STREAM is sent.
    public private(set) var stopsPeerAfterEnd = false

    /// A server stream (the peer opened it) starts `open`; a client stream `idle`.
    @inline(__always)
    public init(phase: Phase, headersSent: Bool = false) {
        self.phase = phase
        self.headersSent = headersSent
    }

    // MARK: Derived

    /// True once this side ended (END_STREAM queued) or reset, or the stream closed.
    @inline(__always)
    public var localClosed: Bool { phase >= .halfClosedLocal }

    /// True once the peer ended its side.
    @inline(__always)
    public var remoteEnded: Bool { phase == .halfClosedRemote || phase >= .closing }

    /// True once closed.
    @inline(__always)
    public var isClosed: Bool { phase == .closed }

    /// True while nghttp2 knows the stream and it is not closed (it is in the open-stream list).
    @inline(__always)
    public var isActive: Bool { phase != .idle && phase != .closed }

    /// True while body bytes may be queued (this side has not ended).
    @inline(__always)
    public var acceptsBody: Bool { phase < .halfClosedLocal }

    /// True when our body ends once the queue drains (END_STREAM, not a reset).
    @inline(__always)
    public var endsAfterBody: Bool { (phase == .halfClosedLocal || phase == .closing) && end == .endStream }

    // MARK: Events

    /// nghttp2 took a client stream's request headers.
    public mutating func requestSubmitted() {
        guard phase == .idle else { return }
        phase = .open
        headersSent = true
    }

    /// Our (response) header block is to be submitted; false when it must not be (already
    /// sent, or closed). With `endStream` this side ends with it.
    public mutating func sendHeaders(endStream: Bool) -> Bool {
        guard !headersSent, phase != .idle, phase != .closed else { return false }
        headersSent = true
        if endStream && phase < .halfClosedLocal { endLocally(.endStream) }
        return true
    }

    /// This side ends after the queued body; false when it already ended or closed.
    public mutating func finish() -> Bool {
        guard phase == .open || phase == .halfClosedRemote else { return false }
        endLocally(.endStream)
        return true
    }

    /// We reset the stream; false when it is closed (nothing to submit).
    public mutating func reset() -> Bool {
        guard phase != .idle, phase != .closed else { return false }
        if phase < .halfClosedLocal { endLocally(.reset) } else { end = .reset }
        return true
    }

    /// The peer's END_STREAM arrived.
    public mutating func remoteEnd() {
        if phase == .open { phase = .halfClosedRemote } else if phase == .halfClosedLocal { phase = .closing }
    }

    /// nghttp2 closed the stream (or the connection went); false when it was not active.
    public mutating func close() -> Bool {
        guard isActive else { return false }
        phase = .closed
        return true
    }

    /// Asks the peer to stop sending once our END_STREAM is out, unless it already ended.
    public mutating func stopPeerAfterEnd() {
        guard !isClosed, !remoteEnded else { return }
        stopsPeerAfterEnd = true
    }

    /// Our END_STREAM went out: true when RST_STREAM(NO_ERROR) must follow (asked for, and the
    /// peer still sends).
    public mutating func endStreamSent() -> Bool {
        guard stopsPeerAfterEnd, !isClosed, !remoteEnded else { return false }
        stopsPeerAfterEnd = false
        return true
    }

    /// open -> halfClosedLocal, halfClosedRemote -> closing.
    private mutating func endLocally(_ how: LocalEnd) {
        end = how
        if phase == .open { phase = .halfClosedLocal } else if phase == .halfClosedRemote { phase = .closing }
    }
}

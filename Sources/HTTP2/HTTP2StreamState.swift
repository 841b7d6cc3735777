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

    /// Where the stream is.
    public enum Phase: Equatable, Sendable {
        /// A client stream whose request nghttp2 has not taken yet.
        case idle
        /// Both sides may send.
        case open(headersSent: Bool)
        /// The peer ended its side (END_STREAM received); we may still send.
        case halfClosedRemote(headersSent: Bool)
        /// We ended our side; the peer may still send.
        case halfClosedLocal(headersSent: Bool, end: LocalEnd)
        /// Both sides ended; nghttp2 closes the stream once the last frames are out.
        case closing(headersSent: Bool, end: LocalEnd)
        /// Closed: no more events.
        case closed(headersSent: Bool)
    }

    /// The current phase.
    public private(set) var phase: Phase
    /// `stopPeerAfterResponse` asked for RST_STREAM(NO_ERROR) once our END_STREAM is sent.
    public private(set) var stopsPeerAfterEnd = false

    /// A server stream (the peer opened it) starts `open`; a client stream `idle`.
    public init(phase: Phase) {
        self.phase = phase
    }

    // MARK: Derived

    /// True once our header block was submitted.
    public var headersSent: Bool {
        switch phase {
        case .idle: return false
        case .open(let sent), .halfClosedRemote(let sent), .closed(let sent): return sent
        case .halfClosedLocal(let sent, _), .closing(let sent, _): return sent
        }
    }

    /// True once this side ended (END_STREAM queued) or reset, or the stream closed.
    public var localClosed: Bool {
        switch phase {
        case .idle, .open, .halfClosedRemote: return false
        case .halfClosedLocal, .closing, .closed: return true
        }
    }

    /// True once the peer ended its side.
    public var remoteEnded: Bool {
        switch phase {
        case .idle, .open, .halfClosedLocal: return false
        case .halfClosedRemote, .closing: return true
        case .closed: return true
        }
    }

    /// True once closed.
    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// True while nghttp2 knows the stream and it is not closed (it is in the open-stream list).
    public var isActive: Bool {
        switch phase {
        case .idle, .closed: return false
        default: return true
        }
    }

    /// True when our body ends once the queue drains (END_STREAM, not a reset).
    public var endsAfterBody: Bool {
        switch phase {
        case .halfClosedLocal(_, .endStream), .closing(_, .endStream): return true
        default: return false
        }
    }

    // MARK: Events

    /// nghttp2 took a client stream's request headers.
    public mutating func requestSubmitted() {
        if case .idle = phase { phase = .open(headersSent: true) }
    }

    /// Our (response) header block is to be submitted; false when it must not be (already
    /// sent, or closed). With `endStream` this side ends with it.
    public mutating func sendHeaders(endStream: Bool) -> Bool {
        switch phase {
        case .open(false): phase = endStream ? .halfClosedLocal(headersSent: true, end: .endStream) : .open(headersSent: true)
        case .halfClosedRemote(false): phase = endStream ? .closing(headersSent: true, end: .endStream) : .halfClosedRemote(headersSent: true)
        case .halfClosedLocal(false, let end): phase = .halfClosedLocal(headersSent: true, end: end)
        case .closing(false, let end): phase = .closing(headersSent: true, end: end)
        default: return false
        }
        return true
    }

    /// True while body bytes may be queued (this side has not ended).
    public var acceptsBody: Bool {
        switch phase {
        case .idle, .open, .halfClosedRemote: return true
        default: return false
        }
    }

    /// This side ends after the queued body; false when it already ended or closed.
    public mutating func finish() -> Bool {
        switch phase {
        case .idle: return false
        case .open(let sent): phase = .halfClosedLocal(headersSent: sent, end: .endStream)
        case .halfClosedRemote(let sent): phase = .closing(headersSent: sent, end: .endStream)
        default: return false
        }
        return true
    }

    /// We reset the stream; false when it is closed (nothing to submit).
    public mutating func reset() -> Bool {
        switch phase {
        case .idle, .closed: return false
        case .open(let sent), .halfClosedLocal(let sent, _): phase = .halfClosedLocal(headersSent: sent, end: .reset)
        case .halfClosedRemote(let sent), .closing(let sent, _): phase = .closing(headersSent: sent, end: .reset)
        }
        return true
    }

    /// The peer's END_STREAM arrived.
    public mutating func remoteEnd() {
        switch phase {
        case .open(let sent): phase = .halfClosedRemote(headersSent: sent)
        case .halfClosedLocal(let sent, let end): phase = .closing(headersSent: sent, end: end)
        default: break
        }
    }

    /// nghttp2 closed the stream (or the connection went); false when it was not active.
    public mutating func close() -> Bool {
        guard isActive else { return false }
        phase = .closed(headersSent: headersSent)
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
}

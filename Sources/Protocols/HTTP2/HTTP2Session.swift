import CNGHTTP2

/// What drives a session and hears from it: `HTTP2Connection` (over a socket) or a test
/// (in memory) subclasses it. A class rather than a protocol: the session calls it through an
/// unretained reference with no existential, on the data path. All calls happen inside the
/// session's own calls; the defaults do nothing (`didOpen` refuses the stream).
open class HTTP2SessionDriver {
    public init() {}

    /// Frames were queued (a submit, a consume) after `nextOutput` last returned nil: call
    /// `nextOutput` soon. Not repeated until `nextOutput` returned nil again.
    open func sessionHasOutput(_ session: HTTP2Session) {}
    /// Server side: a client opened a stream; set its delegate.
    open func session(_ session: HTTP2Session, didOpen stream: HTTP2Stream) { stream.reset(.refusedStream) }
    /// The peer's first SETTINGS frame arrived: it speaks HTTP/2.
    open func sessionDidReceivePeerSettings(_ session: HTTP2Session) {}
    /// The peer sent GOAWAY; streams above `lastStreamID` close as REFUSED_STREAM.
    open func session(_ session: HTTP2Session, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {}
    /// A stream closed or the peer's SETTINGS changed: capacity may have changed.
    open func sessionCapacityChanged(_ session: HTTP2Session) {}
}

/// Why the session cannot go on: nghttp2 rejected input or failed to produce output.
public struct HTTP2SessionError: Error, CustomStringConvertible, Sendable {
    /// nghttp2's error code (`NGHTTP2_ERR_*`, negative).
    public var code: Int32
    /// nghttp2's text for it.
    public var message: String

    init(_ code: Int) {
        self.code = Int32(truncatingIfNeeded: code)
        self.message = String(cString: nghttp2_strerror(self.code))
    }

    public var description: String { message }
}

/// An nghttp2 session (server or client side) fed byte buffers: `receive` hands it what the
/// peer sent (`mem_recv`), `nextOutput` takes the frames it produced (`mem_send`). It knows
/// nothing of sockets: `HTTP2Connection` drives it over a channel, tests wire two together.
///
/// The nghttp2 callbacks (HTTP2Callbacks.swift) are free functions that recover the session
/// from `user_data` without retaining it, and the stream from its stream user data.
public final class HTTP2Session {
    /// Server or client.
    public enum Role: Sendable { case server, client }

    public let role: Role
    public let settings: HTTP2Settings
    /// The driver, unretained: it owns the session and outlives every call into it.
    private var driverReference: Unmanaged<HTTP2SessionDriver>?
    /// The driver (not retained: it owns the session).
    public var driver: HTTP2SessionDriver? {
        get { driverReference?.takeUnretainedValue() }
        set { driverReference = newValue.map { Unmanaged.passUnretained($0) } }
    }
    /// The driver was told of output that `nextOutput` has not yet run dry on.
    private var outputAnnounced = false
    /// The time the driver last gave (monotonic nanoseconds), for `lastActive`.
    public var now: UInt64 = 0
    /// Monotonic time of the last stream activity, for idle timeouts.
    public private(set) var lastActive: UInt64 = 0

    private var session: OpaquePointer!
    /// Where header blocks are built before nghttp2 copies them (a loop's scratch buffer).
    private let headerScratch: UnsafeMutableRawBufferPointer
    /// Streams whose bytes left since the last `notifyDrained` (a stream may appear twice).
    private var drained: [HTTP2Stream] = []
    /// The streams `notifyDrained` is telling about (empty between calls; its storage is reused).
    private var notifying: [HTTP2Stream] = []
    /// A SETTINGS frame came from the peer (its connection preface).
    public private(set) var receivedPeerSettings = false
    /// Server side: the client's preface, checked as it arrives until its first frame header
    /// is in (nil from then on).
    private var prefaceCheck: ClientPrefaceCheck?
    /// The session was terminated for input it refused: later input is not looked at.
    private var refusingInput = false
    /// Server side: what the client may still send of frames that move nothing (nil: no limit).
    private var controlFrames: ControlFrameBudget?
    /// Client side: the resets the server is estimated to allow still (nil: no limit).
    private var peerResets: PeerResetBudget?
    /// Client side: `peerResets` ran out; the session takes no new streams (`hasCapacity`),
    /// so its owner opens another connection, and this one ends once its streams did.
    public private(set) var peerResetBudgetSpent = false
    /// Why the session refused the peer's input, when the session itself decided (nghttp2's
    /// own errors say why in their code).
    private var refusal: String?
    /// Open streams, as a list through the streams themselves (the session holds the first,
    /// each stream the next): opening and closing a stream costs no hashing.
    private var firstStream: HTTP2Stream?
    private var openStreamCount = 0
    /// The stream whose header block nghttp2 is delivering: its fields arrive right after
    /// `beginHeaders`, one callback each, so the stream is remembered instead of looked up in
    /// nghttp2's stream map per field. Unretained: the open-stream list holds it, and it is
    /// cleared when the block completes or the stream closes.
    private var headerBlockStream: (id: Int32, stream: Unmanaged<HTTP2Stream>)?

    /// True once closed; no further calls have effect.
    public private(set) var isClosed = false
    /// True once GOAWAY was received or sent: no new streams.
    public private(set) var isGoingAway = false

    /// Open streams.
    public var activeStreams: Int { openStreamCount }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS.
    public var peerMaxConcurrentStreams: Int {
        guard !isClosed else { return 0 }
        return Int(nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
    }

    /// True when a new client stream can be opened now.
    @inline(__always)
    public var hasCapacity: Bool {
        !isClosed && !isGoingAway && !peerResetBudgetSpent
            && openStreamCount < Int(nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
    }

    /// True when nghttp2 has neither input to wait for nor output to send: the session is done.
    public var isFinished: Bool {
        nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    /// Makes a session and queues our SETTINGS. `headerScratch` must outlive it.
    public init(role: Role, settings: HTTP2Settings, headerScratch: UnsafeMutableRawBufferPointer) throws(HTTP2SessionError) {
        self.role = role
        self.settings = settings
        self.headerScratch = headerScratch
        if role == .server {
            prefaceCheck = ClientPrefaceCheck(maxFrameSize: settings.maxFrameSize)
            if settings.maxControlFramesPerSecond > 0 {
                controlFrames = ControlFrameBudget(perSecond: settings.maxControlFramesPerSecond)
            }
        } else if settings.peerResetBurst > 0 {
            peerResets = PeerResetBudget(burst: settings.peerResetBurst, perSecond: settings.peerResetRate)
        }
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_peer_max_concurrent_streams(option, settings.assumedPeerMaxConcurrentStreams)
        nghttp2_option_set_stream_reset_rate_limit(option, settings.streamResetBurst, settings.streamResetRate)
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)
        // What we send may be what we accepted (a proxied header list): room for that, twice.
        nghttp2_option_set_max_send_header_block_length(option, max(64 << 10, 2 * Int(settings.maxHeaderListSize)))
        // No RFC 7540 priority tree: every call is as important as any other, and keeping closed
        // streams around for the tree only costs memory and map work (SETTINGS below says so).
        nghttp2_option_set_no_closed_streams(option, 1)
        if controlFrames != nil {
            // nghttp2 skips frames of a type it does not know without a callback, so no budget
            // would see a flood of them: every extension type is taken as ours instead, and
            // `extensionFrame` counts each one (and drops it, as RFC 9113 section 4.1 asks).
            for type in UInt8(0x0a)...UInt8(0xff) { nghttp2_option_set_user_recv_extension_type(option, type) }
        }
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        installSessionCallbacks(callbacks!)
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rc: Int32
        switch role {
        case .server: rc = nghttp2_session_server_new2(&session, callbacks, me, option)
        case .client: rc = nghttp2_session_client_new2(&session, callbacks, me, option)
        }
        guard rc == 0 else { throw HTTP2SessionError(Int(rc)) }
        var entries: [nghttp2_settings_entry] = [
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: settings.maxFrameSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        if role == .client {
            entries.append(.init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    // MARK: Bytes in and out

    /// Feeds bytes the peer sent. Throws when nghttp2 rejects them; a GOAWAY saying why is then
    /// queued (send what `nextOutput` still gives, then close). A client preface that cannot
    /// become valid ends the session the same way without throwing: GOAWAY PROTOCOL_ERROR.
    @inline(__always)
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2SessionError) {
        guard bytes.count > 0, !refusingInput else { return }
        lastActive = now
        if prefaceCheck != nil {
            switch prefaceCheck!.scan(bytes) {
            case .undecided: break
            case .passed: prefaceCheck = nil
            case .invalid(let offset):
                prefaceCheck = nil
                // nghttp2 still checks the magic before the refused byte.
                try feed(UnsafeRawBufferPointer(rebasing: bytes[..<offset]))
                terminate(errorCode: .protocolError)
                return
            }
        }
        try feed(bytes)
    }

    @inline(__always)
    private func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTP2SessionError) {
        guard bytes.count > 0 else { return }
        let rc = nghttp2_session_mem_recv(session, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
        if rc < 0 {
            // nghttp2 queues no GOAWAY for its fatal errors (a flood of frames owing an answer,
            // too many CONTINUATION frames, a bad client magic): queue one, so the peer hears
            // why instead of seeing the connection drop.
            let code: HTTP2ErrorCode = rc == Int(NGHTTP2_ERR_FLOODED.rawValue) || rc == Int(NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue)
                ? .enhanceYourCalm : .protocolError
            terminate(errorCode: code)
            var error = HTTP2SessionError(rc)
            if let refusal { error.message = refusal }
            throw error
        }
    }

    /// Ends the session at once with GOAWAY `errorCode` (last stream: the last one processed);
    /// the session finishes once it is sent. Input from here on is ignored.
    public func terminate(errorCode: HTTP2ErrorCode) {
        guard !isClosed else { return }
        refusingInput = true
        isGoingAway = true
        nghttp2_session_terminate_session(session, errorCode.rawValue)
        hasOutput()
    }

    /// The next serialized frames to send, nil when there are none. The bytes are nghttp2's
    /// own and valid only until the next call into the session.
    @inline(__always)
    public func nextOutput() throws(HTTP2SessionError) -> UnsafeRawBufferPointer? {
        var data: UnsafePointer<UInt8>?
        let n = nghttp2_session_mem_send(session, &data)
        if n < 0 { throw HTTP2SessionError(n) }
        if n == 0 {
            outputAnnounced = false
            return nil
        }
        return UnsafeRawBufferPointer(start: data, count: n)
    }

    // MARK: Streams

    /// Opens a client stream whose request headers `writeHeaders` writes straight into the
    /// header scratch buffer (no array of fields on the way). Returns nil when the session
    /// cannot take another stream.
    public func openStream(delegate: HTTP2StreamDelegate, headers writeHeaders: (inout HeaderListWriter) -> Void) -> HTTP2Stream? {
        guard role == .client, !isClosed, !isGoingAway else { return nil }
        let stream = HTTP2Stream(id: -1, session: self, phase: .idle)
        stream.delegate = delegate
        let pointer = Unmanaged.passUnretained(stream).toOpaque()
        var provider = byoc_data_provider(pointer, dataSourceRead)
        var writer = HeaderListWriter(scratch: headerScratch)
        writeHeaders(&writer)
        let id = writer.withNameValues { nva, count in
            nghttp2_submit_request(session, nil, nva, count, &provider, pointer)
        }
        guard id > 0 else { return nil }
        stream.id = id
        stream.state.requestSubmitted()
        link(stream)
        lastActive = now
        hasOutput()
        return stream
    }

    func submitResponse(_ stream: HTTP2Stream, endStream: Bool, headers write: (inout HeaderListWriter) -> Void) {
        guard !isClosed else { return }
        var writer = HeaderListWriter(scratch: headerScratch)
        write(&writer)
        if endStream {
            _ = writer.withNameValues { nva, count in
                nghttp2_submit_response(session, stream.id, nva, count, nil)
            }
        } else {
            var provider = byoc_data_provider(Unmanaged.passUnretained(stream).toOpaque(), dataSourceRead)
            _ = writer.withNameValues { nva, count in
                nghttp2_submit_response(session, stream.id, nva, count, &provider)
            }
        }
        hasOutput()
    }

    func submitTrailers(_ stream: HTTP2Stream, headers: HeaderBlock) {
        var writer = HeaderListWriter(scratch: headerScratch)
        writer.append(contentsOf: headers)
        _ = writer.withNameValues { nva, count in
            nghttp2_submit_trailer(session, stream.id, nva, count)
        }
    }

    func submitReset(_ stream: HTTP2Stream, errorCode: HTTP2ErrorCode) {
        guard !isClosed else { return }
        if peerResets != nil, !peerResetBudgetSpent {
            _ = peerResets!.take(now: now)
            peerResetBudgetSpent = peerResets!.remaining == 0
        }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, errorCode.rawValue)
        hasOutput()
    }

    func resumeData(_ stream: HTTP2Stream) {
        guard !isClosed else { return }
        nghttp2_session_resume_data(session, stream.id)
        hasOutput()
    }

    func consume(_ stream: HTTP2Stream, bytes: Int) {
        guard !isClosed else { return }
        nghttp2_session_consume(session, stream.id, bytes)
        hasOutput()
    }

    func noteDrained(_ stream: HTTP2Stream) {
        if stream.drainedSinceNotify > 0 { drained.append(stream) }
    }

    /// Tells the driver once per run of output (it will call `nextOutput` until nil).
    @inline(__always)
    private func hasOutput() {
        guard !outputAnnounced else { return }
        outputAnnounced = true
        withDriver { $0.sessionHasOutput(self) }
    }

    /// Runs `body` with the driver, without retaining it.
    @inline(__always)
    private func withDriver(_ body: (HTTP2SessionDriver) -> Void) {
        driverReference?._withUnsafeGuaranteedRef(body)
    }

    // MARK: Shutdown

    /// Starts a graceful shutdown: a server sends GOAWAY with the last stream it processed and
    /// `errorCode`; a client terminates its side (GOAWAY too). No new streams from here on.
    public func goAway(errorCode: HTTP2ErrorCode = .noError) {
        guard !isClosed, !isGoingAway else { return }
        isGoingAway = true
        if role == .server {
            nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session), errorCode.rawValue, nil, 0)
        } else {
            nghttp2_session_terminate_session(session, errorCode.rawValue)
        }
        hasOutput()
    }

    /// Stops the session: no further calls have effect. Open streams stay open until
    /// `closeStreams` tells them (the driver tells its owner first).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        headerBlockStream = nil
        drained = []
    }

    /// Closes every open stream with `reason`, lowest id first (after `close`).
    public func closeStreams(reason: StreamCloseReason) {
        var open: [HTTP2Stream] = []
        open.reserveCapacity(openStreamCount)
        while let stream = firstStream { open.append(stream); unlink(stream) }
        open.sort { $0.id < $1.id }
        for stream in open {
            _ = stream.state.close()
            let delegate = stream.delegate
            stream.delegate = nil
            delegate?.streamClosed(stream, reason: reason)
        }
    }

    /// Tells the delegates of streams whose bytes left how many did (after a run of
    /// `nextOutput`). The two lists swap, so neither is reallocated per flush (copying
    /// `drained` and emptying it would allocate anew).
    public func notifyDrained() {
        // Re-entered from a delegate: the outer call's loop picks up what was added.
        guard notifying.isEmpty else { return }
        while !drained.isEmpty {
            swap(&drained, &notifying)
            // Each entry moves out as it is told (no second pass to destroy them); the order
            // does not matter, every stream hears its own count.
            while let stream = notifying.popLast() {
                let n = stream.drainedSinceNotify
                guard n > 0 else { continue }
                stream.drainedSinceNotify = 0
                stream.delegate?.streamDrained(stream, bytes: n)
            }
        }
    }

    // MARK: Callback entry points (called by the C callbacks in HTTP2Callbacks.swift)

    func beginHeaders(streamID: Int32, category: nghttp2_headers_category) -> Int32 {
        if role == .server && category == NGHTTP2_HCAT_REQUEST {
            let stream = HTTP2Stream(id: streamID, session: self, phase: .open)
            link(stream)
            nghttp2_session_set_stream_user_data(session, streamID, Unmanaged.passUnretained(stream).toOpaque())
            lastActive = now
            if isGoingAway {
                stream.reset(.refusedStream)
                return 0
            }
            withDriver { $0.session(self, didOpen: stream) }
        }
        if let stream = stream(streamID) {
            stream.receivingHeaders = HeaderBlock()
            stream.receivingHeaders.reserveCapacity(256)
            stream.receivedHeaderBytes = 0
            stream.receivingRequestHeaders = role == .server && category == NGHTTP2_HCAT_REQUEST
            headerBlockStream = (streamID, Unmanaged.passUnretained(stream))
        } else {
            headerBlockStream = nil
        }
        return 0
    }

    func header(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        let current: Unmanaged<HTTP2Stream>
        if let block = headerBlockStream, block.id == streamID {
            current = block.stream
        } else {
            guard let pointer = nghttp2_session_get_stream_user_data(session, streamID) else { return 0 }
            current = Unmanaged<HTTP2Stream>.fromOpaque(pointer)
        }
        let maxCount = settings.maxHeaderCount
        let maxBytes = Int(settings.maxHeaderListSize)
        // The hottest callback: reach the stream without retaining it (the session holds it).
        return current._withUnsafeGuaranteedRef { stream in
            stream.receivedHeaderBytes += name.count + value.count + 32
            if stream.receivingHeaders.count >= maxCount || stream.receivedHeaderBytes > maxBytes {
                // Over the limit the stream is reset (INTERNAL_ERROR; nghttp2 decodes the rest
                // of the block, as the HPACK state needs, without further callbacks or checks).
                // Request headers a little over it (up to 4 times the size, or the count) are
                // cut instead: the later fields are dropped, and the delegate hears of it when
                // the block ends, to answer with a status naming the limit (nghttp2 marks a
                // stream it resets as closing at once, so nothing could be sent before its
                // reset). Further over, as an HPACK bomb is (16 MB from 4 KB), nghttp2 would
                // check every byte of every dropped field: that costs too much to answer.
                guard stream.receivingRequestHeaders, stream.receivedHeaderBytes <= 4 * maxBytes,
                      stream.droppedHeaderFields < 4 * maxCount else {
                    stream.requestHeadersOverflow = nil
                    return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
                }
                if stream.requestHeadersOverflow == nil {
                    stream.requestHeadersOverflow = stream.receivedHeaderBytes > maxBytes ? .bytes(maxBytes) : .fields(maxCount)
                }
                stream.droppedHeaderFields += 1
                return 0
            }
            stream.receivingHeaders.append(name: name, value: value)
            return 0
        }
    }

    func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let type = Int32(byoc_frame_type(frame))
        let flags = UInt32(byoc_frame_flags(frame))
        let streamID = byoc_frame_stream_id(frame)
        let endStream = flags & UInt32(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        if controlFrames != nil {
            if Self.movesNothing(frame, type: type, endStream: endStream) {
                guard takeControlFrameToken() else { return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            } else if type == Int32(NGHTTP2_HEADERS.rawValue) || type == Int32(NGHTTP2_DATA.rawValue) {
                controlFrames!.credit()
            }
        }
        switch type {
        case Int32(NGHTTP2_HEADERS.rawValue):
            headerBlockStream = nil
            guard let stream = stream(streamID) else { return 0 }
            let kind: HeaderKind
            switch byoc_frame_headers_cat(frame) {
            case NGHTTP2_HCAT_REQUEST: kind = .request
            case NGHTTP2_HCAT_RESPONSE:
                kind = .response
                stream.sawResponseHeaders = true
            default: kind = role == .client && !stream.sawResponseHeaders ? .response : .trailers
            }
            let headers = stream.receivingHeaders
            stream.receivingHeaders = HeaderBlock()
            if let overflow = stream.requestHeadersOverflow {
                stream.requestHeadersOverflow = nil
                stream.delegate?.streamHeadersOverflowed(stream, overflow, received: headers)
            } else {
                stream.delegate?.streamHeaders(stream, headers, kind: kind)
            }
            if endStream, !stream.isClosed {
                stream.state.remoteEnd()
                stream.delegate?.streamEnded(stream)
            }
        case Int32(NGHTTP2_DATA.rawValue):
            if endStream, let stream = stream(streamID) {
                stream.state.remoteEnd()
                stream.delegate?.streamEnded(stream)
            }
        case Int32(NGHTTP2_GOAWAY.rawValue):
            isGoingAway = true
            let lastStreamID = byoc_frame_goaway_last_stream_id(frame)
            let code = HTTP2ErrorCode(byoc_frame_goaway_error(frame))
            withDriver { $0.session(self, didReceiveGoaway: lastStreamID, errorCode: code) }
        case Int32(NGHTTP2_SETTINGS.rawValue):
            if !receivedPeerSettings {
                receivedPeerSettings = true
                withDriver { $0.sessionDidReceivePeerSettings(self) }
            }
            withDriver { $0.sessionCapacityChanged(self) }
        default:
            break
        }
        return 0
    }

    /// Takes a token of the control-frame budget for a frame that moves nothing; false when
    /// none is left: the session is then terminated with GOAWAY ENHANCE_YOUR_CALM, and the
    /// caller returns a fatal error to nghttp2.
    private func takeControlFrameToken() -> Bool {
        guard !controlFrames!.take(now: now) else { return true }
        refusal = "more than \(settings.maxControlFramesPerSecond) frames a second that move no stream (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA, frames of unknown types)"
        terminate(errorCode: .enhanceYourCalm)
        return false
    }

    /// A frame of an extension (unknown) type was read to its end (server side, with the
    /// control-frame budget on: `init` registers every extension type). It moves nothing, so
    /// it takes a token; it is then dropped (NGHTTP2_ERR_CANCEL: no frame callback follows).
    func extensionFrame() -> Int32 {
        guard controlFrames != nil else { return Int32(NGHTTP2_ERR_CANCEL.rawValue) }
        return takeControlFrameToken() ? Int32(NGHTTP2_ERR_CANCEL.rawValue) : Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    }

    /// Whether a received frame moves no stream forward (`ControlFrameBudget`).
    @inline(__always)
    private static func movesNothing(_ frame: UnsafePointer<nghttp2_frame>, type: Int32, endStream: Bool) -> Bool {
        switch type {
        case Int32(NGHTTP2_DATA.rawValue): return !endStream && byoc_frame_data_length(frame) == 0
        case Int32(NGHTTP2_PING.rawValue), Int32(NGHTTP2_SETTINGS.rawValue), Int32(NGHTTP2_PRIORITY.rawValue),
             Int32(NGHTTP2_WINDOW_UPDATE.rawValue): return true
        default: return false
        }
    }

    func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let flags = UInt32(byoc_frame_flags(frame))
        if controlFrames != nil, byoc_frame_type(frame) == UInt8(NGHTTP2_DATA.rawValue) { controlFrames!.credit() }
        guard flags & UInt32(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
              let stream = stream(byoc_frame_stream_id(frame)), stream.state.endStreamSent() else { return 0 }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, HTTP2ErrorCode.noError.rawValue)
        return 0
    }

    /// nghttp2 could not send a frame. For a header block that is too large, nghttp2 closes a
    /// request stream itself (as REFUSED_STREAM) but leaves a response or trailers stream open
    /// with nothing on the wire, and the peer would wait for ever: reset it. Either way the
    /// stream closes as INTERNAL_ERROR (the same headers would fail anywhere: no retry).
    func frameNotSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        guard byoc_frame_type(frame) == UInt8(NGHTTP2_HEADERS.rawValue),
              let stream = stream(byoc_frame_stream_id(frame)) else { return 0 }
        stream.headerBlockNotSent = true
        if byoc_frame_headers_cat(frame) != NGHTTP2_HCAT_REQUEST {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, HTTP2ErrorCode.internalError.rawValue)
        }
        return 0
    }

    func dataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = stream(streamID) else {
            nghttp2_session_consume(session, streamID, data.count)
            return 0
        }
        stream.unconsumed += data.count
        lastActive = now
        if let delegate = stream.delegate {
            delegate.streamData(stream, data)
        } else {
            stream.consume(data.count)
        }
        return 0
    }

    func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
        if headerBlockStream?.id == streamID { headerBlockStream = nil }
        guard let stream = stream(streamID), stream.state.isActive else { return 0 }
        unlink(stream)
        _ = stream.state.close()
        if stream.unconsumed > 0 {
            nghttp2_session_consume(session, streamID, stream.unconsumed)
            stream.unconsumed = 0
        }
        lastActive = now
        let delegate = stream.delegate
        stream.delegate = nil
        let code = stream.headerBlockNotSent ? HTTP2ErrorCode.internalError.rawValue : errorCode
        delegate?.streamClosed(stream, reason: code == 0 ? .finished : .reset(HTTP2ErrorCode(code)))
        withDriver { $0.sessionCapacityChanged(self) }
        return 0
    }

    /// Adds an opened stream to the list of open streams.
    private func link(_ stream: HTTP2Stream) {
        stream.next = firstStream
        firstStream?.previous = stream
        stream.previous = nil
        firstStream = stream
        openStreamCount += 1
    }

    /// Removes a stream from the list (the caller holds it; it is still active).
    private func unlink(_ stream: HTTP2Stream) {
        let next = stream.next
        if let previous = stream.previous { previous.next = next } else { firstStream = next }
        next?.previous = stream.previous
        stream.next = nil
        stream.previous = nil
        openStreamCount -= 1
    }

    private func stream(_ id: Int32) -> HTTP2Stream? {
        guard let pointer = nghttp2_session_get_stream_user_data(session, id) else { return nil }
        return Unmanaged<HTTP2Stream>.fromOpaque(pointer).takeUnretainedValue()
    }
}

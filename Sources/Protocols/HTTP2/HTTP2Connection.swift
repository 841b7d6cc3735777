#if canImport(Glibc)
import Glibc
#endif
import CNGHTTP2
import Transport

/// What the owner of a connection hears about it. All calls happen on the connection's loop.
public protocol HTTP2ConnectionDelegate: AnyObject {
    /// Server side: a client opened a stream; set its delegate.
    func connection(_ connection: HTTP2Connection, didOpen stream: HTTP2Stream)
    /// Client side: the TCP connection is up.
    func connectionDidConnect(_ connection: HTTP2Connection)
    /// The peer's first SETTINGS frame arrived: it speaks HTTP/2.
    func connectionDidReceivePeerSettings(_ connection: HTTP2Connection)
    /// The peer sent GOAWAY; streams above `lastStreamID` close as REFUSED_STREAM.
    func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: UInt32)
    /// A stream closed or the peer's SETTINGS changed: capacity may have changed.
    func connectionCapacityChanged(_ connection: HTTP2Connection)
    /// The connection closed; `error` says why when it was not a clean close.
    func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?)
}

extension HTTP2ConnectionDelegate {
    public func connection(_ connection: HTTP2Connection, didOpen stream: HTTP2Stream) {
        stream.reset(UInt32(NGHTTP2_REFUSED_STREAM.rawValue))
    }
    public func connectionDidConnect(_ connection: HTTP2Connection) {}
    public func connectionDidReceivePeerSettings(_ connection: HTTP2Connection) {}
    public func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: UInt32) {}
    public func connectionCapacityChanged(_ connection: HTTP2Connection) {}
}

/// Why a connection closed abnormally.
public struct HTTP2ConnectionError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure.
    public enum Kind: Sendable { case connectFailed, io, protocolError, peerClosed, timedOut, local }
    public var kind: Kind
    public var message: String
    /// The system call failure behind it, when there is one.
    public var systemError: SystemError?

    public init(_ kind: Kind, _ message: String, systemError: SystemError? = nil) {
        self.kind = kind
        self.message = message
        self.systemError = systemError
    }

    public var description: String { message }
}

/// An HTTP/2 connection (server or client side) driven by nghttp2's `mem_recv`/`mem_send`
/// over a non-blocking socket on one event loop.
///
/// Reads go through the loop's shared read buffer straight into nghttp2; frames nghttp2
/// produces are gathered into the loop's write buffer and sent with one `send` per flush.
/// Only what the socket refuses is copied into this connection's own pending buffer, and no
/// more frames are produced until it drains: output is bounded, idle connections hold no buffer.
public final class HTTP2Connection: EventHandler, Flushable {
    /// Server or client.
    public enum Role { case server, client }

    public let role: Role
    public let loop: EventLoop
    public let settings: HTTP2Settings
    /// The peer's address, for logs.
    public let peer: String
    /// The owner (a server worker, a pool). Held strongly (a weak reference would put every
    /// retain of the owner on the runtime's slow path); released when the connection closes.
    public var delegate: HTTP2ConnectionDelegate?
    /// Free for the owner (e.g. the pool's bookkeeping).
    public var userData: AnyObject?
    /// Flushable: set while waiting in the loop's dirty list.
    public var isMarkedDirty = false

    /// The socket (plain or TLS) this connection reads and writes; replaced once when a client
    /// connection's TCP connect completes and `makeChannel` wraps it (e.g. in TLS).
    public private(set) var channel: ByteChannel
    private let makeChannel: ((Int32) throws -> ByteChannel)?
    var fd: Int32 { channel.fd }
    var session: OpaquePointer!
    private var pendingOut: [UInt8] = []
    private var pendingOutOffset = 0
    private var watched: UInt32 = 0
    private var connecting: Bool
    private var inSession = 0
    private var closeAfterSessionCall: HTTP2ConnectionError??
    /// Streams whose bytes left since the last `notifyDrained` (a stream may appear twice).
    private var drained: [HTTP2Stream] = []
    /// The streams `notifyDrained` is telling about (empty between calls; its storage is reused).
    private var notifying: [HTTP2Stream] = []
    /// A SETTINGS frame came from the peer (its connection preface).
    private var receivedPeerSettings = false
    /// Open streams, as a list through the streams themselves (the connection holds the first,
    /// each stream the next): opening and closing a stream costs no hashing.
    private var firstStream: HTTP2Stream?
    private var openStreamCount = 0

    /// True once closed; no further calls have effect.
    public private(set) var isClosed = false
    /// Client side: the TCP connect has not completed yet.
    public var isConnecting: Bool { connecting }
    /// True once GOAWAY was received or sent: no new streams.
    public private(set) var isGoingAway = false
    /// Why the connection closed, once it has.
    public private(set) var lastError: HTTP2ConnectionError?
    /// Monotonic time of the last stream activity, for idle timeouts.
    public private(set) var lastActive: UInt64

    /// Open streams.
    public var activeStreams: Int { openStreamCount }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS.
    public var peerMaxConcurrentStreams: Int {
        guard let session, !isClosed else { return 0 }
        return Int(nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
    }

    /// True when a new client stream can be opened now.
    public var hasCapacity: Bool {
        !isClosed && !isGoingAway && activeStreams < peerMaxConcurrentStreams
    }

    /// Wraps an accepted socket as a server connection.
    public convenience init(acceptedFD fd: Int32, peer: String, loop: EventLoop, settings: HTTP2Settings,
                            delegate: HTTP2ConnectionDelegate) throws {
        try self.init(accepted: PlainChannel(fd: fd), peer: peer, loop: loop, settings: settings, delegate: delegate)
    }

    /// Wraps an accepted channel (plain or TLS) as a server connection.
    public init(accepted channel: ByteChannel, peer: String, loop: EventLoop, settings: HTTP2Settings,
                delegate: HTTP2ConnectionDelegate) throws {
        self.role = .server
        self.channel = channel
        self.makeChannel = nil
        let fd = channel.fd
        self.peer = peer
        self.loop = loop
        self.settings = settings
        self.delegate = delegate
        self.connecting = false
        self.lastActive = loop.now
        Socket.setNoDelay(fd)
        try makeSession()
        try loop.register(fd: fd, events: IOEvents.readable, handler: self)
        watched = IOEvents.readable
        loop.markDirty(self)
    }

    /// Starts a client connection to `address`; streams may be opened before it connects.
    /// `makeChannel` wraps the connected socket (TLS); nil means h2c.
    public init(connectingTo address: SocketAddress, loop: EventLoop, settings: HTTP2Settings,
                delegate: HTTP2ConnectionDelegate, makeChannel: ((Int32) throws -> ByteChannel)? = nil) throws {
        self.role = .client
        let fd = try Socket.connect(to: address)
        // With `makeChannel`, the socket must outlive this placeholder: a PlainChannel would
        // close it when the wrapping channel replaces it.
        self.channel = makeChannel == nil ? PlainChannel(fd: fd) : ConnectingSocket(fd: fd)
        self.makeChannel = makeChannel
        self.peer = address.description
        self.loop = loop
        self.settings = settings
        self.delegate = delegate
        self.connecting = true
        self.lastActive = loop.now
        Socket.setNoDelay(fd)
        do {
            try makeSession()
            try loop.register(fd: fd, events: IOEvents.writable, handler: self)
        } catch {
            channel.close()
            throw error
        }
        watched = IOEvents.writable
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    private func makeSession() throws {
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_peer_max_concurrent_streams(option, settings.assumedPeerMaxConcurrentStreams)
        nghttp2_option_set_stream_reset_rate_limit(option, settings.streamResetBurst, settings.streamResetRate)
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)
        nghttp2_option_set_max_send_header_block_length(option, 64 * 1024)
        // No RFC 7540 priority tree: every call is as important as any other, and keeping closed
        // streams around for the tree only costs memory and map work (SETTINGS below says so).
        nghttp2_option_set_no_closed_streams(option, 1)
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        defer { nghttp2_session_callbacks_del(callbacks) }
        installCallbacks(callbacks!)
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rc: Int32
        switch role {
        case .server: rc = nghttp2_session_server_new2(&session, callbacks, me, option)
        case .client: rc = nghttp2_session_client_new2(&session, callbacks, me, option)
        }
        guard rc == 0 else { throw HTTP2ConnectionError(.local, "nghttp2 session: \(String(cString: nghttp2_strerror(rc)))") }
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

    // MARK: Streams

    /// Opens a client stream with request headers; the body follows with `write`/`finish`.
    /// Returns nil when the connection cannot take another stream.
    public func openStream(headers: [HeaderField], delegate: HTTP2StreamDelegate) -> HTTP2Stream? {
        openStream(delegate: delegate) { writer in writer.append(contentsOf: headers) }
    }

    /// Opens a client stream whose request headers `writeHeaders` writes straight into the
    /// loop's header scratch buffer (no array of fields on the way). Returns nil when the
    /// connection cannot take another stream.
    public func openStream(delegate: HTTP2StreamDelegate, headers writeHeaders: (inout HeaderListWriter) -> Void) -> HTTP2Stream? {
        guard role == .client, !isClosed, !isGoingAway else { return nil }
        let placeholder = HTTP2Stream(id: -1, connection: self)
        placeholder.delegate = delegate
        var provider = byoc_data_provider(Unmanaged.passUnretained(placeholder).toOpaque(), dataSourceRead)
        var writer = HeaderListWriter(scratch: loop.headerScratch)
        writeHeaders(&writer)
        let id = writer.withNameValues { nva, count in
            nghttp2_submit_request(session, nil, nva, count, &provider, Unmanaged.passUnretained(placeholder).toOpaque())
        }
        guard id > 0 else { return nil }
        let stream = placeholder
        stream.id = id
        stream.markHeadersSent()
        link(stream)
        lastActive = loop.now
        loop.markDirty(self)
        return stream
    }

    func submitResponse(_ stream: HTTP2Stream, endStream: Bool, headers write: (inout HeaderListWriter) -> Void) {
        guard !isClosed else { return }
        var writer = HeaderListWriter(scratch: loop.headerScratch)
        write(&writer)
        if endStream {
            _ = writer.withNameValues { nva, count in
                nghttp2_submit_response(session, stream.id, nva, count, nil)
            }
        } else {
            var provider = byoc_data_provider(Unmanaged.passUnretained(stream).toOpaque(), dataSourceRead)
            stream.dataProviderActive = true
            _ = writer.withNameValues { nva, count in
                nghttp2_submit_response(session, stream.id, nva, count, &provider)
            }
        }
        loop.markDirty(self)
    }

    func submitTrailers(_ stream: HTTP2Stream, headers: HeaderBlock) {
        var writer = HeaderListWriter(scratch: loop.headerScratch)
        writer.append(contentsOf: headers)
        _ = writer.withNameValues { nva, count in
            nghttp2_submit_trailer(session, stream.id, nva, count)
        }
    }

    func submitReset(_ stream: HTTP2Stream, errorCode: UInt32) {
        guard !isClosed else { return }
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, errorCode)
        loop.markDirty(self)
    }

    func resumeData(_ stream: HTTP2Stream) {
        guard !isClosed else { return }
        nghttp2_session_resume_data(session, stream.id)
        loop.markDirty(self)
    }

    func consume(_ stream: HTTP2Stream, bytes: Int) {
        guard !isClosed else { return }
        nghttp2_session_consume(session, stream.id, bytes)
        loop.markDirty(self)
    }

    func noteDrained(_ stream: HTTP2Stream) {
        if stream.drainedSinceNotify > 0 { drained.append(stream) }
    }

    // MARK: Shutdown

    /// Starts a graceful shutdown: GOAWAY now, close once open streams finish.
    public func shutdownGracefully() {
        guard !isClosed, !isGoingAway else { return }
        isGoingAway = true
        if role == .server {
            nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                                  nghttp2_session_get_last_proc_stream_id(session),
                                  UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
        } else {
            nghttp2_session_terminate_session(session, UInt32(NGHTTP2_NO_ERROR.rawValue))
        }
        loop.markDirty(self)
    }

    /// Closes now: open streams close with `.connectionLost` (or `.connectFailed`).
    public func close(error: HTTP2ConnectionError? = nil) {
        guard !isClosed else { return }
        if inSession > 0 {
            if closeAfterSessionCall == nil { closeAfterSessionCall = .some(error) }
            return
        }
        isClosed = true
        lastError = error
        headerBlockStream = nil
        loop.unregister(fd: fd)
        channel.close()
        // The owner hears first (a pool records a connect failure and its backoff), then the
        // streams, whose owners may retry elsewhere with that knowledge.
        pendingOut = []
        drained = []
        delegate?.connectionDidClose(self, error: error)
        let reason: StreamCloseReason = (error?.kind == .connectFailed) ? .connectFailed : .connectionLost
        var open: [HTTP2Stream] = []
        open.reserveCapacity(openStreamCount)
        while let stream = firstStream { open.append(stream); unlink(stream) }
        open.sort { $0.id < $1.id }
        for stream in open {
            stream.isClosed = true
            let delegate = stream.delegate
            stream.delegate = nil
            delegate?.streamClosed(stream, reason: reason)
        }
        delegate = nil
    }

    // MARK: I/O

    public func handleEvents(_ events: UInt32) {
        if isClosed { return }
        if connecting {
            let error = Socket.pendingError(fd)
            if error != 0 || events & (IOEvents.error | IOEvents.hangup) != 0 {
                let failure = SystemError("connect \(peer)", code: error == 0 ? ECONNREFUSED : error)
                close(error: HTTP2ConnectionError(.connectFailed, failure.description, systemError: failure))
                return
            }
            connecting = false
            if let makeChannel {
                do { channel = try makeChannel(fd) } catch {
                    close(error: HTTP2ConnectionError(.connectFailed, "\(peer): \(error)"))
                    return
                }
            }
            watched = 0
            updateInterest()
            delegate?.connectionDidConnect(self)
            flush()
            return
        }
        if events & (IOEvents.readable | IOEvents.error | IOEvents.hangup) != 0 {
            readAvailable()
            if isClosed { return }
        }
        if events & IOEvents.writable != 0 {
            if channel.needsWritable { readAvailable() }
            if !isClosed { flush() }
        }
    }

    private func readAvailable() {
        let buffer = loop.readBuffer
        for _ in 0..<4 {
            let result: IOResult
            do { result = try channel.read(into: buffer) } catch {
                close(error: HTTP2ConnectionError(.io, "\(error)"))
                return
            }
            switch result {
            case .bytes(let n):
                lastActive = loop.now
                inSession += 1
                let rc = nghttp2_session_mem_recv(session, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), n)
                inSession -= 1
                if let pending = closeAfterSessionCall {
                    closeAfterSessionCall = nil
                    close(error: pending)
                    return
                }
                if rc < 0 {
                    // nghttp2 queued a GOAWAY for most protocol errors: send what we can, then close.
                    let reason = String(cString: nghttp2_strerror(Int32(rc)))
                    flush()
                    close(error: HTTP2ConnectionError(.protocolError, "HTTP/2 error from \(peer): \(reason)"))
                    return
                }
                if n < buffer.count && !channel.hasBufferedInput {
                    loop.markDirty(self)
                    return
                }
            case .wouldBlock:
                loop.markDirty(self)
                updateInterest()
                return
            case .closed:
                close(error: openStreamCount == 0 ? nil : HTTP2ConnectionError(.peerClosed, "\(peer) closed the connection"))
                return
            }
        }
        // Still more to read: epoll reports the socket again; input buffered inside the channel
        // (decrypted TLS records) it cannot see, so come back for that ourselves.
        loop.markDirty(self)
        if channel.hasBufferedInput { loop.execute { [weak self] in self?.readAvailable() } }
    }

    /// Sends what nghttp2 has produced, as far as the socket takes it.
    public func flush() {
        guard !isClosed, !connecting else { return }
        if !writePending() { return }
        let scratch = loop.writeBuffer
        var used = 0
        inSession += 1
        produce: while true {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 {
                inSession -= 1
                close(error: HTTP2ConnectionError(.protocolError, "nghttp2 send: \(String(cString: nghttp2_strerror(Int32(n))))"))
                return
            }
            if n == 0 { break }
            var chunk = UnsafeRawBufferPointer(start: data, count: n)
            while chunk.count > 0 {
                let room = scratch.count - used
                let take = min(room, chunk.count)
                (scratch.baseAddress! + used).copyMemory(from: chunk.baseAddress!, byteCount: take)
                used += take
                chunk = UnsafeRawBufferPointer(rebasing: chunk[take...])
                if used == scratch.count {
                    let sent = sendOrKeep(UnsafeRawBufferPointer(rebasing: scratch[0..<used]))
                    used = 0
                    if !sent {
                        if chunk.count > 0 { pendingOut.append(contentsOf: chunk) }
                        break produce
                    }
                }
            }
        }
        if used > 0 { _ = sendOrKeep(UnsafeRawBufferPointer(rebasing: scratch[0..<used])) }
        inSession -= 1
        if let pending = closeAfterSessionCall {
            closeAfterSessionCall = nil
            close(error: pending)
            return
        }
        notifyDrained()
        if isClosed { return }
        updateInterest()
        if pendingOut.isEmpty && nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            close(error: nil)
        }
    }

    /// Tells the delegates of streams whose bytes left how many did. The two lists swap, so
    /// neither is reallocated per flush (copying `drained` and emptying it would allocate anew).
    private func notifyDrained() {
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

    /// Sends `bytes`; what the socket refuses is kept in `pendingOut`. False when it refused some.
    private func sendOrKeep(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if !pendingOut.isEmpty {
            pendingOut.append(contentsOf: bytes)
            return false
        }
        var offset = 0
        while offset < bytes.count {
            let result: IOResult
            do { result = try channel.write(from: UnsafeRawBufferPointer(rebasing: bytes[offset...])) } catch {
                closeAfterSessionCall = .some(HTTP2ConnectionError(.io, "\(error)"))
                return false
            }
            switch result {
            case .bytes(let n): offset += n
            case .wouldBlock, .closed:
                pendingOut.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                return false
            }
        }
        return true
    }

    /// Writes `pendingOut`; true when it is empty afterwards.
    private func writePending() -> Bool {
        guard !pendingOut.isEmpty else { return true }
        while pendingOutOffset < pendingOut.count {
            let result: IOResult
            do {
                result = try pendingOut.withUnsafeBytes { raw in
                    try channel.write(from: UnsafeRawBufferPointer(rebasing: raw[pendingOutOffset...]))
                }
            } catch {
                close(error: HTTP2ConnectionError(.io, "\(error)"))
                return false
            }
            switch result {
            case .bytes(let n): pendingOutOffset += n
            case .wouldBlock, .closed:
                updateInterest()
                return false
            }
        }
        pendingOut = []
        pendingOutOffset = 0
        return true
    }

    private func updateInterest() {
        guard !isClosed else { return }
        var wanted = IOEvents.readable
        if !pendingOut.isEmpty || connecting || channel.needsWritable { wanted |= IOEvents.writable }
        if connecting { wanted = IOEvents.writable }
        if wanted != watched {
            watched = wanted
            loop.modify(fd: fd, events: wanted)
        }
    }

    // MARK: Callback entry points (called by the C callbacks in HTTP2Callbacks.swift)

    func beginHeaders(streamID: Int32, category: nghttp2_headers_category) -> Int32 {
        if role == .server && category == NGHTTP2_HCAT_REQUEST {
            let stream = HTTP2Stream(id: streamID, connection: self)
            link(stream)
            nghttp2_session_set_stream_user_data(session, streamID, Unmanaged.passUnretained(stream).toOpaque())
            lastActive = loop.now
            if isGoingAway {
                stream.reset(UInt32(NGHTTP2_REFUSED_STREAM.rawValue))
                return 0
            }
            delegate?.connection(self, didOpen: stream)
        }
        if let stream = stream(streamID) {
            stream.receivingHeaders = HeaderBlock()
            stream.receivingHeaders.reserveCapacity(256)
            stream.receivedHeaderBytes = 0
            headerBlockStream = (streamID, Unmanaged.passUnretained(stream))
        } else {
            headerBlockStream = nil
        }
        return 0
    }

    /// The stream whose header block nghttp2 is delivering: its fields arrive right after
    /// `beginHeaders`, one callback each, so the stream is remembered instead of looked up in
    /// nghttp2's stream map per field. Unretained: the open-stream list holds it, and it is
    /// cleared when the block completes or the stream closes.
    private var headerBlockStream: (id: Int32, stream: Unmanaged<HTTP2Stream>)?

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
                return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
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
            stream.delegate?.streamHeaders(stream, headers, kind: kind)
            if endStream, !stream.isClosed {
                stream.remoteEnded = true
                stream.delegate?.streamEnded(stream)
            }
        case Int32(NGHTTP2_DATA.rawValue):
            if endStream, let stream = stream(streamID) {
                stream.remoteEnded = true
                stream.delegate?.streamEnded(stream)
            }
        case Int32(NGHTTP2_GOAWAY.rawValue):
            isGoingAway = true
            delegate?.connection(self, didReceiveGoaway: byoc_frame_goaway_last_stream_id(frame),
                                 errorCode: byoc_frame_goaway_error(frame))
        case Int32(NGHTTP2_SETTINGS.rawValue):
            if !receivedPeerSettings {
                receivedPeerSettings = true
                delegate?.connectionDidReceivePeerSettings(self)
            }
            delegate?.connectionCapacityChanged(self)
        default:
            break
        }
        return 0
    }

    func frameSent(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let flags = UInt32(byoc_frame_flags(frame))
        guard flags & UInt32(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
              let stream = stream(byoc_frame_stream_id(frame)), stream.resetWhenEndSent, !stream.isClosed,
              !stream.remoteEnded else { return 0 }
        stream.resetWhenEndSent = false
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream.id, UInt32(NGHTTP2_NO_ERROR.rawValue))
        return 0
    }

    func dataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32 {
        guard let stream = stream(streamID) else {
            nghttp2_session_consume(session, streamID, data.count)
            return 0
        }
        stream.unconsumed += data.count
        lastActive = loop.now
        if let delegate = stream.delegate {
            delegate.streamData(stream, data)
        } else {
            stream.consume(data.count)
        }
        return 0
    }

    func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
        if headerBlockStream?.id == streamID { headerBlockStream = nil }
        guard let stream = stream(streamID), stream.isLinked else { return 0 }
        unlink(stream)
        stream.isClosed = true
        if stream.unconsumed > 0 {
            nghttp2_session_consume(session, streamID, stream.unconsumed)
            stream.unconsumed = 0
        }
        lastActive = loop.now
        let delegate = stream.delegate
        stream.delegate = nil
        delegate?.streamClosed(stream, reason: errorCode == 0 ? .finished : .reset(errorCode))
        self.delegate?.connectionCapacityChanged(self)
        return 0
    }

    /// Adds an opened stream to the list of open streams.
    private func link(_ stream: HTTP2Stream) {
        stream.next = firstStream
        firstStream?.previous = stream
        stream.previous = nil
        stream.isLinked = true
        firstStream = stream
        openStreamCount += 1
    }

    /// Removes a stream from the list (the caller holds it).
    private func unlink(_ stream: HTTP2Stream) {
        guard stream.isLinked else { return }
        let next = stream.next
        if let previous = stream.previous { previous.next = next } else { firstStream = next }
        next?.previous = stream.previous
        stream.next = nil
        stream.previous = nil
        stream.isLinked = false
        openStreamCount -= 1
    }

    private func stream(_ id: Int32) -> HTTP2Stream? {
        guard let pointer = nghttp2_session_get_stream_user_data(session, id) else { return nil }
        return Unmanaged<HTTP2Stream>.fromOpaque(pointer).takeUnretainedValue()
    }
}

/// A client socket until its connect completes and `makeChannel` wraps it (e.g. in TLS): the
/// wrapper then owns the socket, so unlike `PlainChannel` this does not close it on deinit
/// (only an explicit `close()`, when the connect fails, does).
final class ConnectingSocket: ByteChannel {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult { try Socket.read(fd, into: buffer) }
    func write(from buffer: UnsafeRawBufferPointer) throws -> IOResult { try Socket.write(fd, from: buffer) }
    var needsWritable: Bool { false }
    var hasBufferedInput: Bool { false }
    var alpnProtocol: String? { nil }
    func close() { Socket.close(fd) }
}

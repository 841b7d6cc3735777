#if canImport(Glibc)
import Glibc
#endif
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
    func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode)
    /// A stream closed or the peer's SETTINGS changed: capacity may have changed.
    func connectionCapacityChanged(_ connection: HTTP2Connection)
    /// The connection closed; `error` says why when it was not a clean close.
    func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?)
}

extension HTTP2ConnectionDelegate {
    public func connection(_ connection: HTTP2Connection, didOpen stream: HTTP2Stream) {
        stream.reset(.refusedStream)
    }
    public func connectionDidConnect(_ connection: HTTP2Connection) {}
    public func connectionDidReceivePeerSettings(_ connection: HTTP2Connection) {}
    public func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {}
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

/// An HTTP/2 connection (server or client side): drives an `HTTP2Session` over a non-blocking
/// channel (plain or TLS) on one event loop, moving bytes between the two.
///
/// Reads go through the loop's shared read buffer straight into the session; frames the
/// session produces are gathered into the loop's write buffer and sent with one `send` per
/// flush. Only what the socket refuses is copied into this connection's own pending buffer,
/// and no more frames are produced until it drains: output is bounded, idle connections hold
/// no buffer.
public final class HTTP2Connection: HTTP2SessionDriver, EventHandler, Flushable {
    /// Server or client.
    public typealias Role = HTTP2Session.Role

    public let loop: EventLoop
    /// The HTTP/2 state: streams, flow control, frames.
    public let session: HTTP2Session
    /// The peer's address, for logs.
    public let peer: String
    /// The remote `HOST:PORT`, read from the socket the first time it is asked for (access
    /// logs; "" when unknown).
    public private(set) lazy var remoteAddress: String = (try? Socket.peerAddress(fd)).map { "\($0)" } ?? ""
    /// The owner (a server worker, a pool, a client). Held strongly (a weak reference would put
    /// every retain of the owner on the runtime's slow path) until the connection closes: an
    /// owner need not keep its connections' delegate alive itself.
    public var delegate: HTTP2ConnectionDelegate?
    /// Free for the owner (e.g. the pool's bookkeeping).
    public var userData: AnyObject?
    /// The owner's count of this connection's streams (a pool keeps its in-flight totals
    /// current from it without recounting every connection).
    public var ownerStreamCount = 0
    /// Flushable: set while waiting in the loop's dirty list.
    public var isMarkedDirty = false

    /// The socket (plain or TLS) this connection reads and writes; replaced once when a client
    /// connection's TCP connect completes and `makeChannel` wraps it (e.g. in TLS).
    public private(set) var channel: ByteChannel
    private let makeChannel: ((Int32) throws -> ByteChannel)?
    var fd: Int32 { channel.fd }
    /// The loop registration of `fd` (events for an earlier socket with the same number miss it).
    private var registration: EventRegistration?
    private var pendingOut: [UInt8] = []
    private var pendingOutOffset = 0
    private var watched: UInt32 = 0
    private var connecting: Bool
    private var inSession = 0
    private var closeAfterSessionCall: HTTP2ConnectionError??
    /// Server side: the timer that ends a connection whose client SETTINGS never came.
    private var peerSettingsTimer: UInt64?

    /// True once closed; no further calls have effect.
    public private(set) var isClosed = false
    /// Client side: the TCP connect has not completed yet.
    public var isConnecting: Bool { connecting }
    /// Why the connection closed, once it has.
    public private(set) var lastError: HTTP2ConnectionError?

    /// Server or client.
    public var role: Role { session.role }
    /// The session's settings.
    public var settings: HTTP2Settings { session.settings }
    /// True once GOAWAY was received or sent: no new streams.
    public var isGoingAway: Bool { session.isGoingAway }
    /// Client side: this side reset so many streams that it takes no new ones
    /// (`HTTP2Session.peerResetBudgetSpent`); close it once its streams ended.
    public var isRetiring: Bool { session.peerResetBudgetSpent }
    /// Monotonic time of the last input or stream activity (or of the connection's start), for
    /// idle timeouts.
    public var lastActive: UInt64 { max(session.lastActive, openedAt) }
    private let openedAt: UInt64
    /// Open streams.
    public var activeStreams: Int { session.activeStreams }
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS.
    public var peerMaxConcurrentStreams: Int { isClosed ? 0 : session.peerMaxConcurrentStreams }

    /// True when a new client stream can be opened now (the session closes with the connection).
    @inline(__always)
    public var hasCapacity: Bool { session.hasCapacity }

    /// Wraps an accepted socket as a server connection.
    public convenience init(acceptedFD fd: Int32, peer: String, loop: EventLoop, settings: HTTP2Settings,
                            delegate: HTTP2ConnectionDelegate) throws {
        try self.init(accepted: PlainChannel(fd: fd), peer: peer, loop: loop, settings: settings, delegate: delegate)
    }

    /// Wraps an accepted channel (plain or TLS) as a server connection.
    public init(accepted channel: ByteChannel, peer: String, loop: EventLoop, settings: HTTP2Settings,
                delegate: HTTP2ConnectionDelegate) throws {
        self.channel = channel
        self.makeChannel = nil
        let fd = channel.fd
        self.peer = peer
        self.loop = loop
        self.delegate = delegate
        self.connecting = false
        openedAt = loop.now
        session = try Self.makeSession(.server, settings, loop)
        super.init()
        session.driver = self
        Socket.setNoDelay(fd)
        registration = try loop.register(fd: fd, events: IOEvents.readable, handler: self)
        watched = IOEvents.readable
        loop.markDirty(self)
        if settings.peerSettingsTimeoutNanos > 0 {
            peerSettingsTimer = loop.schedule(afterNanos: settings.peerSettingsTimeoutNanos) { [weak self] in
                self?.peerSettingsTimedOut()
            }
        }
    }

    /// Starts a client connection to `address`; streams may be opened before it connects.
    /// `makeChannel` wraps the connected socket (TLS); nil means h2c.
    public init(connectingTo address: SocketAddress, loop: EventLoop, settings: HTTP2Settings,
                delegate: HTTP2ConnectionDelegate, makeChannel: ((Int32) throws -> ByteChannel)? = nil) throws {
        let fd = try Socket.connect(to: address)
        // With `makeChannel`, the socket must outlive this placeholder: a PlainChannel would
        // close it when the wrapping channel replaces it.
        self.channel = makeChannel == nil ? PlainChannel(fd: fd) : ConnectingSocket(fd: fd)
        self.makeChannel = makeChannel
        self.peer = address.description
        self.loop = loop
        self.delegate = delegate
        self.connecting = true
        openedAt = loop.now
        Socket.setNoDelay(fd)
        do { session = try Self.makeSession(.client, settings, loop) } catch {
            channel.close()
            throw error
        }
        super.init()
        session.driver = self
        do { registration = try loop.register(fd: fd, events: IOEvents.writable, handler: self) } catch {
            channel.close()
            throw error
        }
        watched = IOEvents.writable
    }

    private static func makeSession(_ role: Role, _ settings: HTTP2Settings, _ loop: EventLoop) throws(HTTP2ConnectionError) -> HTTP2Session {
        do {
            let session = try HTTP2Session(role: role, settings: settings, headerScratch: loop.headerScratch)
            session.now = loop.now
            return session
        } catch {
            throw HTTP2ConnectionError(.local, "nghttp2 session: \(error.message)")
        }
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
        guard !isClosed else { return nil }
        session.now = loop.now
        return session.openStream(delegate: delegate, headers: writeHeaders)
    }

    // MARK: HTTP2SessionDriver

    public override func sessionHasOutput(_ session: HTTP2Session) {
        loop.markDirty(self)
    }

    public override func session(_ session: HTTP2Session, didOpen stream: HTTP2Stream) {
        if let delegate { delegate.connection(self, didOpen: stream) } else { stream.reset(.refusedStream) }
    }

    public override func sessionDidReceivePeerSettings(_ session: HTTP2Session) {
        if let peerSettingsTimer {
            loop.cancelTimer(peerSettingsTimer)
            self.peerSettingsTimer = nil
        }
        delegate?.connectionDidReceivePeerSettings(self)
    }

    /// The client's SETTINGS did not come in time: GOAWAY, then close whether or not it left.
    private func peerSettingsTimedOut() {
        peerSettingsTimer = nil
        guard !isClosed, !session.receivedPeerSettings else { return }
        session.terminate(errorCode: .protocolError)
        flush()
        let millis = settings.peerSettingsTimeoutNanos / 1_000_000
        close(error: HTTP2ConnectionError(.timedOut, "no HTTP/2 SETTINGS from \(peer) within \(millis) ms"))
    }

    public override func session(_ session: HTTP2Session, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {
        delegate?.connection(self, didReceiveGoaway: lastStreamID, errorCode: errorCode)
    }

    public override func sessionCapacityChanged(_ session: HTTP2Session) {
        delegate?.connectionCapacityChanged(self)
    }

    // MARK: Shutdown

    /// Starts a graceful shutdown: GOAWAY now, close once open streams finish.
    public func shutdownGracefully() {
        guard !isClosed else { return }
        session.goAway(errorCode: .noError)
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
        if let peerSettingsTimer {
            loop.cancelTimer(peerSettingsTimer)
            self.peerSettingsTimer = nil
        }
        session.close()
        if let registration { loop.unregister(registration) }
        registration = nil
        channel.close()
        // The owner hears first (a pool records a connect failure and its backoff), then the
        // streams, whose owners may retry elsewhere with that knowledge.
        pendingOut = []
        delegate?.connectionDidClose(self, error: error)
        session.closeStreams(reason: (error?.kind == .connectFailed) ? .connectFailed : .connectionLost)
        delegate = nil
    }

    // MARK: I/O

    public func handleEvents(_ events: UInt32) {
        if isClosed { return }
        session.now = loop.now
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
                inSession += 1
                var failure: HTTP2SessionError?
                do { try session.receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) } catch { failure = error }
                inSession -= 1
                if let pending = closeAfterSessionCall {
                    closeAfterSessionCall = nil
                    close(error: pending)
                    return
                }
                if let failure {
                    // nghttp2 queued a GOAWAY for most protocol errors: send what we can, then close.
                    flush()
                    close(error: HTTP2ConnectionError(.protocolError, "HTTP/2 error from \(peer): \(failure.message)"))
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
                close(error: session.activeStreams == 0 ? nil : HTTP2ConnectionError(.peerClosed, "\(peer) closed the connection"))
                return
            }
        }
        // Still more to read: epoll reports the socket again; input buffered inside the channel
        // (decrypted TLS records) it cannot see, so come back for that ourselves.
        loop.markDirty(self)
        if channel.hasBufferedInput { loop.execute { [weak self] in self?.readAvailable() } }
    }

    /// Sends what the session has produced, as far as the socket takes it.
    public func flush() {
        guard !isClosed, !connecting else { return }
        if !writePending() { return }
        session.now = loop.now
        let scratch = loop.writeBuffer
        var used = 0
        inSession += 1
        produce: while true {
            let output: UnsafeRawBufferPointer?
            do { output = try session.nextOutput() } catch {
                inSession -= 1
                close(error: HTTP2ConnectionError(.protocolError, "nghttp2 send: \(error.message)"))
                return
            }
            guard var chunk = output else { break }
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
        session.notifyDrained()
        if isClosed { return }
        updateInterest()
        if pendingOut.isEmpty && session.isFinished {
            close(error: nil)
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
        guard !isClosed, let registration else { return }
        var wanted = IOEvents.readable
        if !pendingOut.isEmpty || connecting || channel.needsWritable { wanted |= IOEvents.writable }
        if connecting { wanted = IOEvents.writable }
        if wanted != watched {
            watched = wanted
            loop.modify(registration, events: wanted)
        }
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

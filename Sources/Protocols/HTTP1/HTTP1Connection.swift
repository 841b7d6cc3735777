#if canImport(Glibc)
import Glibc
#endif
import Transport

/// One HTTP/1.1 server connection on a `ByteChannel`: reads and parses requests (one at a
/// time; pipelined ones wait), hands each to the service, writes the response, keeps the
/// connection alive or closes it, and enforces the limits and timeouts of `HTTPLimits`.
///
/// Lives on its worker's loop; nothing here blocks.
public final class HTTP1Connection: EventHandler, Flushable {
    enum State: Equatable {
        /// Reading the next request.
        case reading
        /// A request is with its handler; input is not read meanwhile.
        case handling
        /// A response is being written.
        case writing
        /// The last response is out: draining input until EOF or the linger timeout.
        case closing
        case closed
    }

    /// Flushable: set while waiting in the loop's dirty list.
    public var isMarkedDirty = false

    /// Where in a request the reader is (each phase has its own timeout).
    enum ReadPhase {
        case idle, headers, body
    }

    public let channel: ByteChannel
    public let loop: EventLoop
    unowned let server: HTTP1ServerWorker
    let limits: HTTPLimits
    private let parser: HTTPRequestParser
    private(set) var state = State.reading
    private var readPhase = ReadPhase.headers
    /// Read but not yet parsed input (what followed a complete request).
    private var pending: [UInt8] = []
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var writeBlocked = false
    private var closeAfterWrite = false
    private var keepAlive = true
    private var responseIsHead = false
    private var requestVersion = "HTTP/1.1"
    private var requestsServed = 0
    private var serial = 0
    private var registeredEvents: UInt32 = 0
    private var deadline = UInt64.max
    private var timer: UInt64?
    private var timerAt = UInt64.max

    init(channel: ByteChannel, loop: EventLoop, server: HTTP1ServerWorker) {
        self.channel = channel
        self.loop = loop
        self.server = server
        self.limits = server.limits
        self.parser = HTTPRequestParser(limits: server.limits)
    }

    /// Starts serving: the first request's bytes are (about to be) there, so its header
    /// timeout runs from now.
    func start() throws {
        registeredEvents = IOEvents.readable
        try loop.register(fd: channel.fd, events: registeredEvents, handler: self)
        setDeadline(monotonicNanos() &+ limits.headerTimeoutNanos)
        readAvailable()
    }

    /// True while no request is in progress (safe to close on shutdown).
    var isIdle: Bool { state == .reading && !parser.messageStarted && pending.isEmpty }

    /// Graceful shutdown: close now when idle, else after the current response.
    func shutdownGracefully() {
        if isIdle { close() } else { keepAlive = false }
    }

    // MARK: Events

    public func handleEvents(_ events: UInt32) {
        if events & IOEvents.error != 0 {
            close()
            return
        }
        if events & IOEvents.writable != 0 && (writeBlocked || channel.needsWritable) {
            writeOut()
        }
        if events & (IOEvents.readable | IOEvents.hangup) != 0 && (state == .reading || state == .closing) {
            readAvailable()
        } else if events & IOEvents.hangup != 0 {
            // The client is gone while its request is with the handler or its response waits.
            close()
        }
    }

    public func flush() {
        writeOut()
    }

    private func readAvailable() {
        while state == .reading || state == .closing {
            let result: IOResult
            do { result = try channel.read(into: loop.readBuffer) } catch {
                close()
                return
            }
            switch result {
            case .bytes(let n):
                if state == .closing { continue }
                parse(UnsafeRawBufferPointer(rebasing: loop.readBuffer[0..<n]))
            case .wouldBlock:
                if channel.hasBufferedInput { continue }
                updateInterest()
                return
            case .closed:
                close()
                return
            }
        }
        updateInterest()
    }

    /// Feeds input to the parser until it needs more, a request is complete, or it failed.
    private func parse(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count && state == .reading {
            let (consumed, event) = parser.feed(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            offset += consumed
            switch event {
            case .needMore:
                updateReadPhase()
                if parser.wantsContinue {
                    parser.wantsContinue = false
                    queue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                if consumed == 0 { return }
            case .request(let request):
                pending = Array(bytes[offset...])
                dispatch(request)
                return
            case .failure(let failure):
                refuse(failure)
                return
            }
        }
    }

    private func updateReadPhase() {
        let phase: ReadPhase = parser.headersComplete ? .body : (parser.messageStarted ? .headers : .idle)
        guard phase != readPhase else { return }
        readPhase = phase
        let now = monotonicNanos()
        switch phase {
        case .idle: setDeadline(now &+ limits.idleTimeoutNanos)
        case .headers: setDeadline(now &+ limits.headerTimeoutNanos)
        case .body: setDeadline(now &+ limits.bodyTimeoutNanos)
        }
    }

    // MARK: Requests and responses

    /// The client's address, read once per connection when the service logs requests.
    private lazy var peer: String = (try? Socket.peerAddress(channel.fd)).map { "\($0)" } ?? ""

    private func dispatch(_ request: HTTPRequest) {
        var request = request
        if server.service.completed != nil { request.peer = peer }
        state = .handling
        clearDeadline()
        updateInterest()
        requestsServed += 1
        server.noteRequest()
        keepAlive = keepAlive && parser.keepAlive && !parser.upgrade && requestsServed < limits.maxRequestsPerConnection
            && !server.shuttingDown
        responseIsHead = request.method == "HEAD"
        requestVersion = request.version
        serial += 1
        let current = serial
        let responder = HTTPResponder(loop: loop) { [weak self] response in
            self?.send(response, serial: current)
        }
        server.service.handle(request, responder: responder)
    }

    private func send(_ response: HTTPResponse, serial: Int) {
        guard state == .handling, serial == self.serial else { return }
        let close = !keepAlive || response.closeConnection || server.shuttingDown
        state = .writing
        closeAfterWrite = close
        queue(Self.serialize(response, head: responseIsHead, close: close, version: requestVersion))
    }

    /// Answers a refused request with `failure.status` and closes.
    private func refuse(_ failure: HTTPParseFailure) {
        server.noteRefused(status: failure.status)
        state = .writing
        closeAfterWrite = true
        clearDeadline()
        var response = HTTPResponse.text(failure.status, failure.message)
        response.closeConnection = true
        queue(Self.serialize(response, head: false, close: true, version: "HTTP/1.1"))
    }

    static func serialize(_ response: HTTPResponse, head: Bool, close: Bool, version: String) -> [UInt8] {
        var text = "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\n"
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "content-length" || lower == "connection" || lower == "transfer-encoding" { continue }
            text += "\(clean(name)): \(clean(value))\r\n"
        }
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        if !bodyless { text += "Content-Length: \(response.body.count)\r\n" }
        if close {
            text += "Connection: close\r\n"
        } else if version == "HTTP/1.0" {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if !head && !bodyless { bytes.append(contentsOf: response.body) }
        return bytes
    }

    /// No CR or LF in a header line (response splitting).
    private static func clean(_ text: String) -> String {
        guard text.contains(where: { $0 == "\r" || $0 == "\n" }) else { return text }
        return text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    // MARK: Output

    /// Queues output; it is written when the loop flushes (end of this iteration), so the
    /// next pipelined request is parsed from there and never by recursion from a handler.
    private func queue(_ bytes: [UInt8]) {
        outbound.append(contentsOf: bytes)
        loop.markDirty(self)
    }

    private func writeOut() {
        guard state != .closed else { return }
        while outboundOffset < outbound.count {
            let result: IOResult
            do {
                result = try outbound.withUnsafeBytes { raw in
                    try channel.write(from: UnsafeRawBufferPointer(rebasing: raw[outboundOffset...]))
                }
            } catch {
                close()
                return
            }
            switch result {
            case .bytes(let n):
                outboundOffset += n
                if writeBlocked { setDeadline(monotonicNanos() &+ limits.idleTimeoutNanos) }
            case .wouldBlock:
                if !writeBlocked {
                    writeBlocked = true
                    setDeadline(monotonicNanos() &+ limits.idleTimeoutNanos)
                }
                updateInterest()
                return
            case .closed:
                close()
                return
            }
        }
        outbound.removeAll(keepingCapacity: true)
        outboundOffset = 0
        writeBlocked = false
        if state == .writing { responseWritten() }
        updateInterest()
    }

    private func responseWritten() {
        if closeAfterWrite {
            linger()
            return
        }
        state = .reading
        readPhase = .idle
        setDeadline(monotonicNanos() &+ limits.idleTimeoutNanos)
        if !pending.isEmpty {
            let rest = pending
            pending = []
            rest.withUnsafeBytes { parse($0) }
        }
        if state == .reading { readAvailable() }
    }

    /// Half-closes, then drains input for a moment so the client reads the response instead
    /// of a reset caused by unread request bytes.
    private func linger() {
        state = .closing
        pending = []
        _ = shutdown(channel.fd, Int32(SHUT_WR))
        setDeadline(monotonicNanos() &+ limits.lingerNanos)
        readAvailable()
    }

    private func updateInterest() {
        guard state != .closed else { return }
        var events: UInt32 = 0
        if state == .reading || state == .closing { events |= IOEvents.readable }
        if writeBlocked || channel.needsWritable { events |= IOEvents.writable }
        if events != registeredEvents {
            registeredEvents = events
            loop.modify(fd: channel.fd, events: events)
        }
    }

    // MARK: Timeouts

    private func clearDeadline() {
        deadline = .max
    }

    /// Sets the deadline (the timer is moved only when it would fire too late; an early firing re-arms).
    private func setDeadline(_ at: UInt64) {
        deadline = at
        guard timer == nil || timerAt > at else { return }
        if let timer { loop.cancelTimer(timer) }
        let now = monotonicNanos()
        timerAt = at
        timer = loop.schedule(afterNanos: at > now ? at - now : 0) { [weak self] in self?.timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerAt = .max
        guard state != .closed, deadline != .max else { return }
        let now = monotonicNanos()
        if now &+ 1_000_000 < deadline {
            setDeadline(deadline)
            return
        }
        timedOut()
    }

    private func timedOut() {
        switch state {
        case .reading:
            if readPhase == .idle && !parser.messageStarted {
                close()
            } else {
                server.noteTimeout()
                refuse(HTTPParseFailure(408, readPhase == .body ? "timed out reading the request body"
                                            : "timed out reading the request headers"))
            }
        case .writing, .closing:
            close()
        case .handling, .closed:
            break
        }
    }

    /// Closes the socket now.
    func close() {
        guard state != .closed else { return }
        state = .closed
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        loop.unregister(fd: channel.fd)
        channel.close()
        server.connectionClosed(self)
    }
}

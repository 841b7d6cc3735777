#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Transport

/// Runs server handshakes on a worker's loop with the current certificate of a
/// `TLSServerContext`; hands the established channel and its ALPN protocol to the worker.
public final class TLSServerAcceptor: @unchecked Sendable {
    public let context: TLSServerContext
    /// Handshakes that take longer are abandoned (the socket is closed).
    public let handshakeTimeoutNanos: UInt64
    /// Told about each failed handshake (on the worker's loop), e.g. for a log line or counter.
    public var onFailure: (@Sendable (TLSError) -> Void)?

    public init(context: TLSServerContext, handshakeTimeoutNanos: UInt64 = 10_000_000_000) {
        self.context = context
        self.handshakeTimeoutNanos = handshakeTimeoutNanos
    }

    public func accept(fd: Int32, loop: EventLoop, completion: @escaping (ByteChannel?, String?) -> Void) {
        let channel: TLSChannel
        do {
            let ssl = try context.makeSSL()
            channel = try TLSChannel(fd: fd, ssl: ssl, role: .server, serverName: nil, requiredALPN: nil)
        } catch {
            Socket.close(fd)
            onFailure?(error as? TLSError ?? TLSError("\(error)"))
            completion(nil, nil)
            return
        }
        Socket.setNoDelay(fd)
        ServerHandshake(channel: channel, loop: loop, timeoutNanos: handshakeTimeoutNanos, onFailure: onFailure,
                        completion: completion).start()
    }
}

/// Drives one server handshake: registered with the loop until it finishes, fails or times out.
final class ServerHandshake: EventHandler {
    let channel: TLSChannel
    let loop: EventLoop
    let timeoutNanos: UInt64
    let onFailure: (@Sendable (TLSError) -> Void)?
    private var completion: ((ByteChannel?, String?) -> Void)?
    private var timer: UInt64?
    private var registered = false
    private var watched: UInt32 = 0

    init(channel: TLSChannel, loop: EventLoop, timeoutNanos: UInt64, onFailure: (@Sendable (TLSError) -> Void)?,
         completion: @escaping (ByteChannel?, String?) -> Void) {
        self.channel = channel
        self.loop = loop
        self.timeoutNanos = timeoutNanos
        self.onFailure = onFailure
        self.completion = completion
    }

    func start() {
        do {
            try loop.register(fd: channel.fd, events: IOEvents.readable, handler: self)
        } catch {
            finish(TLSError("cannot watch the connection: \(error)"))
            return
        }
        registered = true
        watched = IOEvents.readable
        timer = loop.schedule(afterNanos: timeoutNanos) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.finish(TLSError("TLS handshake timed out"))
        }
        step()
    }

    func handleEvents(_ events: UInt32) {
        step()
    }

    private func step() {
        guard completion != nil else { return }
        do {
            switch try channel.handshake() {
            case .done:
                finish(nil)
            case .wantRead:
                watch(IOEvents.readable)
            case .wantWrite:
                watch(IOEvents.readable | IOEvents.writable)
            }
        } catch {
            finish(error as? TLSError ?? TLSError("\(error)"))
        }
    }

    private func watch(_ events: UInt32) {
        guard registered, events != watched else { return }
        watched = events
        loop.modify(fd: channel.fd, events: events)
    }

    private func finish(_ error: TLSError?) {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancelTimer(timer) }
        timer = nil
        if registered {
            loop.unregister(fd: channel.fd)
            registered = false
        }
        if let error {
            channel.close()
            onFailure?(error)
            completion(nil, nil)
        } else {
            completion(channel, channel.alpnProtocol)
        }
    }
}

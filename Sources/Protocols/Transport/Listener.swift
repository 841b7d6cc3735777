#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on an event loop that hands each accepted connection to `onAccept`.
///
/// When accepting fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM)
/// the listener pauses: it stops watching the socket, so pending connections wait in the
/// kernel's backlog instead of waking the loop again at once for the same connection (a busy
/// loop at the fd limit), and resumes after a backoff (10 ms doubling to 1 s, reset by the
/// next accepted connection). Existing connections are served meanwhile, as nginx and Envoy do.
public final class Listener: EventHandler {
    public let fd: Int32
    public let loop: EventLoop
    /// The bound address (with the real port when port 0 was asked for).
    public let address: SocketAddress
    private let onAccept: (Int32, String) -> Void
    private var closed = false
    /// Watching the socket (false while paused or closed).
    private var watching = false
    private var resumeTimer: UInt64?
    private var backoffNanos = Listener.minimumBackoffNanos
    /// Times the listener paused because accepting failed (for metrics and tests).
    public private(set) var pauses = 0
    /// The accept failure that caused the last pause.
    public private(set) var lastPauseError: SystemError?

    static let minimumBackoffNanos: UInt64 = 10_000_000
    static let maximumBackoffNanos: UInt64 = 1_000_000_000

    /// Binds `address` (sharing the port as `sharing` says) and starts accepting on `loop`
    /// (call on the loop's thread, or before the loop runs).
    public convenience init(address: SocketAddress, sharing: PortSharing, loop: EventLoop,
                            onAccept: @escaping (_ fd: Int32, _ peer: String) -> Void) throws {
        let fd = try Socket.listen(on: address, sharing: sharing)
        do {
            try self.init(listening: fd, loop: loop, onAccept: onAccept)
        } catch {
            Socket.close(fd)
            throw error
        }
    }

    /// Starts accepting on an already listening socket (taken over: closed by `close()`).
    public init(listening fd: Int32, loop: EventLoop, onAccept: @escaping (_ fd: Int32, _ peer: String) -> Void) throws {
        self.fd = fd
        self.loop = loop
        self.onAccept = onAccept
        address = try Socket.localAddress(fd)
        try loop.register(fd: fd, events: IOEvents.readable, handler: self)
        watching = true
    }

    public func handleEvents(_ events: UInt32) {
        for _ in 0..<64 {
            guard watching else { return }
            let accepted: Int32?
            do { accepted = try Socket.accept(fd) } catch let error as SystemError {
                if Self.isResourceShortage(error.code) { pause(error) }
                return
            } catch {
                return
            }
            guard let connection = accepted else { return }
            backoffNanos = Self.minimumBackoffNanos
            onAccept(connection, "client")
        }
    }

    /// Accept errors that another accept right away would meet again.
    static func isResourceShortage(_ code: Int32) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    private func pause(_ error: SystemError) {
        guard watching else { return }
        watching = false
        pauses += 1
        lastPauseError = error
        loop.unregister(fd: fd)
        let delay = backoffNanos
        backoffNanos = min(backoffNanos * 2, Self.maximumBackoffNanos)
        resumeTimer = loop.schedule(afterNanos: delay) { [weak self] in self?.resume() }
    }

    private func resume() {
        resumeTimer = nil
        guard !closed, !watching else { return }
        do {
            try loop.register(fd: fd, events: IOEvents.readable, handler: self)
            watching = true
        } catch {
            resumeTimer = loop.schedule(afterNanos: backoffNanos) { [weak self] in self?.resume() }
        }
    }

    /// Stops accepting and closes the socket.
    public func close() {
        guard !closed else { return }
        closed = true
        if let resumeTimer { loop.cancelTimer(resumeTimer) }
        resumeTimer = nil
        if watching { loop.unregister(fd: fd) }
        watching = false
        Socket.close(fd)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import TLS
import Transport

/// A TLS-only port served by the workers of an existing `GRPCServer`.
///
/// Every worker gets its own SO_REUSEPORT listening socket on the TLS address; each accepted
/// connection goes straight to the TLS handshake (no protocol sniffing, so a plain-text client
/// fails the handshake), then to the worker as HTTP/2 (ALPN h2) or, when the worker has an
/// HTTP/1.1 server, as HTTP/1.1 (ALPN http/1.1). Connections then live with the worker's other
/// connections: the same dispatcher and route tables, the same graceful shutdown.
public final class TLSListeners: @unchecked Sendable {
    /// The bound address (the real port when port 0 was asked for).
    public let address: SocketAddress
    private let acceptor: TLSServerAcceptor
    private var handlers: [(EventLoop, TLSAcceptHandler)] = []

    /// Binds `address` once per worker of `server` (which must be started) and starts accepting.
    public init(server: GRPCServer, address requested: SocketAddress, acceptor: TLSServerAcceptor) throws {
        self.acceptor = acceptor
        var address = requested
        var sockets: [Int32] = []
        do {
            for index in 0..<server.workers.count {
                let fd = try Socket.listen(on: address, sharing: index == 0 ? .open : .join)
                sockets.append(fd)
                if index == 0 { address = (try? Socket.localAddress(fd)) ?? address }
            }
        } catch {
            for fd in sockets { Socket.close(fd) }
            throw error
        }
        self.address = address
        for (worker, fd) in zip(server.workers, sockets) {
            let handler = TLSAcceptHandler(fd: fd, worker: worker, acceptor: acceptor)
            handlers.append((worker.loop, handler))
            worker.loop.execute { handler.start() }
        }
    }

    /// Stops accepting TLS connections (open ones are left to the server's shutdown).
    public func close() {
        for (loop, handler) in handlers {
            loop.execute { handler.close() }
        }
    }
}

/// One worker's TLS listening socket.
final class TLSAcceptHandler: EventHandler {
    let fd: Int32
    unowned let worker: GRPCServerWorker
    let acceptor: TLSServerAcceptor
    private var registered = false
    private var closed = false

    init(fd: Int32, worker: GRPCServerWorker, acceptor: TLSServerAcceptor) {
        self.fd = fd
        self.worker = worker
        self.acceptor = acceptor
    }

    func start() {
        guard !closed else { return }
        do {
            try worker.loop.register(fd: fd, events: IOEvents.readable, handler: self)
            registered = true
        } catch {
            close()
        }
    }

    func handleEvents(_ events: UInt32) {
        for _ in 0..<64 {
            guard !closed else { return }
            let accepted: Int32?
            do { accepted = try Socket.accept(fd) } catch { return }
            guard let connection = accepted else { return }
            worker.serveTLS(fd: connection, acceptor: acceptor)
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        if registered { worker.loop.unregister(fd: fd) }
        Socket.close(fd)
    }
}

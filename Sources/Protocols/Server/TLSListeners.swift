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
    /// Each worker's listener, made on its loop (read there only).
    private var listeners: [(EventLoop, Box)] = []

    /// A worker's listener, set on its loop.
    private final class Box { var listener: Listener? }

    /// Binds `address` once per worker of `server` (which must be started) and starts accepting.
    public init(server: GRPCServer, address requested: SocketAddress, acceptor: TLSServerAcceptor) throws {
        var address = requested
        var sockets: [Int32] = []
        do {
            for index in 0..<server.workers.count {
                let fd = try Socket.listen(on: address, sharing: index == 0 ? .open : .join)
                sockets.append(fd)
                if index == 0 { address = try Socket.localAddress(fd) }
            }
        } catch {
            for fd in sockets { Socket.close(fd) }
            throw error
        }
        self.address = address
        for (worker, fd) in zip(server.workers, sockets) {
            let box = Box()
            listeners.append((worker.loop, box))
            worker.loop.execute { [unowned worker] in
                do {
                    box.listener = try Listener(listening: fd, loop: worker.loop) { connection, _ in
                        worker.serveTLS(fd: connection, acceptor: acceptor)
                    }
                } catch {
                    Socket.close(fd)
                }
            }
        }
    }

    /// Stops accepting TLS connections (open ones are left to the server's shutdown).
    public func close() {
        for (loop, box) in listeners {
            loop.execute { box.listener?.close() }
        }
    }
}

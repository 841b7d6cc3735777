#if canImport(Glibc)
import Glibc
#endif

/// A listening socket on an event loop that hands each accepted connection to `onAccept`.
public final class Listener: EventHandler {
    public let fd: Int32
    public let loop: EventLoop
    /// The bound address (with the real port when port 0 was asked for).
    public let address: SocketAddress
    private let onAccept: (Int32, String) -> Void
    private var closed = false

    /// Binds `address` (sharing the port as `sharing` says) and starts accepting on `loop`.
    public init(address: SocketAddress, sharing: PortSharing, loop: EventLoop,
                onAccept: @escaping (_ fd: Int32, _ peer: String) -> Void) throws {
        fd = try Socket.listen(on: address, sharing: sharing)
        self.loop = loop
        self.onAccept = onAccept
        self.address = (try? Socket.localAddress(fd)) ?? address
        do { try loop.register(fd: fd, events: IOEvents.readable, handler: self) } catch {
            Socket.close(fd)
            throw error
        }
    }

    public func handleEvents(_ events: UInt32) {
        for _ in 0..<64 {
            guard !closed else { return }
            let accepted: Int32?
            do { accepted = try Socket.accept(fd) } catch {
                // EMFILE and friends: stop for this round; the loop will call again.
                return
            }
            guard let connection = accepted else { return }
            onAccept(connection, "client")
        }
    }

    /// Stops accepting and closes the socket.
    public func close() {
        guard !closed else { return }
        closed = true
        loop.unregister(fd: fd)
        Socket.close(fd)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Transport

/// What a new connection speaks, told by its first bytes.
public enum SniffedProtocol: Equatable {
    /// The HTTP/2 client preface (`PRI * HTTP/2.0`): h2c.
    case http2
    /// A TLS record (a ClientHello starts with 0x16).
    case tls
    /// Anything else: an HTTP/1.1 request line.
    case http1

    /// Classifies the first bytes of a connection; nil when more bytes are needed.
    public static func classify(_ bytes: UnsafeRawBufferPointer) -> SniffedProtocol? {
        guard let first = bytes.first else { return nil }
        if first == 0x16 { return .tls }
        let preface: [UInt8] = Array("PRI * HTTP/2.0".utf8)
        let n = min(bytes.count, preface.count)
        for index in 0..<n where bytes[index] != preface[index] { return .http1 }
        return n == preface.count ? .http2 : nil
    }
}

/// Peeks at the first bytes of an accepted connection (MSG_PEEK, nothing consumed) and hands
/// it to the matching protocol handler.
final class ProtocolSniffer: EventHandler {
    let fd: Int32
    let loop: EventLoop
    private var timer: UInt64?
    private var completion: ((SniffedProtocol?) -> Void)?

    /// Starts watching `fd`; `completion` gets the protocol, or nil when the peer closed,
    /// failed or sent nothing within `timeoutNanos` (the caller closes `fd` then).
    init(fd: Int32, loop: EventLoop, timeoutNanos: UInt64, completion: @escaping (SniffedProtocol?) -> Void) throws {
        self.fd = fd
        self.loop = loop
        self.completion = completion
        // Edge-triggered: the bytes are only peeked, so a level-triggered registration would wake
        // the loop again and again while a slow client's first bytes sit in the socket
        // (slowloris: a byte a second would cost a core).
        try loop.register(fd: fd, events: IOEvents.readable | IOEvents.edgeTriggered, handler: self)
        timer = loop.schedule(afterNanos: timeoutNanos) { [weak self] in self?.finish(nil) }
    }

    func handleEvents(_ events: UInt32) {
        var bytes = (UInt64(0), UInt64(0), UInt64(0))
        var n: Int
        repeat {
            n = withUnsafeMutableBytes(of: &bytes) { buffer in recv(fd, buffer.baseAddress, 16, Int32(MSG_PEEK)) }
        } while n < 0 && errno == EINTR
        if n == 0 || (n < 0 && errno != EAGAIN) {
            finish(nil)
            return
        }
        guard n > 0 else { return }
        let kind = withUnsafeBytes(of: &bytes) { SniffedProtocol.classify(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        if let kind { finish(kind) }
    }

    private func finish(_ kind: SniffedProtocol?) {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancelTimer(timer) }
        loop.unregister(fd: fd)
        completion(kind)
    }
}

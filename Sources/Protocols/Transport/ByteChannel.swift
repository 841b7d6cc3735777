/// A non-blocking byte stream over a socket: plain TCP, or TLS layered on it.
///
/// HTTP/2 connections read and write through a channel so the same session code serves h2c
/// and TLS. All calls happen on the owning event loop.
public protocol ByteChannel: AnyObject {
    /// The socket, for epoll registration.
    var fd: Int32 { get }
    /// Reads available bytes into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult
    /// Writes from `buffer`; may take fewer bytes than offered.
    func write(from buffer: UnsafeRawBufferPointer) throws -> IOResult
    /// True when the channel cannot progress until the socket is writable (a TLS handshake
    /// or renegotiation waiting to send), even if the caller has nothing to write.
    var needsWritable: Bool { get }
    /// True when input is already buffered in the channel (decrypted TLS records): read
    /// again without waiting for the socket to become readable.
    var hasBufferedInput: Bool { get }
    /// The negotiated ALPN protocol, when the channel negotiates one.
    var alpnProtocol: String? { get }
    /// Closes the socket (and frees any TLS state).
    func close()
}

/// A channel that negotiates before it carries data (TLS): a failure before `isEstablished`
/// is reported as "cannot connect" rather than "lost the connection".
public protocol EstablishingChannel: ByteChannel {
    /// The negotiation finished (the channel carries data).
    var isEstablished: Bool { get }
}

/// Plain TCP: the socket calls as they are.
public final class PlainChannel: ByteChannel {
    public let fd: Int32
    private var closed = false

    public init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        close()
    }

    @inline(__always)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        try Socket.read(fd, into: buffer)
    }

    @inline(__always)
    public func write(from buffer: UnsafeRawBufferPointer) throws -> IOResult {
        try Socket.write(fd, from: buffer)
    }

    public var needsWritable: Bool { false }
    public var hasBufferedInput: Bool { false }
    public var alpnProtocol: String? { nil }

    public func close() {
        guard !closed else { return }
        closed = true
        Socket.close(fd)
    }
}

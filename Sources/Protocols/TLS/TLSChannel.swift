#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Transport

/// TLS over a non-blocking socket: a `ByteChannel` for HTTP/2 connections.
///
/// Design: OpenSSL reads and writes the socket itself through `SocketBIO` (SSL_set_bio on the
/// fd, MSG_NOSIGNAL sends) rather than through memory BIOs, so there is no second ciphertext
/// buffer to manage; SSL_ERROR_WANT_READ/WANT_WRITE become `.wouldBlock`, and WANT_WRITE while
/// reading or handshaking sets `needsWritable` so the connection also waits for EPOLLOUT.
///
/// The handshake runs inside `read`/`write` (clients) or through `handshake()` driven by
/// `TLSServerAcceptor` (servers). Plaintext a client writes before its handshake finishes is
/// kept here (the HTTP/2 preface and first request) and sent as soon as the handshake completes,
/// so the connection does not spin on EPOLLOUT while waiting for the server's reply.
/// Partial writes (SSL_MODE_ENABLE_PARTIAL_WRITE) and moving write buffers
/// (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) are enabled: callers retry with the same bytes from a
/// buffer that may have moved, which is what `HTTP2Connection`'s pending output does.
public final class TLSChannel: ByteChannel, EstablishingChannel {
    public enum Role: Sendable { case client, server }

    /// Where a handshake stands after a step.
    public enum HandshakeProgress: Equatable, Sendable { case done, wantRead, wantWrite }

    public let fd: Int32
    public let role: Role
    /// The name the client verifies and sends as SNI (nil on servers), for messages.
    public let serverName: String?
    let ssl: OpaquePointer
    private let requiredALPN: String?
    private var closed = false
    private var failure: TLSError?
    private var handshakeWantsWritable = false
    private var readWantsWritable = false
    /// Plaintext written before the handshake finished (client side).
    private var early: [UInt8] = []
    private var earlyOffset = 0
    private static let earlyLimit = 1 << 20

    /// True once the handshake completed (and the ALPN check passed).
    public private(set) var isEstablished = false
    /// The negotiated ALPN protocol, once established.
    public private(set) var alpnProtocol: String?

    /// Takes ownership of `ssl` (which must not have a BIO yet) and binds it to `fd`.
    init(fd: Int32, ssl: OpaquePointer, role: Role, serverName: String?, requiredALPN: String?) throws {
        guard let bio = SocketBIO.make(fd: fd) else {
            SSL_free(ssl)
            throw TLSError.fromQueue("cannot create a socket BIO")
        }
        SSL_set_bio(ssl, bio, bio)
        switch role {
        case .client: SSL_set_connect_state(ssl)
        case .server: SSL_set_accept_state(ssl)
        }
        self.fd = fd
        self.ssl = ssl
        self.role = role
        self.serverName = serverName
        self.requiredALPN = requiredALPN
    }

    deinit {
        close()
    }

    public var needsWritable: Bool {
        !closed && (handshakeWantsWritable || readWantsWritable || (isEstablished && earlyOffset < early.count))
    }

    public var hasBufferedInput: Bool {
        !closed && isEstablished && SSL_pending(ssl) > 0
    }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    public var protocolVersion: String? {
        guard !closed, let name = SSL_get_version(ssl) else { return nil }
        return String(cString: name)
    }

    /// The SHA-256 fingerprint of the peer's certificate (AA:BB:...), once established.
    public var peerCertificateFingerprint: String? {
        guard !closed, let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        return Certificates.fingerprint(certificate)
    }

    // MARK: Handshake

    /// Advances the handshake as far as the socket allows.
    @discardableResult
    public func handshake() throws -> HandshakeProgress {
        if let failure { throw failure }
        if isEstablished { return .done }
        guard !closed else { throw TLSError("TLS channel is closed") }
        ERR_clear_error()
        errno = 0
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeWantsWritable = false
            alpnProtocol = selectedALPN()
            if let requiredALPN, alpnProtocol != requiredALPN {
                let chose = alpnProtocol.map { " (it chose \($0))" } ?? ""
                throw fail(TLSError("server did not negotiate \(requiredALPN)\(chose)"))
            }
            isEstablished = true
            return .done
        }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ:
            handshakeWantsWritable = false
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            handshakeWantsWritable = true
            return .wantWrite
        default:
            throw fail(handshakeError(code: code, errnoValue: errno))
        }
    }

    private func handshakeError(code: Int32, errnoValue: Int32) -> TLSError {
        let (reason, all) = TLSError.drainErrorQueue()
        if role == .client {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                let text = X509_verify_cert_error_string(verify).map { String(cString: $0) } ?? "error \(verify)"
                return TLSError("certificate verify failed: \(text)", openSSLErrors: all)
            }
        }
        if code == SSL_ERROR_SYSCALL && reason == nil {
            if errnoValue == 0 || errnoValue == ECONNRESET || errnoValue == EPIPE {
                let who = role == .client ? "the server" : "the client"
                return TLSError("\(who) closed the connection during the TLS handshake", openSSLErrors: all)
            }
            return TLSError("TLS handshake failed: \(String(cString: strerror(errnoValue)))", openSSLErrors: all)
        }
        if let reason, reason == "unexpected eof while reading" {
            let who = role == .client ? "the server" : "the client"
            return TLSError("\(who) closed the connection during the TLS handshake", openSSLErrors: all)
        }
        return TLSError("TLS handshake failed: \(reason ?? "SSL error \(code)")", openSSLErrors: all)
    }

    private func fail(_ error: TLSError) -> TLSError {
        failure = error
        handshakeWantsWritable = false
        readWantsWritable = false
        return error
    }

    private func selectedALPN() -> String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    // MARK: ByteChannel

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        if let failure { throw failure }
        if closed { return .closed }
        if !isEstablished {
            guard try handshake() == .done else { return .wouldBlock }
        }
        // Bytes written before the handshake finished go first; what the socket refuses now
        // goes out on the next writable event (`needsWritable`).
        if earlyOffset < early.count { _ = try flushEarly() }
        return try readRecords(into: buffer)
    }

    /// Decrypts as many records as fit (one SSL_read returns at most one record, 16 KiB), so
    /// the caller gets a full buffer when that much is there.
    private func readRecords(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        var total = 0
        while total < buffer.count {
            ERR_clear_error()
            errno = 0
            let n = SSL_read(ssl, buffer.baseAddress! + total, Int32(clamping: buffer.count - total))
            if n > 0 {
                readWantsWritable = false
                total += Int(n)
                continue
            }
            let code = SSL_get_error(ssl, n)
            switch code {
            case SSL_ERROR_WANT_READ:
                readWantsWritable = false
                return total > 0 ? .bytes(total) : .wouldBlock
            case SSL_ERROR_WANT_WRITE:
                readWantsWritable = true
                return total > 0 ? .bytes(total) : .wouldBlock
            case SSL_ERROR_ZERO_RETURN:
                // The next read reports the close again.
                return total > 0 ? .bytes(total) : .closed
            default:
                let error = fail(ioError("read", code: code))
                if total > 0 { return .bytes(total) }  // the next call throws `error`
                throw error
            }
        }
        return .bytes(total)
    }

    public func write(from buffer: UnsafeRawBufferPointer) throws -> IOResult {
        if let failure { throw failure }
        if closed { return .closed }
        guard buffer.count > 0 else { return .bytes(0) }
        if !isEstablished {
            let progress = try handshake()
            if progress != .done {
                // Keep what the client wants to send until the handshake is done.
                let room = Self.earlyLimit - (early.count - earlyOffset)
                guard room > 0 else { return .wouldBlock }
                let take = min(room, buffer.count)
                early.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<take]))
                return .bytes(take)
            }
        }
        if earlyOffset < early.count {
            guard try flushEarly() else { return .wouldBlock }
        }
        return try writeRecords(from: buffer)
    }

    /// Sends the bytes written before the handshake finished; true when all went out.
    private func flushEarly() throws -> Bool {
        while earlyOffset < early.count {
            let result = try early.withUnsafeBytes { raw in
                try writeRecords(from: UnsafeRawBufferPointer(rebasing: raw[earlyOffset...]))
            }
            switch result {
            case .bytes(let n): earlyOffset += n
            case .wouldBlock: return false
            case .closed: return false
            }
        }
        early = []
        earlyOffset = 0
        return true
    }

    private func writeRecords(from buffer: UnsafeRawBufferPointer) throws -> IOResult {
        ERR_clear_error()
        errno = 0
        let n = SSL_write(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return .bytes(Int(n)) }
        let code = SSL_get_error(ssl, n)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            throw fail(ioError("write", code: code))
        }
    }

    private func ioError(_ operation: String, code: Int32) -> TLSError {
        let saved = errno
        let (reason, all) = TLSError.drainErrorQueue()
        if code == SSL_ERROR_SYSCALL && reason == nil {
            if saved == 0 { return TLSError("TLS \(operation): the peer closed the connection", openSSLErrors: all) }
            return TLSError("TLS \(operation): \(String(cString: strerror(saved)))", openSSLErrors: all)
        }
        return TLSError("TLS \(operation) failed: \(reason ?? "SSL error \(code)")", openSSLErrors: all)
    }

    /// Sends close_notify when the connection is healthy (best effort, non-blocking), then
    /// frees the TLS state and closes the socket.
    public func close() {
        guard !closed else { return }
        closed = true
        if isEstablished && failure == nil {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
        }
        ERR_clear_error()
        SSL_free(ssl)
        Socket.close(fd)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

/// A BIO over a non-blocking socket that sends with MSG_NOSIGNAL.
///
/// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when the peer has gone;
/// byocctl and tests do not ignore SIGPIPE, so TLS uses this BIO instead. EAGAIN becomes a
/// retry (SSL_ERROR_WANT_READ/WANT_WRITE); the BIO never closes the socket (the channel does).
enum SocketBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "byoc socket")!
        BIO_meth_set_write(method, socketBIOWrite)
        BIO_meth_set_read(method, socketBIORead)
        BIO_meth_set_ctrl(method, socketBIOCtrl)
        BIO_meth_set_create(method, socketBIOCreate)
        return method
    }()

    /// A BIO reading and writing `fd` (not owning it).
    static func make(fd: Int32) -> OpaquePointer? {
        guard let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(fd) + 1))
        BIO_set_init(bio, 1)
        return bio
    }
}

@inline(__always)
private func descriptor(_ bio: OpaquePointer) -> Int32 {
    Int32(truncatingIfNeeded: Int(bitPattern: BIO_get_data(bio)) - 1)
}

private let socketBIOCreate: @convention(c) (OpaquePointer?) -> Int32 = { bio in
    guard let bio else { return 0 }
    BIO_set_init(bio, 0)
    return 1
}

private let socketBIOWrite: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = { bio, data, length in
    guard let bio, let data, length > 0 else { return 0 }
    byoc_bio_clear_retry_flags(bio)
    let fd = descriptor(bio)
    while true {
        let n = send(fd, data, Int(length), Int32(MSG_NOSIGNAL))
        if n >= 0 { return Int32(n) }
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { byoc_bio_set_retry_write(bio) }
        return -1
    }
}

private let socketBIORead: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32 = { bio, data, length in
    guard let bio, let data, length > 0 else { return 0 }
    byoc_bio_clear_retry_flags(bio)
    let fd = descriptor(bio)
    while true {
        let n = recv(fd, data, Int(length), 0)
        if n >= 0 { return Int32(n) }
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { byoc_bio_set_retry_read(bio) }
        return -1
    }
}

private let socketBIOCtrl: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = { _, command, _, _ in
    switch command {
    case BIO_CTRL_FLUSH, BIO_CTRL_DUP: return 1
    default: return 0
    }
}

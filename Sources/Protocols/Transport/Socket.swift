#if canImport(Glibc)
import Glibc
#endif
import CByocSys

/// The outcome of a non-blocking read or write.
public enum IOResult: Equatable {
    /// This many bytes moved (> 0).
    case bytes(Int)
    /// The socket is not ready (EAGAIN).
    case wouldBlock
    /// The peer closed the connection (read returned 0).
    case closed
}

/// A socket address (IPv4 or IPv6) with helpers to resolve and print it.
public struct SocketAddress: CustomStringConvertible, Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    /// Copies a `sockaddr_in`/`sockaddr_in6` into the storage and sets the length.
    private mutating func store<Address>(_ address: Address) {
        withUnsafeBytes(of: address) { raw in
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
        }
        length = socklen_t(MemoryLayout<Address>.size)
    }

    /// Resolves `host` (an IP literal or, failing that, a name via getaddrinfo) and `port`;
    /// throws `ResolveError` when the name does not resolve.
    public init(host: String, port: Int) throws {
        guard (0...65535).contains(port) else { throw SystemError("resolve \(host):\(port)", code: EINVAL) }
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            store(v4)
            return
        }
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            store(v6)
            return
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result, let address = first.pointee.ai_addr else {
            if rc == EAI_SYSTEM { throw SystemError("resolve \(host)", code: errno) }
            throw ResolveError(host: host, code: rc == 0 ? EAI_NONAME : rc)
        }
        defer { freeaddrinfo(result) }
        length = first.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { buffer in
            buffer.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// The address family (AF_INET or AF_INET6).
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order.
    public var port: Int {
        var copy = storage
        return withUnsafeBytes(of: &copy) { raw in
            if family == AF_INET6 {
                return Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
            }
            return Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
        }
    }

    /// The IP address as text.
    public var host: String {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafeMutableBytes(of: &copy) { raw in
            if family == AF_INET6 {
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            } else {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            }
        }
        return String(cString: text)
    }

    /// `HOST:PORT`, with IPv6 hosts in brackets.
    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    fileprivate func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        var copy = storage
        return try withUnsafePointer(to: &copy) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}

/// How a listening socket shares its port with other sockets (SO_REUSEPORT).
public enum PortSharing: Sendable, Equatable {
    /// Alone: the bind fails when any socket holds the address.
    case exclusive
    /// The first socket of a group: the bind fails when any socket holds the address (so a
    /// second process on the same address is refused with EADDRINUSE), then `.join` sockets
    /// may share the port and the kernel spreads connections over them.
    case open
    /// Another socket of a group that a socket of this process opened (the gateway's workers).
    case join
}

/// Socket system calls, each wrapped once: EINTR retried, errors typed.
public enum Socket {
    /// Opens a non-blocking listening TCP socket, sharing the port as `sharing` says.
    public static func listen(on address: SocketAddress, sharing: PortSharing, backlog: Int32 = 1024) throws -> Int32 {
        let fd = try retryingOnInterrupt("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if sharing == .join { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            _ = try address.withSockaddr { pointer, length in
                try retryingOnInterrupt("bind \(address)") { bind(fd, pointer, length) }
            }
            // Bound without SO_REUSEPORT, so the bind failed if any socket held the address;
            // set now (before listen joins the kernel's reuseport group), it lets this
            // process's `.join` sockets share the port, and nobody else's `.open`.
            if sharing == .open { try setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            try retryingOnInterrupt("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The local address a socket is bound to (to learn the port after binding port 0).
    public static func localAddress(_ fd: Int32) throws -> SocketAddress {
        try address(of: fd, "getsockname", getsockname)
    }

    /// The remote address of a connected socket (`getpeername`).
    public static func peerAddress(_ fd: Int32) throws -> SocketAddress {
        try address(of: fd, "getpeername", getpeername)
    }

    /// The address `call` (getsockname or getpeername, named `name` in errors) reports for `fd`.
    private static func address(of fd: Int32, _ name: String,
                                _ call: (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?) -> Int32) throws
        -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                try retryingOnInterrupt(name) { call(fd, address, &length) }
            }
        }
        return SocketAddress(storage: storage, length: length)
    }

    /// Accepts one connection as a non-blocking socket; nil when none is pending.
    public static func accept(_ listener: Int32) throws -> Int32? {
        while true {
            let fd = byoc_accept_nonblocking(listener)
            if fd >= 0 { return fd }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case ECONNABORTED, EPROTO: continue
            default: throw SystemError("accept")
            }
        }
    }

    /// Starts a non-blocking connect; the socket becomes writable when it completes.
    public static func connect(to address: SocketAddress) throws -> Int32 {
        let fd = try retryingOnInterrupt("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        let rc = address.withSockaddr { pointer, length in Glibc.connect(fd, pointer, length) }
        if rc != 0 && errno != EINPROGRESS && errno != EINTR {
            let error = SystemError("connect \(address)")
            close(fd)
            throw error
        }
        return fd
    }

    /// The pending error of a socket (SO_ERROR), 0 when the connect succeeded.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return errno }
        return value
    }

    /// Sets an integer socket option.
    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
        var value = value
        try retryingOnInterrupt("setsockopt") {
            setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Disables Nagle's algorithm: HTTP/2 frames go out as soon as they are written.
    public static func setNoDelay(_ fd: Int32) {
        try? setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Reads into `buffer`.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemError("read")
            }
        }
    }

    /// Writes from `buffer` without raising SIGPIPE.
    public static func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) throws -> IOResult {
        while true {
            let n = send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n == 0 ? .wouldBlock : .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemError("write")
            }
        }
    }

    /// Closes a socket, ignoring errors.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

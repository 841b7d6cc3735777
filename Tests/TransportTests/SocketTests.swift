#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import XCTest
@testable import Transport

final class SocketAddressTests: XCTestCase {
    func testIPv4Literal() throws {
        let address = try SocketAddress(host: "127.0.0.1", port: 8080)
        XCTAssertEqual(address.family, AF_INET)
        XCTAssertEqual(address.port, 8080)
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertEqual(address.description, "127.0.0.1:8080")
        XCTAssertEqual(Int(address.length), MemoryLayout<sockaddr_in>.size)
    }

    func testIPv4Boundaries() throws {
        XCTAssertEqual(try SocketAddress(host: "0.0.0.0", port: 0).description, "0.0.0.0:0")
        XCTAssertEqual(try SocketAddress(host: "255.255.255.255", port: 65535).description, "255.255.255.255:65535")
        // The port is stored big-endian: 0x1F90 = 8080 must not come back as 0x901F.
        XCTAssertEqual(try SocketAddress(host: "10.1.2.3", port: 0x1F90).port, 8080)
    }

    func testIPv6Literals() throws {
        let loopback = try SocketAddress(host: "::1", port: 443)
        XCTAssertEqual(loopback.family, AF_INET6)
        XCTAssertEqual(loopback.host, "::1")
        XCTAssertEqual(loopback.port, 443)
        XCTAssertEqual(loopback.description, "[::1]:443")
        XCTAssertEqual(Int(loopback.length), MemoryLayout<sockaddr_in6>.size)

        let long = try SocketAddress(host: "2001:0db8:0000:0000:0000:0000:0000:0001", port: 9001)
        XCTAssertEqual(long.host, "2001:db8::1", "hosts print in canonical form")
        XCTAssertEqual(long.description, "[2001:db8::1]:9001")

        let any = try SocketAddress(host: "::", port: 1)
        XCTAssertEqual(any.description, "[::]:1")

        let mapped = try SocketAddress(host: "::ffff:10.0.0.1", port: 80)
        XCTAssertEqual(mapped.family, AF_INET6)
        XCTAssertEqual(mapped.host, "::ffff:10.0.0.1")
    }

    func testLocalhostResolves() throws {
        let address = try SocketAddress(host: "localhost", port: 1234)
        XCTAssertTrue(address.family == AF_INET || address.family == AF_INET6)
        XCTAssertEqual(address.port, 1234)
        XCTAssertTrue(["127.0.0.1", "::1"].contains(address.host), "localhost resolved to \(address.host)")
    }

    func testAnUnknownNameIsAResolveErrorNotANetworkError() {
        XCTAssertThrowsError(try SocketAddress(host: "no-such-host.invalid", port: 80)) { error in
            guard let resolve = error as? ResolveError else { return XCTFail("\(type(of: error)): \(error)") }
            XCTAssertEqual(resolve.host, "no-such-host.invalid")
            XCTAssertTrue("\(resolve)".hasPrefix("cannot resolve host \"no-such-host.invalid\": "), "\(resolve)")
            XCTAssertFalse("\(resolve)".contains("no route to host"))
        }
        XCTAssertEqual("\(ResolveError(host: "x", code: EAI_NONAME))", "cannot resolve host \"x\": name or service not known")
    }

    /// Probe for testPortOutOfRangeThrowsInsteadOfTrapping (runs in a child process).
    func testProbePortOutOfRange() throws {
        guard isCrashProbe else { throw XCTSkip("runs only as a crash probe in a child process") }
        XCTAssertThrowsError(try SocketAddress(host: "127.0.0.1", port: 70_000))
        XCTAssertThrowsError(try SocketAddress(host: "127.0.0.1", port: -1))
    }

    /// `SocketAddress(host:port:)` converts with `UInt16(port)`, which traps for ports outside
    /// 0...65535 (e.g. `byoc-echo-model --listen 127.0.0.1:70000`). It should throw.
    func testPortOutOfRangeThrowsInsteadOfTrapping() throws {
        guard !isCrashProbe else { throw XCTSkip("parent-only test") }
        let probe = try runCrashProbe("TransportTests.SocketAddressTests/testProbePortOutOfRange")
        XCTAssertTrue(probe.normalExit && probe.status == 0,
                      "SocketAddress(host:port: 70000) crashed the process (normal exit: \(probe.normalExit), status \(probe.status))")
    }
}

final class SocketTests: XCTestCase {
    private func listenLoopback() throws -> (fd: Int32, port: Int) {
        let fd = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .exclusive)
        return (fd, try Socket.localAddress(fd).port)
    }

    /// Connects to `port` and waits for the connect to complete.
    private func connectLoopback(_ port: Int) throws -> Int32 {
        let fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        XCTAssertNotEqual(pollFD(fd, events: Int16(POLLOUT), milliseconds: 2_000) & Int16(POLLOUT), 0)
        XCTAssertEqual(Socket.pendingError(fd), 0)
        return fd
    }

    private func acceptOne(_ listener: Int32) throws -> Int32 {
        XCTAssertNotEqual(pollFD(listener, events: Int16(POLLIN), milliseconds: 2_000), 0)
        let fd = try XCTUnwrap(try Socket.accept(listener))
        return fd
    }

    func testListenOnPortZeroGivesARealPort() throws {
        let (fd, port) = try listenLoopback()
        defer { Socket.close(fd) }
        XCTAssertGreaterThan(port, 0)
        XCTAssertLessThanOrEqual(port, 65535)
        let local = try Socket.localAddress(fd)
        XCTAssertEqual(local.host, "127.0.0.1")
        XCTAssertEqual(local.family, AF_INET)
    }

    func testAcceptWithNothingPendingReturnsNil() throws {
        let (fd, _) = try listenLoopback()
        defer { Socket.close(fd) }
        XCTAssertNil(try Socket.accept(fd))
    }

    func testReadOnAnIdleSocketWouldBlock() throws {
        let (listener, port) = try listenLoopback()
        defer { Socket.close(listener) }
        let client = try connectLoopback(port)
        defer { Socket.close(client) }
        let server = try acceptOne(listener)
        defer { Socket.close(server) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let result = try buffer.withUnsafeMutableBytes { try Socket.read(server, into: $0) }
        XCTAssertEqual(result, .wouldBlock)
    }

    func testConnectAcceptWriteReadOverLoopback() throws {
        let (listener, port) = try listenLoopback()
        defer { Socket.close(listener) }
        let client = try connectLoopback(port)
        defer { Socket.close(client) }
        let server = try acceptOne(listener)
        defer { Socket.close(server) }

        // 1 MiB of random bytes, written and read concurrently through non-blocking sockets.
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var written = 0
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        let deadline = Date().addingTimeInterval(5)
        while received.count < payload.count, Date() < deadline {
            if written < payload.count {
                let result = try payload.withUnsafeBytes { raw in
                    try Socket.write(client, from: UnsafeRawBufferPointer(rebasing: raw[written...]))
                }
                if case .bytes(let n) = result { written += n }
            }
            let result = try buffer.withUnsafeMutableBytes { try Socket.read(server, into: $0) }
            switch result {
            case .bytes(let n): received += buffer[0..<n]
            case .wouldBlock: _ = pollFD(server, events: Int16(POLLIN), milliseconds: 10)
            case .closed: XCTFail("closed early"); return
            }
        }
        XCTAssertEqual(written, payload.count)
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "bytes arrived altered or out of order")

        // The other direction, and a clean close seen as .closed.
        let reply: [UInt8] = Array("pong".utf8)
        XCTAssertEqual(try reply.withUnsafeBytes { try Socket.write(server, from: $0) }, .bytes(4))
        _ = pollFD(client, events: Int16(POLLIN), milliseconds: 2_000)
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try Socket.read(client, into: $0) }, .bytes(4))
        XCTAssertEqual(Array(buffer[0..<4]), reply)
        Socket.close(server)
        _ = pollFD(client, events: Int16(POLLIN), milliseconds: 2_000)
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try Socket.read(client, into: $0) }, .closed)
    }

    func testWriteToAResetPeerThrowsWithoutSIGPIPE() throws {
        let (listener, port) = try listenLoopback()
        defer { Socket.close(listener) }
        let client = try connectLoopback(port)
        defer { Socket.close(client) }
        let server = try acceptOne(listener)
        // Close with unread data pending -> RST.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(server, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Socket.close(server)
        let chunk = [UInt8](repeating: 1, count: 64 * 1024)
        var failure: SystemError?
        for _ in 0..<200 {
            do { _ = try chunk.withUnsafeBytes { try Socket.write(client, from: $0) } } catch let error as SystemError {
                failure = error
                break
            }
            usleep(1_000)
        }
        let error = try XCTUnwrap(failure, "writing to a reset connection never failed")
        XCTAssertTrue([EPIPE, ECONNRESET].contains(error.code), "unexpected errno \(error.code)")
        XCTAssertEqual(error.operation, "write")
    }

    func testConnectToAClosedPortFails() throws {
        // Find a port nobody listens on: bind one, then close it.
        let (fd, port) = try listenLoopback()
        Socket.close(fd)
        let address = try SocketAddress(host: "127.0.0.1", port: port)
        do {
            let client = try Socket.connect(to: address)
            defer { Socket.close(client) }
            let events = pollFD(client, events: Int16(POLLOUT), milliseconds: 2_000)
            XCTAssertNotEqual(events, 0, "the failed connect never completed")
            XCTAssertEqual(Socket.pendingError(client), ECONNREFUSED)
        } catch let error as SystemError {
            XCTAssertEqual(error.code, ECONNREFUSED)
            XCTAssertTrue(error.operation.hasPrefix("connect 127.0.0.1:\(port)"), error.operation)
        }
    }

    func testListenTwiceOnTheSamePortWithoutReusePortFails() throws {
        let (fd, port) = try listenLoopback()
        defer { Socket.close(fd) }
        XCTAssertThrowsError(try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: port), sharing: .exclusive)) { error in
            XCTAssertEqual((error as? SystemError)?.code, EADDRINUSE)
        }
    }

    func testReusePortLetsTwoListenersShareAPort() throws {
        let first = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .open)
        defer { Socket.close(first) }
        let port = try Socket.localAddress(first).port
        let second = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: port), sharing: .join)
        defer { Socket.close(second) }
        XCTAssertEqual(try Socket.localAddress(second).port, port)
    }

    /// A second process opening its own group on a port in use is refused, whether the port's
    /// holder shares it (another gateway's workers) or not.
    func testOpeningAGroupOnAPortInUseFails() throws {
        let first = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .open)
        defer { Socket.close(first) }
        let port = try Socket.localAddress(first).port
        let joined = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: port), sharing: .join)
        defer { Socket.close(joined) }
        for sharing in [PortSharing.open, .exclusive] {
            XCTAssertThrowsError(try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: port), sharing: sharing)) { error in
                XCTAssertEqual((error as? SystemError)?.code, EADDRINUSE, "\(sharing)")
            }
        }
        let (plain, plainPort) = try listenLoopback()
        defer { Socket.close(plain) }
        XCTAssertThrowsError(try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: plainPort), sharing: .open)) { error in
            XCTAssertEqual((error as? SystemError)?.code, EADDRINUSE)
        }
    }

    func testIPv6LoopbackRoundTrip() throws {
        let listener: Int32
        do { listener = try Socket.listen(on: SocketAddress(host: "::1", port: 0), sharing: .exclusive) } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        defer { Socket.close(listener) }
        let local = try Socket.localAddress(listener)
        XCTAssertEqual(local.family, AF_INET6)
        XCTAssertEqual(local.host, "::1")
        XCTAssertTrue(local.description.hasPrefix("[::1]:"))
        let client = try Socket.connect(to: local)
        defer { Socket.close(client) }
        XCTAssertNotEqual(pollFD(client, events: Int16(POLLOUT), milliseconds: 2_000), 0)
        XCTAssertEqual(Socket.pendingError(client), 0)
        let server = try acceptOne(listener)
        defer { Socket.close(server) }
        XCTAssertEqual(try [UInt8(7)].withUnsafeBytes { try Socket.write(client, from: $0) }, .bytes(1))
        _ = pollFD(server, events: Int16(POLLIN), milliseconds: 2_000)
        var buffer = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(try buffer.withUnsafeMutableBytes { try Socket.read(server, into: $0) }, .bytes(1))
        XCTAssertEqual(buffer[0], 7)
    }
}

final class ListenerTests: XCTestCase {
    func testListenerAcceptsOnItsLoop() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let accepted = Locked<[Int32]>([])
        let onLoop = Locked(true)
        let listener = try thread.sync {
            Result {
                try Listener(address: SocketAddress(host: "127.0.0.1", port: 0), sharing: .open, loop: thread.loop) { fd, _ in
                    if !thread.isOnLoopThread { onLoop.withLock { $0 = false } }
                    accepted.withLock { $0.append(fd) }
                }
            }
        }.get()
        XCTAssertGreaterThan(listener.address.port, 0)
        XCTAssertEqual(listener.address.host, "127.0.0.1")
        var clients: [Int32] = []
        for _ in 0..<3 {
            clients.append(try Socket.connect(to: listener.address))
        }
        XCTAssertTrue(waitUntil { accepted.current.count == 3 })
        XCTAssertTrue(onLoop.current)
        for fd in accepted.current { XCTAssertGreaterThanOrEqual(fd, 0); Socket.close(fd) }
        clients.forEach(Socket.close)

        // After close() the port no longer accepts.
        thread.sync { listener.close() }
        thread.sync { listener.close() }   // idempotent
        let probe = try? Socket.connect(to: listener.address)
        if let probe {
            _ = pollFD(probe, events: Int16(POLLOUT), milliseconds: 2_000)
            XCTAssertEqual(Socket.pendingError(probe), ECONNREFUSED)
            Socket.close(probe)
        }
    }

    /// At the descriptor limit accept fails with EMFILE for the same pending connection every
    /// time: the listener pauses with a backoff instead of being woken again at once, and
    /// resumes (accepting what waited in the backlog) once descriptors are free.
    func testListenerPausesAtTheDescriptorLimitAndResumes() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let accepted = Locked<[Int32]>([])
        let listener = try thread.sync {
            Result {
                try Listener(address: SocketAddress(host: "127.0.0.1", port: 0), sharing: .exclusive, loop: thread.loop) { fd, _ in
                    accepted.withLock { $0.append(fd) }
                }
            }
        }.get()
        defer { thread.sync { listener.close() } }

        var saved = rlimit()
        XCTAssertEqual(getrlimit(RLIMIT_NOFILE_VALUE, &saved), 0)
        // The lowest free descriptor: with the limit just above it, two clients take the last
        // two descriptors and the gateway side has none to accept them with.
        let probe = open("/dev/null", O_RDONLY)
        XCTAssertGreaterThanOrEqual(probe, 0)
        close(probe)
        var low = saved
        low.rlim_cur = rlim_t(probe + 2)
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &low), 0)
        var clients: [Int32] = []
        defer { clients.forEach(Socket.close) }
        var restored = false
        defer { if !restored { var back = saved; _ = setrlimit(RLIMIT_NOFILE_VALUE, &back) } }
        // Another thread of the test process may take a descriptor meanwhile: then only one
        // client gets one, which still leaves the listener none to accept it with.
        for _ in 0..<2 {
            if let fd = try? Socket.connect(to: listener.address) { clients.append(fd) }
        }
        XCTAssertFalse(clients.isEmpty, "no descriptor left for a client")
        XCTAssertTrue(waitUntil(timeout: 5) { thread.sync { listener.pauses } >= 1 }, "the listener pauses on EMFILE")
        usleep(300_000)
        let pauses = thread.sync { listener.pauses }
        // 300 ms of backoff (10, 20, 40, 80, 160 ms ...) allows a handful of retries, not a spin.
        XCTAssertLessThanOrEqual(pauses, 8, "paused \(pauses) times in 300 ms: the listener is spinning")
        XCTAssertEqual(thread.sync { listener.lastPauseError?.code }, EMFILE)
        XCTAssertTrue(accepted.current.isEmpty)

        var back = saved
        XCTAssertEqual(setrlimit(RLIMIT_NOFILE_VALUE, &back), 0)
        restored = true
        XCTAssertTrue(waitUntil(timeout: 5) { accepted.current.count == clients.count },
                      "the listener resumes and accepts the waiting clients")
        accepted.current.forEach(Socket.close)
    }
}

final class SystemErrorTests: XCTestCase {
    func testDescriptionAndRetry() {
        let error = SystemError("connect 1.2.3.4:5", code: ECONNREFUSED)
        XCTAssertEqual(error.reason, String(cString: strerror(ECONNREFUSED)))
        XCTAssertEqual(error.description, "connect 1.2.3.4:5: connection refused")
        var calls = 0
        XCTAssertEqual(try retryingOnInterrupt("x") { () -> Int32 in
            calls += 1
            if calls < 3 { errno = EINTR; return -1 }
            return 42
        }, 42)
        XCTAssertEqual(calls, 3)
        XCTAssertThrowsError(try retryingOnInterrupt("y") { () -> Int32 in errno = EBADF; return -1 }) { error in
            XCTAssertEqual(error as? SystemError, SystemError("y", code: EBADF))
        }
    }
}

/// SIGUSR1 reaches a SignalWatcher's handler on its own thread. The watcher must be created
/// before other threads exist (they would not block the signal, and the kernel keeps delivering
/// a process signal to the same willing thread), so the check runs in a fresh child process.
final class SignalWatcherTests: XCTestCase {
    func testWatcherDeliversSignal() throws {
        guard !isCrashProbe else { throw XCTSkip("parent-only test") }
        // A thread that the test runner started in the child before the watcher existed does
        // not block SIGUSR1; when the kernel picks that thread the child dies of the signal
        // (status SIGUSR1, killed by a signal) before the watcher can see it. That says nothing
        // about the watcher: run the probe again (at most 3 times), fail on anything else.
        var probe = try runCrashProbe("TransportTests.SignalWatcherTests/testProbeWatcherDeliversSignal")
        for _ in 0..<2 where !probe.normalExit && probe.status == SIGUSR1 {
            probe = try runCrashProbe("TransportTests.SignalWatcherTests/testProbeWatcherDeliversSignal")
        }
        XCTAssertTrue(probe.normalExit && probe.status == 0,
                      "SIGUSR1 did not reach the watcher: " + probe.output.split(separator: "\n").filter { $0.contains("error:") }.joined(separator: " | "))
    }

    func testProbeWatcherDeliversSignal() throws {
        guard isCrashProbe else { throw XCTSkip("runs only in a child process") }
        let received = Locked<[Int32]>([])
        let watcher = SignalWatcher(signals: [SIGUSR1]) { number in received.withLock { $0.append(number) } }
        withExtendedLifetime(watcher) {
            kill(getpid(), SIGUSR1)
            XCTAssertTrue(waitUntil(timeout: 5) { !received.current.isEmpty })
            XCTAssertEqual(received.current, [SIGUSR1])
            // SIGPIPE is ignored process-wide once a watcher exists.
            var old = sigaction()
            sigaction(SIGPIPE, nil, &old)
            XCTAssertEqual(unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self), unsafeBitCast(SIG_IGN, to: Int.self))
        }
    }

}

/// RLIMIT_NOFILE as the type getrlimit/setrlimit take on Glibc.
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

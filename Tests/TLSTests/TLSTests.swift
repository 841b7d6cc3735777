#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPC
import HTTP2
import Server
import TestSupport
import TLS
import Transport
import XCTest

/// TLS end to end over loopback: GRPCServer + TLSListeners/TLSServerAcceptor on the server,
/// GRPCClient with a TLSClientContext (or a bare TLSChannel) on the client.
final class TLSTests: XCTestCase {
    private var directory: URL!
    private var servers: [GRPCServer] = []
    private var listeners: [TLSListeners] = []

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("byoc-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for listener in listeners { listener.close() }
        for server in servers { server.shutdown() }
        listeners = []
        servers = []
        try? FileManager.default.removeItem(at: directory)
        super.tearDown()
    }

    // MARK: helpers

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Generates a certificate into NAME-cert.pem / NAME-key.pem.
    @discardableResult
    private func makeCertificate(_ name: String, _ spec: CertificateSpec = CertificateSpec()) throws -> (cert: String, key: String, generated: GeneratedCertificate) {
        let generated = try Certificates.selfSigned(spec)
        let cert = path("\(name)-cert.pem")
        let key = path("\(name)-key.pem")
        try generated.write(certificatePath: cert, keyPath: key)
        return (cert, key, generated)
    }

    private struct Running {
        var context: TLSServerContext
        var acceptor: TLSServerAcceptor
        var server: GRPCServer
        var tlsPort: Int
        var plainPort: Int
    }

    /// A GRPCServer with an echo method, plus a TLS port on its workers.
    private func startServer(cert: String, key: String, alpn: [String] = ["h2", "http/1.1"], workers: Int = 1,
                             handshakeTimeoutNanos: UInt64 = 10_000_000_000) throws -> Running {
        let context = try TLSServerContext(certificatePath: cert, keyPath: key, alpnProtocols: alpn)
        let acceptor = TLSServerAcceptor(context: context, handshakeTimeoutNanos: handshakeTimeoutNanos)
        let server = GRPCServer(config: GRPCServerConfig(host: "127.0.0.1", port: 0, workers: workers))
        try server.start { _, loop in
            UnaryDispatcher(loop: loop, maxMessageBytes: 1 << 20, handlers: [
                "/test.Echo/Echo": { call, message in call.respond(message) },
            ])
        }
        servers.append(server)
        let tls = try TLSListeners(server: server, address: SocketAddress(host: "127.0.0.1", port: 0), acceptor: acceptor)
        listeners.append(tls)
        return Running(context: context, acceptor: acceptor, server: server, tlsPort: tls.address.port,
                       plainPort: server.boundAddress!.port)
    }

    private func echo(_ client: GRPCClient, _ text: String = "hello over TLS") async throws -> String {
        let response = try await client.unary(path: "/test.Echo/Echo", request: Array(text.utf8), timeoutMs: 5_000)
        return String(decoding: response.message, as: UTF8.self)
    }

    /// The message of the GRPCStatus a failing call throws.
    private func failure(_ client: GRPCClient) async -> String {
        do {
            _ = try await echo(client)
            return "no error"
        } catch let status as GRPCStatus {
            return "\(status.code.name): \(status.message)"
        } catch {
            return "\(error)"
        }
    }

    /// A blocking client handshake on a fresh socket (for ALPN, fingerprints and raw errors).
    private func handshake(port: Int, _ context: TLSClientContext, serverName: String = "localhost") throws -> TLSChannel {
        let fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        XCTAssertTrue(poll(fd, Int16(POLLOUT)))
        let channel = try context.makeChannel(fd: fd, serverName: serverName)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            switch try channel.handshake() {
            case .done: return channel
            case .wantRead: _ = poll(fd, Int16(POLLIN))
            case .wantWrite: _ = poll(fd, Int16(POLLOUT))
            }
        }
        channel.close()
        throw TLSError("test handshake timed out")
    }

    private func poll(_ fd: Int32, _ events: Int16, timeoutMs: Int32 = 5_000) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        return Glibc.poll(&entry, 1, timeoutMs) == 1
    }

    private func handshakeError(port: Int, _ context: TLSClientContext, serverName: String = "localhost") -> String {
        do {
            let channel = try handshake(port: port, context, serverName: serverName)
            channel.close()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    // MARK: tests

    func testUnaryOverTLSNegotiatesH2() async throws {
        let (cert, key, generated) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key)
        let clientContext = try TLSClientContext(caFile: cert)

        let channel = try handshake(port: running.tlsPort, clientContext)
        XCTAssertEqual(channel.alpnProtocol, "h2")
        XCTAssertTrue(channel.isEstablished)
        XCTAssertEqual(channel.protocolVersion, "TLSv1.3")
        XCTAssertEqual(channel.peerCertificateFingerprint, generated.sha256Fingerprint)
        XCTAssertEqual(running.context.fingerprint, generated.sha256Fingerprint)
        channel.close()

        let client = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: clientContext, serverName: "localhost")
        XCTAssertEqual(client.scheme, "https")
        let answer = try await echo(client)
        XCTAssertEqual(answer, "hello over TLS")
        // Larger than one TLS record, several times over, both ways.
        let big = String(repeating: "0123456789abcdef", count: 40_000)
        let bigAnswer = try await echo(client, big)
        XCTAssertEqual(bigAnswer, big)
        // Verification by IP address (the SAN has IP:127.0.0.1).
        let byIP = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: clientContext)
        let answerByIP = try await echo(byIP)
        XCTAssertEqual(answerByIP, "hello over TLS")
        client.close()
        byIP.close()
    }

    func testManyConcurrentCallsOverTLS() async throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key, workers: 2)
        let client = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: try TLSClientContext(caFile: cert),
                                serverName: "localhost")
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let text = String(repeating: "x", count: index * 1000)
                    let response = try await client.unary(path: "/test.Echo/Echo", request: Array(text.utf8), timeoutMs: 10_000)
                    return response.message == Array(text.utf8)
                }
            }
            for try await ok in group { XCTAssertTrue(ok) }
        }
        client.close()
    }

    func testWrongCAFailsVerification() async throws {
        let (cert, key, _) = try makeCertificate("server")
        let (otherCert, _, _) = try makeCertificate("other")
        let running = try startServer(cert: cert, key: key)
        let context = try TLSClientContext(caFile: otherCert)
        XCTAssertEqual(handshakeError(port: running.tlsPort, context), "certificate verify failed: self-signed certificate")
        let client = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: context, serverName: "localhost")
        let message = await failure(client)
        XCTAssertEqual(message, "UNAVAILABLE: cannot connect to 127.0.0.1:\(running.tlsPort): certificate verify failed: self-signed certificate")
        // The server is fine afterwards.
        let good = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: try TLSClientContext(caFile: cert), serverName: "localhost")
        let answer = try await echo(good)
        XCTAssertEqual(answer, "hello over TLS")
    }

    func testExpiredCertificateFails() async throws {
        let (cert, key, _) = try makeCertificate("expired", CertificateSpec(notBeforeOffset: -10 * 86_400, notAfterOffset: -86_400))
        XCTAssertLessThan(try Certificates.secondsUntilExpiry(pemFile: cert), 0)
        let running = try startServer(cert: cert, key: key)
        let context = try TLSClientContext(caFile: cert)
        XCTAssertEqual(handshakeError(port: running.tlsPort, context), "certificate verify failed: certificate has expired")
        let client = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: context, serverName: "localhost")
        let message = await failure(client)
        XCTAssertTrue(message.hasSuffix("certificate verify failed: certificate has expired"), message)
    }

    func testHostnameAndIPMismatchFail() async throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key)
        let context = try TLSClientContext(caFile: cert)
        XCTAssertEqual(handshakeError(port: running.tlsPort, context, serverName: "api.example.com"),
                       "certificate verify failed: hostname mismatch")
        XCTAssertEqual(handshakeError(port: running.tlsPort, context, serverName: "10.1.2.3"),
                       "certificate verify failed: IP address mismatch")
        let client = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: context, serverName: "api.example.com")
        let message = await failure(client)
        XCTAssertTrue(message.hasSuffix("certificate verify failed: hostname mismatch"), message)
        // Insecure skips verification (development).
        let insecure = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: try TLSClientContext(insecure: true),
                                  serverName: "api.example.com")
        let answer = try await echo(insecure)
        XCTAssertEqual(answer, "hello over TLS")
    }

    func testServerWithoutH2IsRefusedClearly() throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key, alpn: ["http/1.1"])
        XCTAssertEqual(handshakeError(port: running.tlsPort, try TLSClientContext(caFile: cert)),
                       "server did not negotiate h2")
        let both = try TLSClientContext(caFile: cert, alpnProtocols: ["h2", "http/1.1"])
        XCTAssertEqual(handshakeError(port: running.tlsPort, both), "server did not negotiate h2 (it chose http/1.1)")
        let any = try TLSClientContext(caFile: cert, alpnProtocols: ["h2", "http/1.1"], requiredALPN: nil)
        let channel = try handshake(port: running.tlsPort, any)
        XCTAssertEqual(channel.alpnProtocol, "http/1.1")
        channel.close()
    }

    func testServerPrefersH2OverHTTP1() throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key)
        let context = try TLSClientContext(caFile: cert, alpnProtocols: ["http/1.1", "h2"])
        let channel = try handshake(port: running.tlsPort, context)
        XCTAssertEqual(channel.alpnProtocol, "h2")
        channel.close()
    }

    func testReloadServesNewCertificateAndKeepsOpenConnections() async throws {
        let (cert, key, first) = try makeCertificate("live")
        let running = try startServer(cert: cert, key: key)
        let firstPEM = path("first.pem")
        try first.certificatePEM.write(toFile: firstPEM, atomically: true, encoding: .utf8)

        // An open connection that trusts only the first certificate.
        let old = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: try TLSClientContext(caFile: firstPEM),
                             serverName: "localhost")
        let before = try await echo(old, "before reload")
        XCTAssertEqual(before, "before reload")

        // Replace the files and reload.
        let second = try Certificates.selfSigned(CertificateSpec())
        try second.write(certificatePath: cert, keyPath: key)
        let reloaded = try running.context.reload()
        XCTAssertEqual(reloaded, second.sha256Fingerprint)
        XCTAssertNotEqual(first.sha256Fingerprint, second.sha256Fingerprint)

        // New connections see the new certificate...
        let fresh = try handshake(port: running.tlsPort, try TLSClientContext(insecure: true))
        XCTAssertEqual(fresh.peerCertificateFingerprint, second.sha256Fingerprint)
        fresh.close()
        XCTAssertEqual(handshakeError(port: running.tlsPort, try TLSClientContext(caFile: firstPEM)),
                       "certificate verify failed: self-signed certificate")
        // ...while the open connection keeps working (a reconnect would fail verification).
        let after = try await echo(old, "after reload")
        XCTAssertEqual(after, "after reload")
        old.close()

        // A broken file keeps the current certificate.
        try "not a certificate".write(toFile: cert, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try running.context.reload()) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot load the TLS certificate"), "\(error)")
        }
        XCTAssertEqual(running.context.fingerprint, second.sha256Fingerprint)
        let still = try handshake(port: running.tlsPort, try TLSClientContext(insecure: true))
        XCTAssertEqual(still.peerCertificateFingerprint, second.sha256Fingerprint)
        still.close()
    }

    func testPlainTextToTLSPortFailsWithoutHurtingTheWorker() async throws {
        let (cert, key, _) = try makeCertificate("server")
        let failures = Locked<[String]>([])
        let running = try startServer(cert: cert, key: key)
        running.acceptor.onFailure = { error in failures.withLock { $0.append(error.message) } }

        // The HTTP/2 client preface in clear text: the handshake fails and the socket closes.
        let fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: running.tlsPort))
        XCTAssertTrue(poll(fd, Int16(POLLOUT)))
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
        _ = preface.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var closed = false
        let deadline = Date().addingTimeInterval(5)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline, !closed {
            guard poll(fd, Int16(POLLIN), timeoutMs: 1_000) else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 || (n < 0 && errno != EAGAIN) { closed = true }
        }
        Socket.close(fd)
        XCTAssertTrue(closed, "the server should close a plain-text connection on the TLS port")

        // An h2c gRPC client on the TLS port fails.
        let plain = GRPCClient(host: "127.0.0.1", port: running.tlsPort)
        let message = await failure(plain)
        XCTAssertTrue(message.hasPrefix("UNAVAILABLE"), message)

        // The worker still serves TLS.
        let good = GRPCClient(host: "127.0.0.1", port: running.tlsPort, tls: try TLSClientContext(caFile: cert), serverName: "localhost")
        let answer = try await echo(good)
        XCTAssertEqual(answer, "hello over TLS")
        XCTAssertTrue(waitUntil { !failures.withLock { $0.isEmpty } })
        XCTAssertTrue(failures.withLock { $0.first?.hasPrefix("TLS handshake failed") ?? false }, "\(failures.withLock { $0 })")
    }

    func testTLSClientToPlainPortFailsClearly() async throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key)
        let client = GRPCClient(host: "127.0.0.1", port: running.plainPort, tls: try TLSClientContext(caFile: cert),
                                serverName: "localhost")
        let message = await failure(client)
        XCTAssertTrue(message.hasPrefix("UNAVAILABLE: cannot connect to 127.0.0.1:\(running.plainPort): "), message)
    }

    func testSilentClientTimesOut() throws {
        let (cert, key, _) = try makeCertificate("server")
        let running = try startServer(cert: cert, key: key, handshakeTimeoutNanos: 200_000_000)
        let fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: running.tlsPort))
        defer { Socket.close(fd) }
        XCTAssertTrue(poll(fd, Int16(POLLIN), timeoutMs: 3_000), "the server should close a silent connection")
        var byte: UInt8 = 0
        XCTAssertEqual(recv(fd, &byte, 1, 0), 0)
    }

    func testDevCertificateIsGeneratedOnceAndReused() throws {
        let state = path("state")
        let first = try DevCertificate.ensure(stateDir: state)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.certPath))
        let attributes = try FileManager.default.attributesOfItem(atPath: first.keyPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try Certificates.fingerprint(pemFile: first.certPath), first.sha256Fingerprint)
        XCTAssertEqual(first.sha256Fingerprint.count, 32 * 3 - 1)
        let days = try Certificates.secondsUntilExpiry(pemFile: first.certPath) / 86_400
        XCTAssertTrue((363...366).contains(days), "\(days) days")
        let second = try DevCertificate.ensure(stateDir: state)
        XCTAssertEqual(first.certPath, second.certPath)
        XCTAssertEqual(first.sha256Fingerprint, second.sha256Fingerprint)
        // It serves, and verifies for localhost and 127.0.0.1.
        let running = try startServer(cert: first.certPath, key: first.keyPath)
        let context = try TLSClientContext(caFile: first.certPath)
        try handshake(port: running.tlsPort, context, serverName: "localhost").close()
        try handshake(port: running.tlsPort, context, serverName: "127.0.0.1").close()
    }

    func testConfigurationErrorsAreOneLine() throws {
        let (cert, key, _) = try makeCertificate("server")
        let (_, otherKey, _) = try makeCertificate("other")
        XCTAssertThrowsError(try TLSServerContext(certificatePath: path("missing.pem"), keyPath: key)) { error in
            XCTAssertEqual("\(error)", "cannot read the TLS certificate \(self.path("missing.pem"))")
        }
        XCTAssertThrowsError(try TLSServerContext(certificatePath: cert, keyPath: otherKey)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot load the TLS key") || "\(error)".hasPrefix("the TLS key"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
        XCTAssertThrowsError(try TLSClientContext(caFile: path("missing-ca.pem"))) { error in
            XCTAssertEqual("\(error)", "cannot read the CA file \(self.path("missing-ca.pem"))")
        }
        XCTAssertNoThrow(try TLSClientContext())  // system trust store
    }
}

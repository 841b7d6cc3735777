#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
import HTTP1
import Transport

final class HTTPServerTests: XCTestCase {
    var server: TestHTTPServer!

    override func tearDown() {
        server?.stop()
        server = nil
    }

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        for _ in 0..<3 {
            client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = client.readResponse()
            XCTAssertEqual(r?.status, 200)
            XCTAssertEqual(r?.body, "hi\n")
            XCTAssertNil(r?.headers["connection"])
        }
        XCTAssertEqual(server.connectionCount, 1)
        XCTAssertEqual(server.counters.requests, 3)
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("GET /later HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /items/7 HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.body, "later\n")
        XCTAssertEqual(client.readResponse()?.body, "hello")
        XCTAssertEqual(client.readResponse()?.body, "item 7\n")
    }

    func testDeepPipelineDoesNotRecurse() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        let count = 5000
        let writer = Thread { client.send(String(repeating: "GET /hello HTTP/1.1\r\n\r\n", count: count)) }
        writer.start()
        for index in 0..<count {
            guard client.readResponse()?.status == 200 else { return XCTFail("response \(index) missing") }
        }
        XCTAssertEqual(server.counters.requests, count)
    }

    func testAsyncHandler() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("GET /async HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.body, "async\n")
    }

    func testConnectionCloseIsHonoured() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
        let r = client.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.headers["connection"], "close")
        XCTAssertTrue(client.closedByPeer())
    }

    func testHTTP10ClosesUnlessKeepAlive() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.headers["connection"], "keep-alive")
        client.send("GET /hello HTTP/1.0\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        XCTAssertTrue(client.closedByPeer())
    }

    func testHeadHasLengthButNoBody() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("HEAD /hello HTTP/1.1\r\n\r\n")
        let r = client.readResponse(head: true)
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.headers["content-length"], "3")
        client.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.body, "hi\n", "no body bytes were left over from HEAD")
    }

    func testNotFoundAndMethodNotAllowed() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("GET /nope HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 404)
        client.send("DELETE /hello HTTP/1.1\r\n\r\n")
        let r = client.readResponse()
        XCTAssertEqual(r?.status, 405)
        XCTAssertEqual(r?.headers["allow"], "GET, HEAD")
    }

    func testExpectContinueGetsA100() throws {
        server = try TestHTTPServer()
        let client = try RawClient(port: server.port)
        client.send("POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = client.readSome() ?? []
        XCTAssertTrue(String(decoding: interim, as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue\r\n\r\n"))
        client.send("data")
        XCTAssertEqual(client.readResponse()?.body, "data")
    }

    /// A refused request gets its status, the connection closes, and other clients go on.
    private func assertRefused(_ request: String, status: Int, limits: HTTPLimits = HTTPLimits(),
                               file: StaticString = #filePath, line: UInt = #line) throws {
        server = try TestHTTPServer(limits: limits)
        let other = try RawClient(port: server.port)
        other.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertEqual(other.readResponse()?.status, 200, file: file, line: line)
        let bad = try RawClient(port: server.port)
        bad.send(request)
        let r = bad.readResponse()
        XCTAssertEqual(r?.status, status, file: file, line: line)
        XCTAssertEqual(r?.headers["connection"], "close", file: file, line: line)
        XCTAssertTrue(bad.closedByPeer(), "the refused connection closes", file: file, line: line)
        other.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertEqual(other.readResponse()?.status, 200, "another client is not affected", file: file, line: line)
        XCTAssertEqual(server.counters.refused[status], 1, file: file, line: line)
        server.stop()
        server = nil
    }

    func testOversizedHeadersGet431() throws {
        try assertRefused("GET /hello HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n", status: 431)
        let many = (0..<70).map { "X-\($0): v\r\n" }.joined()
        try assertRefused("GET /hello HTTP/1.1\r\n\(many)\r\n", status: 431)
    }

    func testSmugglingAttemptGets400() throws {
        try assertRefused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\n\r\n",
                          status: 400)
    }

    func testBigBodyGets413() throws {
        try assertRefused("POST /echo HTTP/1.1\r\nContent-Length: \(2 << 20)\r\n\r\n" + String(repeating: "x", count: 1000), status: 413)
    }

    func testLongURLGets414() throws {
        try assertRefused("GET /\(String(repeating: "u", count: 9000)) HTTP/1.1\r\n\r\n", status: 414)
    }

    func testSlowLorisIsDroppedWhileOthersAreServed() throws {
        var limits = HTTPLimits()
        limits.headerTimeoutNanos = 300_000_000
        server = try TestHTTPServer(limits: limits)
        let slow = try RawClient(port: server.port)
        slow.send("GET /hello HTTP/1.1\r\n")
        let started = Date()
        var dropped = false
        var served = 0
        // Trickle a header byte every 50 ms (each arrives well within any per-read timeout)
        // while a well-behaved client is served at once each time.
        while Date().timeIntervalSince(started) < 3 {
            if !slow.send("X") { dropped = true; break }
            let good = try RawClient(port: server.port)
            good.setTimeout(1)
            good.send("GET /hello HTTP/1.1\r\n\r\n")
            XCTAssertEqual(good.readResponse()?.status, 200)
            served += 1
            usleep(50_000)
            slow.setTimeout(0.01)
            if let bytes = slow.readSome(), !bytes.isEmpty {
                XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 408 "))
                dropped = true
                break
            } else if slow.readSome() == nil {
                dropped = true
                break
            }
        }
        XCTAssertTrue(dropped, "the slow client was dropped")
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 2)
        XCTAssertGreaterThan(served, 2)
        XCTAssertEqual(server.counters.timeouts, 1)
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        var limits = HTTPLimits()
        limits.idleTimeoutNanos = 200_000_000
        server = try TestHTTPServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let started = Date()
        XCTAssertTrue(client.closedByPeer())
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertTrue(waitFor { self.server.connectionCount == 0 })
    }

    func testSilentConnectionTimesOut() throws {
        var limits = HTTPLimits()
        limits.headerTimeoutNanos = 200_000_000
        server = try TestHTTPServer(limits: limits)
        let client = try RawClient(port: server.port)
        client.send("G")
        let r = client.readResponse()
        XCTAssertEqual(r?.status, 408)
        XCTAssertTrue(client.closedByPeer())
    }

    func testAuthorizationHook() throws {
        final class TokenCheck: HTTPAuthorizer {
            func authorize(_ request: HTTPRequest, loop: EventLoop, decide: @escaping (HTTPAuthDecision) -> Void) {
                guard let header = request.header("authorization"), header.hasPrefix("Bearer "),
                      case let token = String(header.dropFirst(7)), !token.isEmpty else { return decide(.unauthenticated()) }
                // Decided later, as an async token lookup would.
                loop.execute { decide(token == "s3cret" ? .allow(principal: "admin") : .permissionDenied("wrong scope")) }
            }
        }
        server = try TestHTTPServer(authorizer: TokenCheck())
        let client = try RawClient(port: server.port)
        client.send("GET /private HTTP/1.1\r\n\r\n")
        let denied = client.readResponse()
        XCTAssertEqual(denied?.status, 401)
        XCTAssertEqual(denied?.headers["www-authenticate"], "Bearer")
        XCTAssertTrue(denied?.body.contains("\"UNAUTHENTICATED\"") ?? false)
        client.send("GET /private HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 403)
        client.send("GET /private HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.body, "hello admin\n")
        client.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200, "open routes need no token")
    }

    func testManyConnectionsAndCloseAll() throws {
        server = try TestHTTPServer()
        var clients: [RawClient] = []
        for _ in 0..<20 {
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\n\r\n")
            clients.append(c)
        }
        for c in clients { XCTAssertEqual(c.readResponse()?.status, 200) }
        XCTAssertEqual(server.connectionCount, 20)
        clients.removeAll()
        XCTAssertTrue(waitFor { self.server.connectionCount == 0 })
    }

    private func waitFor(_ timeout: Double = 3, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return false
    }
}

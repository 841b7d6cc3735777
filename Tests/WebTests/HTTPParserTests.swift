import XCTest
import HTTP1

final class HTTPParserTests: XCTestCase {
    private func feed(_ parser: HTTPRequestParser, _ text: String) -> (consumed: Int, event: HTTPParseEvent) {
        Array(text.utf8).withUnsafeBytes { parser.feed($0) }
    }

    private func request(_ event: HTTPParseEvent, file: StaticString = #filePath, line: UInt = #line) -> HTTPRequest? {
        if case .request(let r) = event { return r }
        XCTFail("expected a request, got \(event)", file: file, line: line)
        return nil
    }

    private func failure(_ event: HTTPParseEvent, file: StaticString = #filePath, line: UInt = #line) -> HTTPParseFailure? {
        if case .failure(let f) = event { return f }
        XCTFail("expected a failure, got \(event)", file: file, line: line)
        return nil
    }

    func testSimpleGet() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        let r = request(feed(parser, "GET /metrics?x=1&y=a%20b HTTP/1.1\r\nHost: h\r\nX-A:  v \r\n\r\n").event)
        XCTAssertEqual(r?.method, "GET")
        XCTAssertEqual(r?.path, "/metrics")
        XCTAssertEqual(r?.queryItems["y"], "a b")
        XCTAssertEqual(r?.header("x-a"), "v")
        XCTAssertEqual(r?.header("HOST"), "h")
        XCTAssertTrue(parser.keepAlive)
    }

    func testPipelinedRequestsStopAfterEachMessage() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        let text = "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
        let bytes = Array(text.utf8)
        let first = bytes.withUnsafeBytes { parser.feed($0) }
        XCTAssertEqual(request(first.event)?.path, "/a")
        XCTAssertEqual(first.consumed, "GET /a HTTP/1.1\r\n\r\n".utf8.count)
        let second = bytes[first.consumed...].withUnsafeBytes { parser.feed($0) }
        let r = request(second.event)
        XCTAssertEqual(r?.path, "/b")
        XCTAssertEqual(r.map { String(decoding: $0.body, as: UTF8.self) }, "xyz")
    }

    func testByteAtATime() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        let bytes = Array("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8)
        var got: HTTPRequest?
        for (index, byte) in bytes.enumerated() {
            let result = [byte].withUnsafeBytes { parser.feed($0) }
            if case .request(let r) = result.event {
                got = r
                XCTAssertEqual(index, bytes.count - 1)
            } else if case .failure(let f) = result.event {
                XCTFail("\(f)")
            }
        }
        XCTAssertEqual(got.map { String(decoding: $0.body, as: UTF8.self) }, "abcde")
    }

    func testContentLengthAndTransferEncodingIsRefused() {
        for order in ["Content-Length: 4\r\nTransfer-Encoding: chunked", "Transfer-Encoding: chunked\r\nContent-Length: 4"] {
            let parser = HTTPRequestParser(limits: HTTPLimits())
            let f = failure(feed(parser, "POST /echo HTTP/1.1\r\nHost: x\r\n\(order)\r\n\r\n0\r\n\r\n").event)
            XCTAssertEqual(f?.status, 400, order)
        }
    }

    func testConflictingContentLengthsAreRefused() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(failure(feed(parser, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").event)?.status, 400)
    }

    func testUnsupportedTransferEncodingIsRefused() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(failure(feed(parser, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").event)?.status, 400)
    }

    func testTooManyHeaders() {
        var limits = HTTPLimits()
        limits.maxHeaderCount = 5
        let parser = HTTPRequestParser(limits: limits)
        let headers = (0..<6).map { "X-\($0): v\r\n" }.joined()
        XCTAssertEqual(failure(feed(parser, "GET / HTTP/1.1\r\n\(headers)\r\n").event)?.status, 431)
        let ok = HTTPRequestParser(limits: limits)
        let five = (0..<5).map { "X-\($0): v\r\n" }.joined()
        XCTAssertNotNil(request(feed(ok, "GET / HTTP/1.1\r\n\(five)\r\n").event))
    }

    func testHeaderBytes() {
        var limits = HTTPLimits()
        limits.maxHeaderBytes = 100
        let parser = HTTPRequestParser(limits: limits)
        // One header line that never ends: refused while it is still arriving.
        let result = feed(parser, "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 200))
        XCTAssertEqual(failure(result.event)?.status, 431)
    }

    func testDefaultHeaderLimitIs16KiB() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertNotNil(request(feed(parser, "GET / HTTP/1.1\r\nX-A: \(String(repeating: "a", count: 15_000))\r\n\r\n").event))
        let big = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(failure(feed(big, "GET / HTTP/1.1\r\nX-A: \(String(repeating: "a", count: 17_000))\r\n\r\n").event)?.status, 431)
    }

    func testURLTooLong() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(failure(feed(parser, "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\n\r\n").event)?.status, 414)
    }

    func testBodyLimitFromContentLength() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let parser = HTTPRequestParser(limits: limits)
        XCTAssertEqual(failure(feed(parser, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n").event)?.status, 413)
    }

    func testBodyLimitChunked() {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 10
        let parser = HTTPRequestParser(limits: limits)
        let f = failure(feed(parser, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n").event)
        XCTAssertEqual(f?.status, 413)
    }

    func testConnectionSemantics() {
        let close = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertNotNil(request(feed(close, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").event))
        XCTAssertFalse(close.keepAlive)
        let old = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(request(feed(old, "GET / HTTP/1.0\r\n\r\n").event)?.version, "HTTP/1.0")
        XCTAssertFalse(old.keepAlive)
        let oldKeep = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertNotNil(request(feed(oldKeep, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").event))
        XCTAssertTrue(oldKeep.keepAlive)
    }

    func testExpectContinue() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        let result = feed(parser, "POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        guard case .needMore = result.event else { return XCTFail("\(result.event)") }
        XCTAssertTrue(parser.wantsContinue)
        parser.wantsContinue = false
        XCTAssertNotNil(request(feed(parser, "ok").event))
    }

    func testGarbageIsRefused() {
        let parser = HTTPRequestParser(limits: HTTPLimits())
        XCTAssertEqual(failure(feed(parser, "\u{1}\u{2}\u{3} nonsense\r\n\r\n").event)?.status, 400)
    }

    func testRouterMatchesParamsAndMethods() {
        let router = HTTPRouter()
        router.add("GET", "/api/v1/models/{model}") { _, _ in }
        router.add("DELETE", "/api/v1/models/{model}") { _, _ in }
        guard case .found(_, let params, _) = router.match(method: "GET", path: "/api/v1/models/ir%69s") else { return XCTFail() }
        XCTAssertEqual(params["model"], "iris")
        guard case .found = router.match(method: "HEAD", path: "/api/v1/models/x") else { return XCTFail("HEAD uses GET") }
        guard case .methodNotAllowed(let allowed) = router.match(method: "POST", path: "/api/v1/models/x") else { return XCTFail() }
        XCTAssertEqual(Set(allowed), ["GET", "HEAD", "DELETE"])
        guard case .notFound = router.match(method: "GET", path: "/api/v1/models") else { return XCTFail() }
        XCTAssertTrue(router.servesPath("/api/v1/models/x?y=1"))
        XCTAssertFalse(router.servesPath("/byoc.v1.Inference/Predict"))
    }
}

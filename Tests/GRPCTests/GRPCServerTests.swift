#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Server
import TestSupport
import XCTest
@testable import GRPC
@testable import HTTP2
import Transport

/// GRPCServer + UnaryDispatcher over real loopback sockets, driven by an HTTP2Connection client.
final class GRPCServerTests: XCTestCase {
    private var server: GRPCServer?
    private var client: TestClient?

    override func tearDown() {
        client?.shutdown()
        server?.shutdown()
        client = nil
        server = nil
        super.tearDown()
    }

    /// Starts a server with an echo handler at /test.Echo/Echo plus `handlers`, and a client.
    @discardableResult
    private func start(maxMessageBytes: Int = 8 << 20, handlers: [String: UnaryCall.Handler] = [:],
                       wrap: ((GRPCCallDispatcher) -> GRPCCallDispatcher)? = nil) throws -> TestClient {
        var all = handlers
        all["/test.Echo/Echo"] = { call, message in call.respond(message) }
        let (server, port) = try startServer { _, loop in
            let dispatcher = UnaryDispatcher(loop: loop, maxMessageBytes: maxMessageBytes, handlers: all)
            return wrap?(dispatcher) ?? dispatcher
        }
        self.server = server
        let client = try TestClient(port: port)
        self.client = client
        return client
    }

    func testUnaryRoundTrip() throws {
        let client = try start()
        let message = Array("hello, gRPC".utf8)
        let call = client.unary("/test.Echo/Echo", message)
        XCTAssertEqual(call.reason, .finished)
        XCTAssertEqual(call.httpStatus, "200")
        XCTAssertEqual(call.responseHeaders?[field: "content-type"], "application/grpc")
        XCTAssertNil(call.responseHeaders?[field: "grpc-status"], "a normal response has status in the trailers")
        XCTAssertEqual(call.trailers, [HeaderField("grpc-status", "0")])
        XCTAssertEqual(call.body, GRPCFraming.frame(message))
        XCTAssertEqual(call.messages, [message])
        XCTAssertTrue(call.ended)
    }

    func testEmptyMessageRoundTrip() throws {
        let client = try start()
        let call = client.unary("/test.Echo/Echo", [])
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.body, [0, 0, 0, 0, 0])
    }

    func testManyCallsOnOneConnectionConcurrently() throws {
        let client = try start()
        var calls: [(CallRecorder, [UInt8])] = []
        for index in 0..<50 {
            let message = randomBytes(index * 100)
            let (stream, recorder) = client.start(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"),
                                                  body: GRPCFraming.frame(message))
            XCTAssertNotNil(stream)
            calls.append((recorder, message))
        }
        for (recorder, message) in calls {
            recorder.wait()
            XCTAssertEqual(recorder.grpcStatus, 0)
            XCTAssertEqual(recorder.messages, [message])
        }
    }

    func testFourMiBMessageSplitAcrossManyDataFrames() throws {
        var counting: CountingDispatcher?
        let client = try start(wrap: { inner in
            let wrapped = CountingDispatcher(inner)
            counting = wrapped
            return wrapped
        })
        let message = randomBytes(4 << 20)
        let call = client.unary("/test.Echo/Echo", message, timeout: 20)
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.body.count, message.count + 5)
        XCTAssertTrue(call.messages == [message], "the echoed 4 MiB message differs")
        // 16 KiB frames: at least 4 MiB / 16 KiB DATA chunks in each direction.
        XCTAssertGreaterThanOrEqual(counting?.dataCalls.current ?? 0, 256)
        XCTAssertGreaterThanOrEqual(call.dataCalls, 256)
    }

    func testUnknownPathIsTrailersOnlyUnimplemented() throws {
        let client = try start()
        let call = client.unary("/test.Echo/Nope", [1, 2, 3])
        XCTAssertEqual(call.httpStatus, "200")
        XCTAssertEqual(call.responseHeaders?[field: "content-type"], "application/grpc")
        XCTAssertEqual(call.grpcStatus, 12)
        XCTAssertNotNil(call.responseHeaders?[field: "grpc-status"], "status must be in the single HEADERS frame")
        XCTAssertNil(call.trailers, "trailers-only: no second header block")
        XCTAssertEqual(call.grpcMessage, "unknown method /test.Echo/Nope")
        XCTAssertEqual(call.body, [])
        XCTAssertEqual(call.headersSeen, 1)
    }

    func testWrongContentTypeIs415() throws {
        let client = try start()
        for contentType in ["application/json", "text/plain", ""] {
            let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo", contentType: contentType),
                                  body: GRPCFraming.frame([1]))
            XCTAssertEqual(call.httpStatus, "415", contentType)
            XCTAssertEqual(call.responseHeaders?[field: "content-type"], "text/plain")
            XCTAssertNil(call.grpcStatus)
            XCTAssertEqual(String(decoding: call.body, as: UTF8.self),
                           "content-type must be application/grpc, got \"\(contentType)\"\n")
        }
        let missing = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo", contentType: nil), body: [])
        XCTAssertEqual(missing.httpStatus, "415")
    }

    func testGRPCContentTypeVariantsAreAccepted() throws {
        let client = try start()
        for contentType in ["application/grpc+proto", "application/grpc;charset=utf-8"] {
            let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo", contentType: contentType),
                                  body: GRPCFraming.frame([4]))
            XCTAssertEqual(call.grpcStatus, 0, contentType)
            XCTAssertEqual(call.messages, [[4]])
        }
    }

    func testNonPostIs405() throws {
        let client = try start()
        let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo", method: "PUT"), body: GRPCFraming.frame([1]))
        XCTAssertEqual(call.httpStatus, "405")
        XCTAssertEqual(String(decoding: call.body, as: UTF8.self), "gRPC calls use POST\n")
    }

    /// A request header list over the limit (16 KiB, or 100 fields) is answered with a
    /// trailers-only RESOURCE_EXHAUSTED naming the limit, not a bare RST_STREAM (which gRPC
    /// clients show as INTERNAL); the connection serves the next call.
    func testRequestHeadersOverTheLimitAreResourceExhausted() throws {
        let client = try start()
        let big = client.unary("/test.Echo/Echo", [1], extra: [HeaderField("x-pad", String(repeating: "p", count: 20 << 10))])
        XCTAssertEqual(big.grpcStatus, 8)
        XCTAssertEqual(big.grpcMessage, "request headers exceed 16384 bytes (name, value and 32 bytes per field)")
        XCTAssertNotNil(big.responseHeaders?[field: "grpc-status"], "trailers-only")
        let many = client.unary("/test.Echo/Echo", [1], extra: (0..<120).map { HeaderField("x-h\($0)", "v") })
        XCTAssertEqual(many.grpcStatus, 8)
        XCTAssertEqual(many.grpcMessage, "request headers exceed 100 fields")
        let next = client.unary("/test.Echo/Echo", [7])
        XCTAssertEqual(next.grpcStatus, 0)
        XCTAssertEqual(next.messages, [[7]])
        let plain = client.raw(headers: TestClient.requestHeaders(path: "/x", contentType: "text/plain")
                                   + [HeaderField("x-pad", String(repeating: "p", count: 20 << 10))], body: [])
        XCTAssertEqual(plain.httpStatus, "431")
    }

    func testMalformedTimeoutIsInvalidArgument() throws {
        let client = try start()
        let call = client.unary("/test.Echo/Echo", [1], extra: [HeaderField("grpc-timeout", "1x")])
        XCTAssertEqual(call.grpcStatus, 3)
        XCTAssertEqual(call.grpcMessage, "malformed grpc-timeout \"1x\"")
    }

    func testDeadlineExceededWhenTheHandlerNeverAnswers() throws {
        let cancelled = Locked(0)
        let client = try start(handlers: ["/test.Slow/Never": { call, _ in
            call.onCancel = { cancelled.withLock { $0 += 1 } }
        }])
        let call = client.unary("/test.Slow/Never", [1], extra: [HeaderField("grpc-timeout", "50m")])
        XCTAssertEqual(call.grpcStatus, 4)
        XCTAssertEqual(call.grpcMessage, "deadline exceeded")
        XCTAssertGreaterThanOrEqual(call.elapsedMs, 45)
        XCTAssertLessThan(call.elapsedMs, 400, "DEADLINE_EXCEEDED came \(call.elapsedMs) ms after the call started")
        XCTAssertTrue(waitUntil { cancelled.current == 1 }, "onCancel runs once when the deadline passes")
    }

    func testDeadlineNotHitWhenTheHandlerAnswersInTime() throws {
        let client = try start(handlers: ["/test.Slow/Later": { call, message in
            call.loop.schedule(afterNanos: 20_000_000) { call.respond(message) }
        }])
        let call = client.unary("/test.Slow/Later", [7], extra: [HeaderField("grpc-timeout", "2S")])
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.messages, [[7]])
    }

    /// grpc-timeout "99999999H" (the largest the header can say, ~11,000 years) parses to
    /// UInt64.max; the call must not expire at once.
    func testHugeTimeoutDoesNotExpireImmediately() throws {
        let client = try start(handlers: ["/test.Slow/Later": { call, message in
            call.loop.schedule(afterNanos: 30_000_000) { call.respond(message) }
        }])
        for timeout in ["99999999H", "5124095H"] {
            let call = client.unary("/test.Slow/Later", [7], extra: [HeaderField("grpc-timeout", timeout)])
            XCTAssertEqual(call.grpcStatus, 0, "grpc-timeout \(timeout): got \(call.grpcStatus.map(String.init) ?? "nil") \(call.grpcMessage ?? "")")
        }
    }

    func testClientResetCallsOnCancel() throws {
        let handlerRan = DispatchSemaphore(value: 0)
        let cancelled = Locked(0)
        let finishedAfterCancel = Locked<Bool?>(nil)
        let client = try start(handlers: ["/test.Slow/Never": { call, _ in
            call.onCancel = {
                cancelled.withLock { $0 += 1 }
                finishedAfterCancel.withLock { $0 = call.isFinished }
            }
            handlerRan.signal()
        }])
        let (stream, recorder) = client.start(headers: TestClient.requestHeaders(path: "/test.Slow/Never"),
                                              body: GRPCFraming.frame([1]))
        let clientStream = try XCTUnwrap(stream)
        XCTAssertEqual(handlerRan.wait(timeout: .now() + 5), .success)
        client.thread.sync { clientStream.reset(8) }   // CANCEL
        recorder.wait()
        XCTAssertEqual(recorder.reason, .reset(8))
        XCTAssertTrue(waitUntil { cancelled.current == 1 }, "UnaryCall.onCancel was not called after RST_STREAM")
        XCTAssertEqual(finishedAfterCancel.current, true)
        usleep(50_000)
        XCTAssertEqual(cancelled.current, 1, "onCancel must run exactly once")
    }

    func testRespondFromAnotherThreadThroughExecute() throws {
        let client = try start(handlers: ["/test.Async/Echo": { call, message in
            DispatchQueue.global().async {
                let reply = message.reversed() as [UInt8]
                call.loop.execute { call.respond(reply) }
            }
        }])
        let call = client.unary("/test.Async/Echo", [1, 2, 3])
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.messages, [[3, 2, 1]])
    }

    func testHandlerFailurePercentEncodesTheMessage() throws {
        let client = try start(handlers: ["/test.Fail/Fail": { call, _ in
            call.fail(GRPCStatus(.notFound, "modèle 100% absent\n"))
        }])
        let call = client.unary("/test.Fail/Fail", [])
        XCTAssertEqual(call.grpcStatus, 5)
        XCTAssertEqual(call.responseHeaders?[field: "grpc-message"], "mod%C3%A8le 100%25 absent%0A")
        XCTAssertEqual(call.grpcMessage, "modèle 100% absent\n")
        XCTAssertNil(call.trailers)
    }

    func testResponseMetadataIsSentWithTheHeaders() throws {
        let client = try start(handlers: ["/test.Meta/Call": { call, message in
            call.responseMetadata = [HeaderField("x-served-by", "unit-test")]
            call.respond(message)
        }])
        let call = client.unary("/test.Meta/Call", [1])
        XCTAssertEqual(call.responseHeaders?[field: "x-served-by"], "unit-test")
        XCTAssertEqual(call.grpcStatus, 0)
    }

    func testRespondTwiceSendsOneResponse() throws {
        let client = try start(handlers: ["/test.Twice/Call": { call, _ in
            call.respond([1])
            call.respond([2])
            call.fail(GRPCStatus(.internal, "late"))
        }])
        let call = client.unary("/test.Twice/Call", [])
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.messages, [[1]])
    }

    func testRequestMessageLimit() throws {
        let client = try start(maxMessageBytes: 1024)
        XCTAssertEqual(client.unary("/test.Echo/Echo", [UInt8](repeating: 1, count: 1024)).grpcStatus, 0)
        let tooLarge = client.unary("/test.Echo/Echo", [UInt8](repeating: 1, count: 1025))
        XCTAssertEqual(tooLarge.grpcStatus, 8)
        XCTAssertEqual(tooLarge.grpcMessage, "message of 1025 bytes is larger than the limit of 1024 bytes")
    }

    func testTwoMessagesInAUnaryCallIsInvalidArgument() throws {
        let client = try start()
        let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"),
                              body: GRPCFraming.frame([1]) + GRPCFraming.frame([2]))
        XCTAssertEqual(call.grpcStatus, 3)
        XCTAssertEqual(call.grpcMessage, "a unary call takes exactly one request message")
    }

    func testNoMessageIsInvalidArgument() throws {
        let client = try start()
        let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), body: [])
        XCTAssertEqual(call.grpcStatus, 3)
        XCTAssertEqual(call.grpcMessage, "the request has no message")
    }

    func testTruncatedMessageIsInvalidArgument() throws {
        let client = try start()
        let call = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), body: [0, 0, 0, 0, 10, 1, 2])
        XCTAssertEqual(call.grpcStatus, 3)
        XCTAssertEqual(call.grpcMessage, "the stream ended inside a gRPC message")
    }

    func testBadCompressedFlags() throws {
        let client = try start()
        let flag2 = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), body: [2, 0, 0, 0, 0])
        XCTAssertEqual(flag2.grpcStatus, 3)
        XCTAssertEqual(flag2.grpcMessage, "invalid gRPC message: compressed flag 2 is neither 0 nor 1")
        let flag1 = client.raw(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), body: [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(flag1.grpcStatus, 3)
        XCTAssertEqual(flag1.grpcMessage, "compressed gRPC message without grpc-encoding")
    }

    func testShutdownWithAnOpenIdleConnectionIsQuick() throws {
        let client = try start()
        XCTAssertEqual(client.unary("/test.Echo/Echo", [1]).grpcStatus, 0)
        let started = Date()
        server?.shutdown()
        server = nil
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5, "an idle connection must not wait for the grace period")
        XCTAssertEqual(client.didClose.wait(timeout: .now() + 2), .success, "the client connection did not close")
        XCTAssertNotNil(client.goaway)
        XCTAssertEqual(client.goaway?.1, 0, "GOAWAY with NO_ERROR")
    }

    func testShutdownLetsAnInFlightCallFinish() throws {
        let handlerRan = DispatchSemaphore(value: 0)
        let client = try start(handlers: ["/test.Slow/Later": { call, message in
            handlerRan.signal()
            call.loop.schedule(afterNanos: 150_000_000) { call.respond(message) }
        }])
        let (_, recorder) = client.start(headers: TestClient.requestHeaders(path: "/test.Slow/Later"), body: GRPCFraming.frame([5]))
        XCTAssertEqual(handlerRan.wait(timeout: .now() + 5), .success)
        server?.shutdown()
        server = nil
        recorder.wait()
        XCTAssertEqual(recorder.grpcStatus, 0)
        XCTAssertEqual(recorder.messages, [[5]])
    }

    func testTwoWorkersShareThePort() throws {
        let (server, port) = try startServer(workers: 2) { _, loop in
            UnaryDispatcher(loop: loop, maxMessageBytes: 1024, handlers: ["/test.Echo/Echo": { call, message in call.respond(message) }])
        }
        self.server = server
        XCTAssertEqual(server.workers.count, 2)
        for index in 0..<6 {
            let client = try TestClient(port: port)
            XCTAssertEqual(client.unary("/test.Echo/Echo", [UInt8(index)]).messages, [[UInt8(index)]])
            client.shutdown()
        }
    }

    func testGarbageInsteadOfThePrefaceClosesTheConnection() throws {
        try start()
        let port = try XCTUnwrap(server?.boundAddress?.port)
        let fd = try Socket.connect(to: SocketAddress(host: "127.0.0.1", port: port))
        defer { Socket.close(fd) }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, 2_000)
        let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = try request.withUnsafeBytes { try Socket.write(fd, from: $0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var sawClose = false
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, 100)
            let result = try? buffer.withUnsafeMutableBytes { try Socket.read(fd, into: $0) }
            if result == .closed || result == nil { sawClose = true; break }
        }
        XCTAssertTrue(sawClose, "the server kept a non-HTTP/2 connection open")
    }
}

/// A dispatcher whose calls record the server stream's state flags at each event.
final class StateProbeDispatcher: GRPCCallDispatcher {
    struct Snapshot: Equatable {
        var headersSent: Bool
        var localClosed: Bool
        var isClosed: Bool
        var remoteEnded: Bool
    }

    let log = Locked<[(String, Snapshot)]>([])
    let mode: String

    init(mode: String) { self.mode = mode }

    func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? { Probe(self) }

    func record(_ event: String, _ stream: HTTP2Stream) {
        let snapshot = Snapshot(headersSent: stream.headersSent, localClosed: stream.localClosed,
                                isClosed: stream.isClosed, remoteEnded: stream.remoteEnded)
        log.withLock { $0.append((event, snapshot)) }
    }

    final class Probe: HTTP2StreamDelegate {
        let owner: StateProbeDispatcher
        init(_ owner: StateProbeDispatcher) { self.owner = owner }

        func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
            owner.record("headers", stream)
        }
        func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) { stream.consume(data.count) }
        func streamEnded(_ stream: HTTP2Stream) {
            owner.record("ended", stream)
            switch owner.mode {
            case "full":
                stream.sendHeaders(GRPCResponses.responseHeaders(), endStream: false)
                owner.record("sentHeaders", stream)
                stream.sendHeaders([HeaderField(":status", "500")], endStream: true)   // ignored
                owner.record("sentHeadersAgain", stream)
                stream.write(GRPCFraming.frame([1, 2]))
                let queued = stream.queuedOutboundBytes
                owner.log.withLock { $0.append(("queued=\(queued)", Snapshot(headersSent: true, localClosed: false, isClosed: false, remoteEnded: true))) }
                stream.finish(trailers: GRPCResponses.trailers(.ok))
                owner.record("finished", stream)
                stream.write([9, 9, 9])   // after finish: ignored
                let after = stream.queuedOutboundBytes
                owner.log.withLock { $0.append(("queuedAfterFinish=\(after)", Snapshot(headersSent: true, localClosed: true, isClosed: false, remoteEnded: true))) }
            case "trailersOnly":
                GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.aborted, "no"))
                owner.record("trailersOnly", stream)
            default:
                stream.reset(2)
                owner.record("reset", stream)
            }
        }
        func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
            owner.record("closed", stream)
        }
    }
}

final class HTTP2StreamStateTests: XCTestCase {
    private func run(mode: String) throws -> ([(String, StateProbeDispatcher.Snapshot)], CallRecorder) {
        let probe = StateProbeDispatcher(mode: mode)
        let (server, port) = try startServer { _, _ in probe }
        defer { server.shutdown() }
        let client = try TestClient(port: port)
        defer { client.shutdown() }
        let call = client.unary("/test.State/Probe", [0])
        XCTAssertTrue(waitUntil { probe.log.current.contains { $0.0 == "closed" } })
        return (probe.log.current, call)
    }

    private typealias S = StateProbeDispatcher.Snapshot

    func testServerStreamStateThroughAFullResponse() throws {
        let (log, call) = try run(mode: "full")
        XCTAssertEqual(log.map(\.0), ["headers", "ended", "sentHeaders", "sentHeadersAgain", "queued=7", "finished",
                                      "queuedAfterFinish=7", "closed"])
        let states = Dictionary(log.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(states["headers"], S(headersSent: false, localClosed: false, isClosed: false, remoteEnded: false))
        XCTAssertEqual(states["ended"], S(headersSent: false, localClosed: false, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["sentHeaders"], S(headersSent: true, localClosed: false, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["sentHeadersAgain"], S(headersSent: true, localClosed: false, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["finished"], S(headersSent: true, localClosed: true, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["closed"], S(headersSent: true, localClosed: true, isClosed: true, remoteEnded: true))
        XCTAssertEqual(call.httpStatus, "200", "the second sendHeaders must be ignored")
        XCTAssertEqual(call.messages, [[1, 2]])
        XCTAssertEqual(call.grpcStatus, 0)
        XCTAssertEqual(call.reason, .finished)
    }

    func testServerStreamStateForTrailersOnly() throws {
        let (log, call) = try run(mode: "trailersOnly")
        let states = Dictionary(log.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(states["trailersOnly"], S(headersSent: true, localClosed: true, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["closed"]?.isClosed, true)
        XCTAssertEqual(call.grpcStatus, 10)
        XCTAssertEqual(call.grpcMessage, "no")
    }

    func testServerStreamStateForReset() throws {
        let (log, call) = try run(mode: "reset")
        let states = Dictionary(log.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(states["reset"], S(headersSent: false, localClosed: true, isClosed: false, remoteEnded: true))
        XCTAssertEqual(states["closed"]?.isClosed, true)
        XCTAssertEqual(call.reason, .reset(2))
        XCTAssertNil(call.responseHeaders)
    }

    func testClientStreamState() throws {
        let (server, port) = try startServer { _, loop in
            UnaryDispatcher(loop: loop, maxMessageBytes: 1024, handlers: ["/test.Echo/Echo": { call, message in
                call.loop.schedule(afterNanos: 20_000_000) { call.respond(message) }
            }])
        }
        defer { server.shutdown() }
        let client = try TestClient(port: port)
        defer { client.shutdown() }
        let recorder = CallRecorder()
        let opened = client.thread.sync { () -> (HTTP2Stream?, Bool, Bool, Bool) in
            let stream = client.connection.openStream(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), delegate: recorder)
            stream?.write(GRPCFraming.frame([3]))
            return (stream, stream?.localClosed ?? true, stream?.isClosed ?? true, stream?.remoteEnded ?? true)
        }
        let stream = try XCTUnwrap(opened.0)
        XCTAssertFalse(opened.1)
        XCTAssertFalse(opened.2)
        XCTAssertFalse(opened.3)
        XCTAssertEqual(client.thread.sync { stream.id }, 1, "the first client stream is stream 1")
        XCTAssertEqual(client.thread.sync { () -> Bool in stream.finish(); return stream.localClosed }, true)
        recorder.wait()
        XCTAssertEqual(client.thread.sync { stream.isClosed }, true)
        XCTAssertEqual(client.thread.sync { stream.remoteEnded }, true)
        XCTAssertEqual(recorder.messages, [[3]])
        XCTAssertNil(client.thread.sync { stream.delegate }, "a closed stream drops its delegate")
    }

    /// `headersSent` is documented as "true once response (server) or request (client) headers
    /// have been submitted", but `openStream` never sets it for client streams.
    func testClientStreamHeadersSentAfterOpenStream() throws {
        let (server, port) = try startServer { _, loop in
            UnaryDispatcher(loop: loop, maxMessageBytes: 1024, handlers: ["/test.Echo/Echo": { call, message in call.respond(message) }])
        }
        defer { server.shutdown() }
        let client = try TestClient(port: port)
        defer { client.shutdown() }
        let recorder = CallRecorder()
        let headersSent = client.thread.sync { () -> Bool? in
            let stream = client.connection.openStream(headers: TestClient.requestHeaders(path: "/test.Echo/Echo"), delegate: recorder)
            stream?.write(GRPCFraming.frame([3]))
            stream?.finish()
            return stream?.headersSent
        }
        recorder.wait()
        XCTAssertEqual(headersSent, true, "HTTP2Stream.headersSent is false on a client stream whose request headers were submitted")
    }
}

final class HTTP2ConnectionTests: XCTestCase {
    final class Owner: HTTP2ConnectionDelegate {
        var connected = false
        var closeError: HTTP2ConnectionError?
        let closed = DispatchSemaphore(value: 0)
        func connectionDidConnect(_ connection: HTTP2Connection) { connected = true }
        func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {
            closeError = error
            closed.signal()
        }
    }

    func testConnectToAClosedPortFailsTheConnectionAndItsStreams() throws {
        let fd = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .exclusive)
        let port = try Socket.localAddress(fd).port
        Socket.close(fd)
        let thread = try LoopThread()
        defer { thread.stop() }
        let owner = Owner()
        let recorder = CallRecorder()
        let result = thread.sync { () -> Result<HTTP2Connection, Error> in
            Result {
                let connection = try HTTP2Connection(connectingTo: SocketAddress(host: "127.0.0.1", port: port), loop: thread.loop,
                                                     settings: HTTP2Settings(), delegate: owner)
                let stream = connection.openStream(headers: TestClient.requestHeaders(path: "/x.Y/Z"), delegate: recorder)
                stream?.finish()
                return connection
            }
        }
        switch result {
        case .failure(let error):
            XCTAssertEqual((error as? SystemError)?.code, ECONNREFUSED)
        case .success(let connection):
            XCTAssertEqual(owner.closed.wait(timeout: .now() + 5), .success)
            recorder.wait()
            XCTAssertEqual(recorder.reason, .connectFailed)
            XCTAssertEqual(owner.closeError?.kind, .connectFailed)
            XCTAssertFalse(owner.connected)
            XCTAssertTrue(thread.sync { connection.isClosed })
            XCTAssertNil(thread.sync { connection.openStream(headers: [], delegate: recorder) }, "a closed connection opens no stream")
        }
    }

    func testServerRoleCannotOpenStreams() throws {
        // Build a connected pair by hand: the accepted side is a server connection.
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .exclusive)
        defer { Socket.close(listener) }
        let client = try Socket.connect(to: Socket.localAddress(listener))
        defer { Socket.close(client) }
        var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, 2_000)
        let accepted = try XCTUnwrap(try Socket.accept(listener))
        let thread = try LoopThread()
        defer { thread.stop() }
        let owner = Owner()
        let connection = try thread.syncThrowing {
            try HTTP2Connection(acceptedFD: accepted, peer: "test", loop: thread.loop, settings: HTTP2Settings(), delegate: owner)
        }
        XCTAssertEqual(connection.role, .server)
        XCTAssertNil(thread.sync { connection.openStream(headers: [], delegate: CallRecorder()) })
        thread.sync { connection.close() }
        XCTAssertEqual(owner.closed.wait(timeout: .now() + 2), .success)
        XCTAssertNil(owner.closeError)
    }
}

/// Small pure helpers of the GRPC module.
final class GRPCHelpersTests: XCTestCase {
    func testStatusCodesAndNames() {
        XCTAssertEqual(GRPCStatusCode.allCases.count, 17)
        XCTAssertEqual(GRPCStatusCode.allCases.map(\.rawValue), Array(0...16))
        XCTAssertEqual(GRPCStatusCode.notFound.name, "NOT_FOUND")
        XCTAssertEqual(GRPCStatusCode.deadlineExceeded.name, "DEADLINE_EXCEEDED")
        XCTAssertEqual(GRPCStatus(.unavailable, "down").description, "UNAVAILABLE: down")
        XCTAssertEqual(GRPCStatus.ok.description, "OK")
    }

    func testTrailersAndResponseHeaders() {
        XCTAssertEqual(GRPCResponses.trailers(.ok), [HeaderField("grpc-status", "0")])
        XCTAssertEqual(GRPCResponses.trailers(GRPCStatus(.internal, "a%b")),
                       [HeaderField("grpc-status", "13"), HeaderField("grpc-message", "a%25b")])
        XCTAssertEqual(GRPCResponses.responseHeaders(extra: [HeaderField("x", "y")]),
                       [HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"), HeaderField("x", "y")])
    }

    func testRequestHeadPathParts() {
        var head = GRPCRequestHead(path: "/byoc.v1.Inference/Predict", headers: HeaderBlock([HeaderField("byoc-model", "iris")]),
                                   deadline: nil, encoding: nil, receivedAt: 0)
        XCTAssertEqual(head.method, "Predict")
        XCTAssertEqual(head.metadata("byoc-model"), "iris")
        XCTAssertNil(head.metadata("byoc-version"))
        head.path = "/"
        XCTAssertEqual(head.method, "")
        head.path = ""
        XCTAssertEqual(head.method, "")
    }

    func testHeaderFieldSubscriptReturnsTheFirst() {
        let headers = [HeaderField("a", "1"), HeaderField("b", "2"), HeaderField("a", "3")]
        XCTAssertEqual(headers[field: "a"], "1")
        XCTAssertNil(headers[field: "A"], "names are compared as given (lower case in HTTP/2)")
    }
}

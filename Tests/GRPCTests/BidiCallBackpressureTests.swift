import GRPC
import HTTP2
import Transport
import XCTest

/// A `BidiCall` whose client does not read: request handling pauses once `pauseBytes` of
/// responses wait, the requests after that stay in the client's window, and handling resumes
/// (every request answered, in order) once the client reads. Two sessions wired in memory.
final class BidiCallBackpressureTests: XCTestCase {
    /// The server side: each request stream becomes a `BidiCall` answering every request with
    /// a 4 KiB message that starts with the request.
    private final class Server: HTTP2SessionDriver, HTTP2StreamDelegate {
        let loop: EventLoop
        var call: BidiCall?
        var handled = 0

        init(loop: EventLoop) { self.loop = loop }

        override func session(_ session: HTTP2Session, didOpen stream: HTTP2Stream) { stream.delegate = self }

        func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
            let head = GRPCRequestHead(path: "/test.Bidi/Chat", headers: headers, deadline: nil, encoding: nil, receivedAt: 0)
            let call = BidiCall(stream: stream, head: head, loop: loop, maxMessageBytes: 1 << 20) { [unowned self] call, message in
                self.handled += 1
                call.send(message + [UInt8](repeating: 0x61, count: 4096 - message.count))
            }
            self.call = call
            stream.delegate = call
        }

        func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) { stream.consume(data.count) }
        func streamEnded(_ stream: HTTP2Stream) {}
        func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {}
    }

    /// The client's stream: keeps what arrives and does not consume it until told to.
    private final class Reader: HTTP2StreamDelegate {
        var data: [UInt8] = []
        var consumed = 0
        var closed: StreamCloseReason?

        func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {}
        func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) { self.data += data }
        func streamEnded(_ stream: HTTP2Stream) {}
        func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) { closed = reason }

        /// Returns what arrived to the server's window (the client reads).
        func read(_ stream: HTTP2Stream) {
            stream.consume(data.count - consumed)
            consumed = data.count
        }
    }

    private func pump(_ a: HTTP2Session, _ b: HTTP2Session) throws {
        for _ in 0..<10_000 {
            let sent = try transfer(from: a, to: b)
            let answered = try transfer(from: b, to: a)
            if !sent && !answered { return }
        }
        XCTFail("the sessions never went quiet")
    }

    private func transfer(from: HTTP2Session, to: HTTP2Session) throws -> Bool {
        var bytes: [UInt8] = []
        while let chunk = try from.nextOutput() { bytes += chunk }
        from.notifyDrained()
        guard !bytes.isEmpty else { return false }
        try bytes.withUnsafeBytes { try to.receive($0) }
        return true
    }

    func testAClientThatDoesNotReadPausesRequestHandlingUntilItReads() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { scratch.deallocate() }
        let loop = try EventLoop(name: "bidi-test")
        let server = Server(loop: loop)
        let serverSession = try HTTP2Session(role: .server, settings: HTTP2Settings(), headerScratch: scratch)
        serverSession.driver = server
        var clientSettings = HTTP2Settings()
        clientSettings.initialWindowSize = 64 << 10  // the server may send 64 KiB before the client reads
        let clientSession = try HTTP2Session(role: .client, settings: clientSettings, headerScratch: scratch)
        let clientDriver = HTTP2SessionDriver()
        clientSession.driver = clientDriver
        try pump(clientSession, serverSession)

        let reader = Reader()
        let requests = 2000
        let stream = try XCTUnwrap(clientSession.openStream(delegate: reader) { writer in
            writer.append(contentsOf: [HeaderField(":method", "POST"), HeaderField(":scheme", "http"),
                                       HeaderField(":authority", "test"), HeaderField(":path", "/test.Bidi/Chat"),
                                       HeaderField("content-type", "application/grpc")])
        })
        for i in 0..<requests { stream.write(GRPCFraming.frame(Array("request \(i)".utf8))) }
        try pump(clientSession, serverSession)

        let call = try XCTUnwrap(server.call)
        XCTAssertTrue(call.isPaused)
        XCTAssertGreaterThan(call.queuedBytes, BidiCall.resumeBytes, "the client's 64 KiB window took some, not enough to resume")
        let framed = 4096 + GRPCFraming.prefixLength
        XCTAssertEqual(server.handled, (BidiCall.pauseBytes + framed - 1) / framed,
                       "handling stops at the first response that reaches pauseBytes")

        // The client reads: the backlog drains below resumeBytes, handling resumes, and so on.
        var rounds = 0
        while (server.handled < requests || reader.data.count < requests * framed) && rounds < 10_000 {
            reader.read(stream)
            try pump(clientSession, serverSession)
            rounds += 1
        }
        XCTAssertEqual(server.handled, requests)
        XCTAssertEqual(reader.data.count, requests * framed)
        // In order: response i starts with request i.
        let last = Array(reader.data[((requests - 1) * framed + GRPCFraming.prefixLength)...].prefix(12))
        XCTAssertEqual(String(decoding: last, as: UTF8.self), "request 1999")
        XCTAssertFalse(call.isPaused)
        XCTAssertNil(reader.closed, "nothing reset the stream")
    }
}

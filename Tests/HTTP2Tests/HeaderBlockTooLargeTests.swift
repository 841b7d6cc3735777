import HTTP2
import XCTest

/// A header block nghttp2 refuses to send (over the session's send limit) closes its stream
/// with INTERNAL_ERROR at once on both sides. Before, a response or trailer block that could
/// not be sent left the stream open with nothing on the wire: the peer waited for ever.
final class HeaderBlockTooLargeTests: XCTestCase {
    private let huge = HeaderField("x-huge", String(repeating: "h", count: 100_000))

    private func servedStream(_ pair: SessionPair, _ response: StreamRecorder) throws -> (HTTP2Stream, StreamRecorder) {
        let stream = try XCTUnwrap(pair.openStream(response))
        stream.finish()
        pair.pump()
        return pair.server.opened[0]
    }

    func testResponseHeadersTooLargeToSendResetTheStream() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let (served, request) = try servedStream(pair, response)
        served.sendHeaders([HeaderField(":status", "200"), huge], endStream: false)
        served.write([1, 2, 3])
        pair.pump()
        XCTAssertEqual(request.closed, .reset(.internalError), "the server's stream closes")
        XCTAssertEqual(response.closed, .reset(.internalError), "the client hears a reset, not nothing")
        XCTAssertTrue(response.headers.isEmpty)
        XCTAssertEqual(pair.server.session.activeStreams, 0)
    }

    func testTrailersTooLargeToSendResetTheStream() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let (served, request) = try servedStream(pair, response)
        served.sendHeaders([HeaderField(":status", "200")], endStream: false)
        served.write([1, 2, 3])
        served.finish(trailers: [HeaderField("grpc-status", "0"), huge])
        pair.pump()
        XCTAssertEqual(response.headers.map(\.kind), [.response])
        XCTAssertEqual(response.data, [1, 2, 3])
        XCTAssertEqual(response.closed, .reset(.internalError))
        XCTAssertEqual(request.closed, .reset(.internalError))
    }

    /// nghttp2 closes a request stream whose headers it could not send as REFUSED_STREAM (safe
    /// to retry), but the same headers fail the same way anywhere: INTERNAL_ERROR, not retried.
    func testRequestHeadersTooLargeToSendCloseTheStreamAsInternalError() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let stream = try XCTUnwrap(pair.client.session.openStream(delegate: response) { writer in
            writer.append(contentsOf: SessionPair.request + [huge])
        })
        pair.pump()
        XCTAssertTrue(stream.isClosed)
        XCTAssertEqual(response.closed, .reset(.internalError))
        XCTAssertTrue(pair.server.opened.isEmpty, "nothing reached the server")
    }

    /// The send limit follows the header list limit, so a list the session accepts can be
    /// forwarded by a session with the same settings.
    func testTheSendLimitFollowsMaxHeaderListSize() throws {
        var settings = HTTP2Settings()
        settings.maxHeaderListSize = 256 << 10
        let pair = try SessionPair(client: settings, server: settings)
        let response = StreamRecorder()
        let (served, _) = try servedStream(pair, response)
        // 100 KB in 20 fields (nghttp2 receives no single field over 64 KiB).
        let fields = (0..<20).map { HeaderField("x-big-\($0)", String(repeating: "b", count: 5_000)) }
        served.sendHeaders([HeaderField(":status", "200")] + fields, endStream: true)
        pair.pump()
        XCTAssertEqual(response.headers.first?.fields.count, 21)
        XCTAssertEqual(response.closed, .finished)
    }
}

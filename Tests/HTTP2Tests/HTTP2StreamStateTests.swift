import HTTP2
import XCTest

/// `HTTP2StreamState` events and what they allow, without a session.
final class HTTP2StreamStateTests: XCTestCase {
    func testServerStreamRespondsAfterTheRequestEnded() {
        var state = HTTP2StreamState(phase: .open)
        XCTAssertFalse(state.headersSent)
        XCTAssertTrue(state.acceptsBody)
        state.remoteEnd()
        XCTAssertEqual(state.phase, .halfClosedRemote)
        XCTAssertEqual(state.headersSent, false)
        XCTAssertTrue(state.remoteEnded)
        XCTAssertTrue(state.sendHeaders(endStream: false))
        XCTAssertEqual(state.phase, .halfClosedRemote)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertFalse(state.sendHeaders(endStream: false), "headers go once")
        XCTAssertTrue(state.finish())
        XCTAssertEqual(state.phase, .closing)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
        XCTAssertTrue(state.localClosed)
        XCTAssertTrue(state.endsAfterBody)
        XCTAssertFalse(state.acceptsBody)
        XCTAssertFalse(state.finish(), "finish goes once")
        XCTAssertFalse(state.isClosed)
        XCTAssertTrue(state.close())
        XCTAssertEqual(state.phase, .closed)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertFalse(state.close(), "a closed stream closes once")
        XCTAssertFalse(state.reset())
    }

    func testTrailersOnlyResponseEndsWithTheHeaders() {
        var state = HTTP2StreamState(phase: .open)
        XCTAssertTrue(state.sendHeaders(endStream: true))
        XCTAssertEqual(state.phase, .halfClosedLocal)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
        XCTAssertFalse(state.acceptsBody)
        state.remoteEnd()
        XCTAssertEqual(state.phase, .closing)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
    }

    func testResetBeforeHeadersEndsThisSideButStillAllowsNothingElse() {
        var state = HTTP2StreamState(phase: .open)
        XCTAssertTrue(state.reset())
        XCTAssertEqual(state.phase, .halfClosedLocal)
        XCTAssertEqual(state.headersSent, false)
        XCTAssertEqual(state.end, .reset)
        XCTAssertTrue(state.localClosed)
        XCTAssertFalse(state.headersSent)
        XCTAssertFalse(state.acceptsBody)
        XCTAssertFalse(state.endsAfterBody, "a reset stream sends no END_STREAM")
        XCTAssertFalse(state.finish())
        XCTAssertTrue(state.reset(), "a second reset is still submitted (a different code may follow)")
        state.remoteEnd()
        XCTAssertEqual(state.phase, .closing)
        XCTAssertEqual(state.headersSent, false)
        XCTAssertEqual(state.end, .reset)
        XCTAssertTrue(state.close())
        XCTAssertEqual(state.phase, .closed)
        XCTAssertEqual(state.headersSent, false)
    }

    func testFinishAfterTheBodyThenResetKeepsHeadersSent() {
        var state = HTTP2StreamState(phase: .open)
        XCTAssertTrue(state.sendHeaders(endStream: false))
        XCTAssertTrue(state.finish())
        XCTAssertEqual(state.phase, .halfClosedLocal)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
        XCTAssertTrue(state.reset())
        XCTAssertEqual(state.phase, .halfClosedLocal)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .reset)
    }

    func testClientStreamIsIdleUntilTheRequestIsSubmitted() {
        var state = HTTP2StreamState(phase: .idle)
        XCTAssertFalse(state.isActive)
        XCTAssertFalse(state.finish())
        XCTAssertFalse(state.reset())
        XCTAssertFalse(state.close(), "an idle stream is not in the open list")
        state.requestSubmitted()
        XCTAssertEqual(state.phase, .open)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertTrue(state.isActive)
        XCTAssertFalse(state.sendHeaders(endStream: false), "the request headers already went")
        XCTAssertTrue(state.finish())
        XCTAssertEqual(state.phase, .halfClosedLocal)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
        XCTAssertFalse(state.remoteEnded)
        state.remoteEnd()
        XCTAssertEqual(state.phase, .closing)
        XCTAssertEqual(state.headersSent, true)
        XCTAssertEqual(state.end, .endStream)
    }

    func testStopPeerAfterEndFiresOnceAndOnlyWhileThePeerStillSends() {
        var state = HTTP2StreamState(phase: .open)
        XCTAssertFalse(state.endStreamSent(), "not asked")
        state.stopPeerAfterEnd()
        XCTAssertTrue(state.stopsPeerAfterEnd)
        XCTAssertTrue(state.sendHeaders(endStream: true))
        XCTAssertTrue(state.endStreamSent())
        XCTAssertFalse(state.endStreamSent(), "once")

        var ended = HTTP2StreamState(phase: .open)
        ended.stopPeerAfterEnd()
        ended.remoteEnd()
        XCTAssertFalse(ended.endStreamSent(), "the peer already ended")

        var done = HTTP2StreamState(phase: .halfClosedRemote)
        done.stopPeerAfterEnd()
        XCTAssertFalse(done.stopsPeerAfterEnd, "nothing to stop")
    }

    func testErrorCodeNamesAndUnknownValues() {
        XCTAssertEqual(HTTP2ErrorCode.cancel.rawValue, 8)
        XCTAssertEqual(HTTP2ErrorCode.refusedStream, 7)
        XCTAssertEqual(HTTP2ErrorCode.http11Required.name, "HTTP_1_1_REQUIRED")
        XCTAssertEqual(HTTP2ErrorCode.enhanceYourCalm.description, "ENHANCE_YOUR_CALM")
        XCTAssertEqual(HTTP2ErrorCode(0x42).name, "unknown")
        XCTAssertEqual(HTTP2ErrorCode(0x42).description, "unknown(0x42)")
        XCTAssertEqual(StreamCloseReason.reset(8), .reset(.cancel))
    }
}

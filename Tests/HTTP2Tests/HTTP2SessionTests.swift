import HTTP2
import XCTest

/// Two `HTTP2Session`s (client and server) wired together in memory: no sockets, no threads.
final class HTTP2SessionTests: XCTestCase {
    func testSettingsExchangeBeforeAnyStream() throws {
        let pair = try SessionPair()
        pair.pump()
        XCTAssertTrue(pair.client.sawPeerSettings)
        XCTAssertTrue(pair.server.sawPeerSettings)
        XCTAssertEqual(pair.client.session.peerMaxConcurrentStreams, Int(HTTP2Settings().maxConcurrentStreams))
        XCTAssertFalse(pair.client.session.isFinished)
    }

    func testStreamOpensAndDataFlowsBothWays() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let stream = try XCTUnwrap(pair.openStream(response))
        XCTAssertEqual(stream.id, 1)
        XCTAssertEqual(stream.state.phase, .open)
        XCTAssertEqual(stream.state.headersSent, true)
        XCTAssertEqual(pair.client.session.activeStreams, 1)
        stream.write(Array("ping".utf8))
        stream.finish()
        XCTAssertEqual(stream.state.phase, .halfClosedLocal)
        XCTAssertEqual(stream.state.headersSent, true)
        XCTAssertEqual(stream.state.end, .endStream)
        pair.pump()

        XCTAssertEqual(pair.server.opened.count, 1)
        let (served, request) = pair.server.opened[0]
        XCTAssertEqual(request.headers.map(\.kind), [.request])
        XCTAssertEqual(request.headers.first?.fields, SessionPair.request)
        XCTAssertEqual(request.data, Array("ping".utf8))
        XCTAssertTrue(request.ended)
        XCTAssertEqual(served.state.phase, .halfClosedRemote)
        XCTAssertEqual(served.state.headersSent, false)
        XCTAssertEqual(response.drained, 4)

        served.sendHeaders([HeaderField(":status", "200")], endStream: false)
        served.write(Array("pong".utf8))
        served.finish(trailers: [HeaderField("grpc-status", "0")])
        XCTAssertEqual(served.state.phase, .closing)
        XCTAssertEqual(served.state.headersSent, true)
        XCTAssertEqual(served.state.end, .endStream)
        pair.pump()

        XCTAssertEqual(response.headers.map(\.kind), [.response, .trailers])
        XCTAssertEqual(response.headers.last?.fields, [HeaderField("grpc-status", "0")])
        XCTAssertEqual(response.data, Array("pong".utf8))
        XCTAssertTrue(response.ended)
        XCTAssertEqual(response.closed, .finished)
        XCTAssertEqual(request.closed, .finished)
        XCTAssertEqual(stream.state.phase, .closed)
        XCTAssertEqual(stream.state.headersSent, true)
        XCTAssertEqual(served.state.phase, .closed)
        XCTAssertEqual(served.state.headersSent, true)
        XCTAssertEqual(pair.client.session.activeStreams, 0)
        XCTAssertEqual(pair.server.session.activeStreams, 0)
    }

    /// A receiver that holds what it got stops the sender at the window; consuming sends
    /// WINDOW_UPDATE and the rest follows. Both directions.
    func testFlowControlStopsAtTheWindowUntilConsumed() throws {
        var settings = HTTP2Settings()
        settings.initialWindowSize = 1000
        let pair = try SessionPair(client: settings, server: settings)
        pair.server.autoConsume = false
        pair.pump()   // SETTINGS (and their ACKs) first: the window applies from here

        let response = StreamRecorder(autoConsume: false)
        let stream = try XCTUnwrap(pair.openStream(response))
        stream.write([UInt8](repeating: 7, count: 2500))
        stream.finish()
        pair.pump()
        let (served, request) = pair.server.opened[0]
        XCTAssertEqual(request.data.count, 1000, "the window is exhausted")
        XCTAssertEqual(stream.queuedOutboundBytes, 1500)
        XCTAssertFalse(request.ended)

        served.consume(1000)
        pair.pump()
        XCTAssertEqual(request.data.count, 2000, "WINDOW_UPDATE after consume lets the next window through")
        XCTAssertEqual(stream.queuedOutboundBytes, 500)
        served.consume(1000)
        pair.pump()
        XCTAssertEqual(request.data.count, 2500)
        XCTAssertTrue(request.ended)
        XCTAssertEqual(response.drained, 2500)

        served.sendHeaders([HeaderField(":status", "200")], endStream: false)
        served.write([UInt8](repeating: 9, count: 1800))
        served.finish()
        pair.pump()
        XCTAssertEqual(response.data.count, 1000)
        XCTAssertEqual(served.queuedOutboundBytes, 800)
        stream.consume(1000)
        pair.pump()
        XCTAssertEqual(response.data.count, 1800)
        XCTAssertTrue(response.ended)
        XCTAssertEqual(response.data, [UInt8](repeating: 9, count: 1800))
        // Bytes a closed stream never consumed go back to the connection window by themselves.
        XCTAssertEqual(response.closed, .finished)
        XCTAssertEqual(request.closed, .finished)
    }

    func testResetArrivesWithItsTypedCode() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let stream = try XCTUnwrap(pair.openStream(response))
        pair.pump()
        let (served, request) = pair.server.opened[0]

        served.reset(.enhanceYourCalm)
        XCTAssertEqual(served.state.phase, .halfClosedLocal)
        XCTAssertEqual(served.state.headersSent, false)
        XCTAssertEqual(served.state.end, .reset)
        XCTAssertTrue(served.localClosed)
        served.write([1, 2, 3])
        XCTAssertEqual(served.queuedOutboundBytes, 0, "no body after a reset")
        pair.pump()
        XCTAssertEqual(response.closed, .reset(.enhanceYourCalm))
        XCTAssertEqual(request.closed, .reset(.enhanceYourCalm))
        XCTAssertTrue(stream.isClosed)

        // A code RFC 9113 does not define passes through unchanged.
        let second = StreamRecorder()
        let other = try XCTUnwrap(pair.openStream(second))
        pair.pump()
        other.reset(HTTP2ErrorCode(0x42))
        pair.pump()
        XCTAssertEqual(pair.server.opened[1].recorder.closed, .reset(HTTP2ErrorCode(rawValue: 0x42)))
        XCTAssertEqual(second.closed, .reset(0x42))
    }

    func testGoawayRefusesStreamsAboveTheLastOneAndLetsTheRestFinish() throws {
        let pair = try SessionPair()
        let first = StreamRecorder()
        let stream = try XCTUnwrap(pair.openStream(first))
        pair.pump()
        let late = StreamRecorder()
        let lateStream = try XCTUnwrap(pair.openStream(late))
        XCTAssertEqual(lateStream.id, 3)

        pair.server.session.goAway(errorCode: .noError)
        XCTAssertTrue(pair.server.session.isGoingAway)
        pair.pump()
        XCTAssertEqual(pair.client.goaway?.lastStreamID, 1)
        XCTAssertEqual(pair.client.goaway?.errorCode, .noError)
        XCTAssertTrue(pair.client.session.isGoingAway)
        XCTAssertEqual(late.closed, .reset(.refusedStream))
        XCTAssertNil(pair.openStream(StreamRecorder()), "no new stream after GOAWAY")
        XCTAssertNil(first.closed)

        let served = pair.server.opened[0].stream
        stream.finish()
        served.sendHeaders([HeaderField(":status", "200")], endStream: true)
        pair.pump()
        XCTAssertEqual(first.closed, .finished)
        XCTAssertTrue(pair.server.session.isFinished, "nothing left once the last stream closed")
    }

    func testGoawayCarriesItsErrorCode() throws {
        let pair = try SessionPair()
        pair.pump()
        pair.server.session.goAway(errorCode: .enhanceYourCalm)
        pair.pump()
        XCTAssertEqual(pair.client.goaway?.errorCode, .enhanceYourCalm)
        XCTAssertEqual(pair.client.goaway?.lastStreamID, 0)
    }

    func testStopPeerAfterResponseResetsWithNoErrorOnceEndStreamIsSent() throws {
        let pair = try SessionPair()
        let response = StreamRecorder()
        let stream = try XCTUnwrap(pair.openStream(response))
        stream.write([1, 2, 3])
        pair.pump()
        let (served, request) = pair.server.opened[0]
        XCTAssertFalse(request.ended)
        served.stopPeerAfterResponse()
        served.sendHeaders([HeaderField(":status", "200"), HeaderField("grpc-status", "0")], endStream: true)
        pair.pump()
        XCTAssertEqual(response.headers.map(\.kind), [.response])
        XCTAssertTrue(response.ended)
        // RST_STREAM(NO_ERROR) after the response closes the stream as finished on both sides.
        XCTAssertEqual(request.closed, .finished)
        XCTAssertEqual(response.closed, .finished)
        XCTAssertTrue(stream.isClosed)
    }

    func testClosingTheSessionClosesOpenStreamsInOrder() throws {
        let pair = try SessionPair()
        let recorders = (0..<3).map { _ in StreamRecorder() }
        let streams = try recorders.map { try XCTUnwrap(pair.openStream($0)) }
        pair.pump()
        pair.client.session.close()
        XCTAssertNil(pair.openStream(StreamRecorder()))
        pair.client.session.closeStreams(reason: .connectionLost)
        XCTAssertEqual(recorders.map(\.closed), [.connectionLost, .connectionLost, .connectionLost])
        XCTAssertTrue(streams.allSatisfy(\.isClosed))
        XCTAssertEqual(pair.client.session.activeStreams, 0)
    }

    /// nghttp2's fatal errors queue no GOAWAY; the session queues one so the peer hears why:
    /// ENHANCE_YOUR_CALM for a CONTINUATION flood (CVE-2024-28182).
    func testAContinuationFloodThrowsAndQueuesGoawayEnhanceYourCalm() throws {
        let peer = try SessionPeer(role: .server, settings: HTTP2Settings())
        var input = ClientPrefaceCheckTests.magic + ClientPrefaceCheckTests.settings
        let field: [UInt8] = [0x00, 0x01, 0x78, 0x01, 0x79]  // literal "x: y", no indexing
        input += [0, 0, UInt8(field.count), 1, 0, 0, 0, 0, 1] + field  // HEADERS, no END_HEADERS
        for _ in 0..<20 { input += [0, 0, UInt8(field.count), 9, 0, 0, 0, 0, 1] + field }  // CONTINUATION
        XCTAssertThrowsError(try input.withUnsafeBytes { try peer.session.receive($0) })
        var out: [UInt8] = []
        while let chunk = try peer.session.nextOutput() { out += chunk }
        XCTAssertEqual(ClientPrefaceCheckTests.goawayCode(in: out), HTTP2ErrorCode.enhanceYourCalm.rawValue)
        XCTAssertTrue(peer.session.isFinished)
    }
}

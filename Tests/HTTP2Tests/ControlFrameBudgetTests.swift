import HTTP2
import XCTest

/// The budget of frames that move nothing: a burst, a refill over time, credit for DATA sent,
/// and a server session that ends a flooding client with GOAWAY ENHANCE_YOUR_CALM (frames of
/// unknown types included: nghttp2 alone would skip them without telling anyone).
final class ControlFrameBudgetTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000

    func testABurstThenTheRateRefills() {
        var budget = ControlFrameBudget(perSecond: 10)
        let start: UInt64 = 5 * second
        for _ in 0..<10 { XCTAssertTrue(budget.take(now: start)) }
        XCTAssertFalse(budget.take(now: start), "the burst is spent")
        XCTAssertFalse(budget.take(now: start + second / 20), "half a token is none")
        XCTAssertTrue(budget.take(now: start + second / 10), "a tenth of a second: one token")
        XCTAssertFalse(budget.take(now: start + second / 10))
        for _ in 0..<10 { XCTAssertTrue(budget.take(now: start + 10 * second)) }
        XCTAssertFalse(budget.take(now: start + 10 * second), "the bucket holds one burst, however long it waited")
    }

    func testEachFrameOfProgressGivesSomeBack() {
        var budget = ControlFrameBudget(perSecond: 25)
        for _ in 0..<25 { XCTAssertTrue(budget.take(now: second)) }
        XCTAssertFalse(budget.take(now: second))
        budget.credit()
        for _ in 0..<ControlFrameBudget.creditPerProgress { XCTAssertTrue(budget.take(now: second)) }
        XCTAssertFalse(budget.take(now: second))
        budget.credit(); budget.credit(); budget.credit(); budget.credit()
        for _ in 0..<25 { XCTAssertTrue(budget.take(now: second)) }
        XCTAssertFalse(budget.take(now: second), "credit stops at the burst")
    }

    private func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt8 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        [0, 0, UInt8(payload.count), type, flags, 0, 0, 0, stream] + payload
    }

    /// Empty DATA frames on an open stream, PINGs, WINDOW_UPDATEs and frames of unknown types
    /// (ignored, as RFC 9113 section 4.1 asks, but counted) past the budget end the session
    /// with GOAWAY ENHANCE_YOUR_CALM; frames that carry something give credit.
    func testAFloodOfFramesThatMoveNothingEndsTheSession() throws {
        let floods: [[UInt8]] = [
            frame(0, stream: 1),                                  // empty DATA, no END_STREAM
            frame(6, [1, 2, 3, 4, 5, 6, 7, 8]),                   // PING
            frame(8, [0, 0, 0, 1]),                               // WINDOW_UPDATE(1), connection
            frame(0xfa),                                          // an unknown type, empty
            frame(0x20, stream: 1, [1, 2, 3, 4]),                 // an unknown type with a payload, on a stream
        ]
        for unit in floods {
            var settings = HTTP2Settings()
            settings.maxControlFramesPerSecond = 50
            let peer = try SessionPeer(role: .server, settings: settings)
            peer.session.now = second
            let headers: [UInt8] = [0x82, 0x86, 0x84, 0x41, 0x01, 0x78]  // :method GET, :scheme http, :path /, :authority x
            var input = ClientPrefaceCheckTests.magic + ClientPrefaceCheckTests.settings
            input += frame(1, flags: 0x4, stream: 1, headers)        // HEADERS, END_HEADERS, stream 1 open
            input += frame(0, stream: 1, [1, 2, 3])                  // DATA with bytes: progress
            // The SETTINGS took a token before the HEADERS, and the two frames of progress gave
            // back up to the burst: 50 left.
            for _ in 0..<50 { input += unit }
            try input.withUnsafeBytes { try peer.session.receive($0) }
            var out: [UInt8] = []
            while let chunk = try peer.session.nextOutput() { out += chunk }
            XCTAssertNil(ClientPrefaceCheckTests.goawayCode(in: out), "within the budget")
            XCTAssertThrowsError(try (unit + unit).withUnsafeBytes { try peer.session.receive($0) }) { error in
                XCTAssertTrue("\(error)".contains("frames a second"), "\(error)")
            }
            while let chunk = try peer.session.nextOutput() { out += chunk }
            XCTAssertEqual(ClientPrefaceCheckTests.goawayCode(in: out), HTTP2ErrorCode.enhanceYourCalm.rawValue, "\(unit)")
        }
    }

    /// The client's estimate of the server's reset limit: a burst, then so many per whole second.
    func testPeerResetBudgetRefillsByWholeSeconds() {
        var budget = PeerResetBudget(burst: 5, perSecond: 2)
        let start: UInt64 = 3 * second
        for _ in 0..<5 { XCTAssertTrue(budget.take(now: start)) }
        XCTAssertFalse(budget.take(now: start))
        XCTAssertFalse(budget.take(now: start + second / 2), "half a second refills nothing")
        XCTAssertTrue(budget.take(now: start + second))
        XCTAssertTrue(budget.take(now: start + second))
        XCTAssertFalse(budget.take(now: start + second))
        for _ in 0..<5 { XCTAssertTrue(budget.take(now: start + 100 * second)) }
        XCTAssertFalse(budget.take(now: start + 100 * second), "the bucket holds one burst")
    }

    /// A client session that reset its budget's worth of streams takes no new streams, so its
    /// owner moves to a new connection before the server's own limit ends this one.
    func testAClientThatSpentItsResetsHasNoCapacity() throws {
        var settings = HTTP2Settings()
        settings.peerResetBurst = 3
        // The server's own rapid-reset limit just above the client's budget: one reset more
        // than the client allows itself would end the connection with GOAWAY.
        var server = HTTP2Settings()
        server.streamResetBurst = 4
        server.streamResetRate = 0
        let pair = try SessionPair(client: settings, server: server)
        pair.pump()
        for i in 0..<3 {
            XCTAssertTrue(pair.client.session.hasCapacity, "reset \(i)")
            let stream = try XCTUnwrap(pair.openStream(StreamRecorder()))
            pair.pump()
            stream.reset(.cancel)
            pair.pump()
        }
        XCTAssertTrue(pair.client.session.peerResetBudgetSpent)
        XCTAssertFalse(pair.client.session.hasCapacity)
        XCTAssertNil(pair.client.goaway, "the server saw no more resets than the client allowed itself (no GOAWAY)")
    }
}

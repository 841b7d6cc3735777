import GRPC
import HTTP2
@testable import Router
import TestSupport
import XCTest

/// The retry rule and failure mapping of a proxied call, without sockets.
final class UpstreamClosePolicyTests: XCTestCase {
    private let refused = StreamCloseReason.reset(.refusedStream)
    private let cancel = StreamCloseReason.reset(.cancel)

    private func context(responded: Bool = false, canReplay: Bool = true, attempts: Int = 1,
                         headersSent: Bool = false, atBoundary: Bool = true) -> UpstreamClosePolicy.Context {
        .init(responded: responded, canReplay: canReplay, attempts: attempts, maxAttempts: 3,
              clientHeadersSent: headersSent, responseAtMessageBoundary: atBoundary, endpoint: "10.0.0.1:9000")
    }

    func testNormalCloseFinishes() {
        XCTAssertEqual(UpstreamClosePolicy.decide(.finished, context()), .finished)
    }

    func testConnectFailureAndRefusedStreamAreRetried() {
        XCTAssertEqual(UpstreamClosePolicy.decide(.connectFailed, context()), .retry)
        XCTAssertEqual(UpstreamClosePolicy.decide(refused, context(attempts: 2)), .retry)
    }

    func testRetriesStopAfterTheThirdAttempt() {
        guard case .fail(let status) = UpstreamClosePolicy.decide(.connectFailed, context(attempts: 3)) else {
            return XCTFail("expected a failure")
        }
        XCTAssertEqual(status.code, .unavailable)
        XCTAssertTrue(status.message.contains("10.0.0.1:9000"), status.message)
    }

    func testNoRetryOnceBytesMayHaveReachedTheModel() {
        // A lost connection or another reset code may have delivered the request.
        XCTAssertEqual(UpstreamClosePolicy.decide(.connectionLost, context()),
                       .fail(GRPCStatus(.unavailable, "lost the connection to model endpoint 10.0.0.1:9000")))
        guard case .fail(let status) = UpstreamClosePolicy.decide(cancel, context()) else {
            return XCTFail("expected a failure")
        }
        XCTAssertEqual(status.code, .unavailable)
        // Refused but the model already answered, or the replay copy was dropped (body > 64 KiB).
        XCTAssertNotEqual(UpstreamClosePolicy.decide(refused, context(responded: true)), .retry)
        XCTAssertNotEqual(UpstreamClosePolicy.decide(refused, context(canReplay: false)), .retry)
    }

    func testResetAfterTheResponseStartedResetsTheClientWithTheSameCode() {
        XCTAssertEqual(UpstreamClosePolicy.decide(cancel, context(responded: true, headersSent: true)),
                       .resetClient(.cancel))
        XCTAssertEqual(UpstreamClosePolicy.decide(cancel, context(responded: true, headersSent: true, atBoundary: false)),
                       .resetClient(.cancel))
    }

    func testModelLostAfterTheResponseStartedEndsWithUnavailableBetweenMessages() {
        XCTAssertEqual(UpstreamClosePolicy.decide(.connectionLost, context(responded: true, headersSent: true)),
                       .endClient(GRPCStatus(.unavailable, "lost the connection to model endpoint 10.0.0.1:9000 during the response")))
        // Inside a message the client cannot be given a clean end: reset.
        XCTAssertEqual(UpstreamClosePolicy.decide(.connectionLost, context(responded: true, headersSent: true, atBoundary: false)),
                       .resetClient(.internalError))
    }

    func testNothingReachedModel() {
        XCTAssertTrue(UpstreamClosePolicy.nothingReachedModel(.connectFailed))
        XCTAssertTrue(UpstreamClosePolicy.nothingReachedModel(refused))
        XCTAssertFalse(UpstreamClosePolicy.nothingReachedModel(cancel))
        XCTAssertFalse(UpstreamClosePolicy.nothingReachedModel(.connectionLost))
        XCTAssertFalse(UpstreamClosePolicy.nothingReachedModel(.finished))
    }
}

import GRPC
import HTTP2
@testable import Router
import XCTest

/// The call/attempt decisions of a proxied call, event by event, without sockets.
final class ProxyCallStateMachineTests: XCTestCase {
    private let refused = StreamCloseReason.reset(.refusedStream)
    private let cancel = StreamCloseReason.reset(.cancel)
    private let endpoint = "10.0.0.1:9000"

    /// A machine routed and with its first attempt open.
    private func proxying() -> ProxyCallStateMachine {
        var machine = ProxyCallStateMachine()
        XCTAssertEqual(machine.state, .routing)
        XCTAssertEqual(machine.requestBytes, .scan)
        XCTAssertFalse(machine.mayStartAttempt, "no attempt before the route is known")
        machine.routed()
        XCTAssertEqual(machine.state, .waitingForAttempt)
        XCTAssertEqual(machine.requestBytes, .forward)
        XCTAssertTrue(machine.mayStartAttempt)
        XCTAssertFalse(machine.attemptStarting(), "the first attempt is no retry")
        machine.attemptOpened()
        XCTAssertEqual(machine.state, .proxying(.awaitingHeaders))
        return machine
    }

    private func close(_ machine: inout ProxyCallStateMachine, _ reason: StreamCloseReason, canReplay: Bool = true,
                       atBoundary: Bool = true) -> ProxyCallStateMachine.AttemptClose {
        machine.attemptClosed(reason, canReplay: canReplay, responseAtMessageBoundary: atBoundary, endpoint: endpoint)
    }

    // MARK: Retry

    func testRefusedStreamBeforeAnyResponseIsRetried() {
        var machine = proxying()
        XCTAssertEqual(close(&machine, refused), .retry)
        XCTAssertEqual(machine.state, .waitingForAttempt)
        XCTAssertEqual(machine.requestBytes, .forward, "the client's bytes wait for the next attempt")
        XCTAssertTrue(machine.mayStartAttempt)
        XCTAssertTrue(machine.attemptStarting(), "the second attempt counts as a retry")
        machine.attemptOpened()
        XCTAssertEqual(machine.state, .proxying(.awaitingHeaders))
        XCTAssertEqual(machine.attempts, 2)
    }

    /// A call held after every endpoint was unreachable gets a fresh set of attempts once its
    /// version wakes (none of the failed ones reached a model).
    func testAHeldCallStartsItsAttemptsAfresh() {
        var machine = proxying()
        for _ in 1..<ProxyCallStateMachine.maxAttempts {
            XCTAssertEqual(close(&machine, .connectFailed), .retry)
            XCTAssertTrue(machine.attemptStarting())
            machine.attemptOpened()
        }
        guard case .exhausted = close(&machine, .connectFailed) else { return XCTFail("expected exhausted") }
        XCTAssertFalse(machine.mayStartAttempt, "out of attempts")
        machine.held()
        XCTAssertEqual(machine.state, .waitingForAttempt)
        XCTAssertEqual(machine.requestBytes, .forward, "the client's bytes wait while held")
        XCTAssertTrue(machine.mayStartAttempt)
        XCTAssertFalse(machine.attemptStarting(), "the first attempt after the wake is no retry")
        // Held only while waiting: an open attempt is not reset.
        machine.attemptOpened()
        machine.held()
        XCTAssertEqual(machine.attempts, 1)
    }

    func testConnectFailureIsRetried() {
        var machine = proxying()
        XCTAssertEqual(close(&machine, .connectFailed), .retry)
        XCTAssertTrue(machine.mayStartAttempt)
    }

    func testRetriesStopAfterTheLastAttempt() {
        var machine = proxying()
        for _ in 1..<ProxyCallStateMachine.maxAttempts {
            XCTAssertEqual(close(&machine, refused), .retry)
            XCTAssertTrue(machine.attemptStarting())
            machine.attemptOpened()
        }
        // Nothing reached a model: the call may still be held for a wake, or fail.
        guard case .exhausted(let status) = close(&machine, refused) else { return XCTFail("expected exhausted") }
        XCTAssertEqual(status.code, .unavailable)
        XCTAssertTrue(status.message.contains("REFUSED_STREAM") && status.message.contains(endpoint), status.message)
        XCTAssertEqual(machine.state, .waitingForAttempt)
        XCTAssertFalse(machine.mayStartAttempt)
        XCTAssertTrue(machine.fail())
        XCTAssertEqual(machine.state, .finished)
    }

    func testAttemptsThatNeverOpenCountTowardsTheLimit() {
        var machine = ProxyCallStateMachine()
        machine.routed()
        var started = 0
        while machine.mayStartAttempt {
            _ = machine.attemptStarting()
            started += 1
        }
        XCTAssertEqual(started, ProxyCallStateMachine.maxAttempts, "a connect error on open still uses up an attempt")
        XCTAssertEqual(machine.state, .waitingForAttempt, "the call decides to fail once no endpoint is left")
        XCTAssertTrue(machine.fail())
        XCTAssertEqual(machine.state, .finished)
    }

    func testNoRetryWhenTheRequestBytesWereNotKept() {
        var machine = proxying()
        guard case .fail(let status) = close(&machine, .connectFailed, canReplay: false) else { return XCTFail("expected a failure") }
        XCTAssertEqual(status, GRPCStatus(.unavailable, "cannot connect to model endpoint \(endpoint)"))
    }

    func testNoRetryAfterTheModelMayHaveSeenTheRequest() {
        var machine = proxying()
        XCTAssertEqual(close(&machine, .connectionLost),
                       .fail(GRPCStatus(.unavailable, "lost the connection to model endpoint \(endpoint)")))
    }

    // MARK: After the response started

    func testNoRetryOnceTheResponseStarted() {
        var machine = proxying()
        XCTAssertFalse(machine.forwardsResponseBody, "no body before the headers")
        XCTAssertTrue(machine.responseHeaders(hasStatus: false))
        XCTAssertEqual(machine.state, .proxying(.streaming))
        XCTAssertTrue(machine.forwardsResponseBody)
        // Even a refused stream (the rule's only retryable reset) is passed on as a reset now.
        XCTAssertEqual(close(&machine, refused), .resetClient(.refusedStream))
        XCTAssertEqual(machine.state, .finished)
        XCTAssertFalse(machine.mayStartAttempt)
    }

    func testLostModelMidResponseEndsBetweenMessagesAndResetsInsideOne() {
        var between = proxying()
        _ = between.responseHeaders(hasStatus: false)
        XCTAssertEqual(close(&between, .connectionLost),
                       .endClient(GRPCStatus(.unavailable, "lost the connection to model endpoint \(endpoint) during the response")))
        XCTAssertEqual(between.state, .finished)

        var inside = proxying()
        _ = inside.responseHeaders(hasStatus: false)
        XCTAssertEqual(close(&inside, .connectionLost, atBoundary: false), .resetClient(.internalError))
        XCTAssertEqual(inside.state, .finished)
    }

    // MARK: Response endings

    func testResponseWithTrailers() {
        var machine = proxying()
        XCTAssertTrue(machine.responseHeaders(hasStatus: false))
        XCTAssertTrue(machine.responseTrailers())
        XCTAssertEqual(machine.state, .proxying(.ended))
        XCTAssertNil(machine.responseEnded(), "the model's own status went out")
        XCTAssertEqual(close(&machine, .finished), ProxyCallStateMachine.AttemptClose.none)
        XCTAssertEqual(machine.state, .answered)
        XCTAssertEqual(machine.clientClosed(), .cleanUp)
        XCTAssertEqual(machine.state, .finished)
    }

    func testTrailersOnlyResponse() {
        var machine = proxying()
        XCTAssertTrue(machine.responseHeaders(hasStatus: true))
        XCTAssertEqual(machine.state, .proxying(.ended))
        XCTAssertNil(machine.responseEnded(), "the status was in the headers")
        XCTAssertEqual(close(&machine, .finished), ProxyCallStateMachine.AttemptClose.none)
        XCTAssertEqual(machine.state, .answered)
    }

    func testResponseEndingWithoutTrailersGetsAnInternalStatus() {
        var machine = proxying()
        _ = machine.responseHeaders(hasStatus: false)
        XCTAssertEqual(machine.responseEnded(),
                       .trailers(GRPCStatus(.internal, "model endpoint ended the response without grpc-status")))
        XCTAssertEqual(machine.state, .proxying(.ended))
        XCTAssertNil(machine.responseEnded(), "answered once")
        XCTAssertEqual(close(&machine, .finished), ProxyCallStateMachine.AttemptClose.none)
        XCTAssertEqual(machine.state, .answered)
    }

    func testResponseEndingWithoutHeadersGetsATrailersOnlyInternalStatus() {
        var machine = proxying()
        XCTAssertEqual(machine.responseEnded(),
                       .trailersOnly(GRPCStatus(.internal, "model endpoint ended the response without headers")))
    }

    func testCleanCloseWithoutEndOfResponseIsAnsweredByTheGateway() {
        var machine = proxying()
        _ = machine.responseHeaders(hasStatus: false)
        XCTAssertEqual(close(&machine, .finished),
                       .answer(.trailers(GRPCStatus(.internal, "model endpoint ended the response without grpc-status"))))
        XCTAssertEqual(machine.state, .answered)
    }

    // MARK: Deadline and cancellation

    func testDeadlineEndsTheCallOnce() {
        var machine = proxying()
        XCTAssertEqual(machine.deadlinePassed(elapsedMillis: 120),
                       GRPCStatus(.deadlineExceeded, "deadline exceeded after 120 ms"))
        XCTAssertEqual(machine.state, .finished)
        XCTAssertEqual(machine.requestBytes, .discard)
        XCTAssertNil(machine.deadlinePassed(elapsedMillis: 130))
        XCTAssertEqual(close(&machine, cancel), .ignore, "the cancelled attempt's close changes nothing")
        XCTAssertFalse(machine.responseHeaders(hasStatus: false))
        XCTAssertEqual(machine.clientClosed(), ProxyCallStateMachine.ClientClose.none)
    }

    func testDeadlineWhileRouting() {
        var machine = ProxyCallStateMachine()
        XCTAssertEqual(machine.deadlinePassed(elapsedMillis: 5)?.code, .deadlineExceeded)
        XCTAssertEqual(machine.state, .finished)
        machine.routed()
        XCTAssertEqual(machine.state, .finished, "a late route does not revive the call")
    }

    func testClientCancelBeforeTheAttemptOpened() {
        var routing = ProxyCallStateMachine()
        XCTAssertEqual(routing.clientClosed(), .cleanUp)
        XCTAssertEqual(routing.state, .finished)

        var waiting = ProxyCallStateMachine()
        waiting.routed()
        _ = waiting.attemptStarting()
        XCTAssertEqual(waiting.clientClosed(), .cleanUp, "no attempt to cancel")
        XCTAssertFalse(waiting.mayStartAttempt)
        waiting.attemptOpened()
        XCTAssertEqual(waiting.state, .finished, "an attempt opening late does not revive the call")
    }

    func testClientCancelAfterTheAttemptOpened() {
        var machine = proxying()
        XCTAssertEqual(machine.clientClosed(), .cancelAttempt)
        XCTAssertEqual(machine.state, .finished)
        XCTAssertEqual(close(&machine, cancel), .ignore)
        XCTAssertFalse(machine.fail())
    }

    // MARK: Awaiting the request

    /// A model call routed before its message is whole opens no attempt until it is (issue 18:
    /// idle streams held a model's workers); the bytes that came are held meanwhile.
    func testAnAttemptWaitsForTheRequest() {
        var machine = ProxyCallStateMachine()
        machine.routed(awaitRequest: true)
        XCTAssertEqual(machine.state, .awaitingRequest)
        XCTAssertEqual(machine.requestBytes, .forward, "held until an attempt opens")
        XCTAssertFalse(machine.mayStartAttempt)
        XCTAssertTrue(machine.requestReady())
        XCTAssertEqual(machine.state, .waitingForAttempt)
        XCTAssertTrue(machine.mayStartAttempt)
        XCTAssertFalse(machine.requestReady(), "only once")
    }

    func testARequestEndingWhileAwaitedStartsTheAttemptOrFailsInsideAMessage() {
        var whole = ProxyCallStateMachine()
        whole.routed(awaitRequest: true)
        XCTAssertEqual(whole.requestEnded(atMessageBoundary: true), .startAttempt)
        XCTAssertTrue(whole.mayStartAttempt)

        var cut = ProxyCallStateMachine()
        cut.routed(awaitRequest: true)
        guard case .fail(let status) = cut.requestEnded(atMessageBoundary: false) else { return XCTFail("expected a failure") }
        XCTAssertEqual(status.code, GRPCFramingError.truncated.status.code)
        XCTAssertEqual(cut.state, .finished)
    }

    func testAnAwaitedCallEndsWithoutAnAttemptOnCancelOrDeadline() {
        var cancelled = ProxyCallStateMachine()
        cancelled.routed(awaitRequest: true)
        XCTAssertEqual(cancelled.clientClosed(), .cleanUp)
        XCTAssertFalse(cancelled.requestReady(), "a cancelled call starts nothing")

        var late = ProxyCallStateMachine()
        late.routed(awaitRequest: true)
        XCTAssertEqual(late.deadlinePassed(elapsedMillis: 1000)?.code, .deadlineExceeded)
        XCTAssertFalse(late.requestReady())
        XCTAssertFalse(late.mayStartAttempt)
    }

    // MARK: Request end

    func testRequestEnd() {
        var routing = ProxyCallStateMachine()
        XCTAssertEqual(routing.requestEnded(atMessageBoundary: true), .scanLast)

        var open = proxying()
        XCTAssertEqual(open.requestEnded(atMessageBoundary: true), .endAttemptRequest)
        XCTAssertEqual(open.state, .proxying(.awaitingHeaders))

        var truncated = proxying()
        XCTAssertEqual(truncated.requestEnded(atMessageBoundary: false), .fail(GRPCFramingError.truncated.status))
        XCTAssertEqual(truncated.state, .finished)
        XCTAssertEqual(truncated.requestEnded(atMessageBoundary: true), ProxyCallStateMachine.RequestEnd.none)
    }
}

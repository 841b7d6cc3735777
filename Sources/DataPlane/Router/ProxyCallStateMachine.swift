import GRPC
import HTTP2

/// The decisions of one proxied call, apart from its streams: where the call is, whether a
/// closed attempt is retried, and what the client is sent when the gateway ends the response.
///
/// Each method is an event of the call and returns what the call must do; the machine touches
/// no stream, clock or pool, so every path is testable without sockets. `ProxyCall` performs
/// the actions. Only an attempt that got no response is retried, so the call's response is the
/// response of whichever attempt gave it.
struct ProxyCallStateMachine {
    /// Attempts per call, the first included.
    static let maxAttempts = 3

    /// How far the response to the client got.
    enum Response: Equatable {
        /// No response headers yet.
        case awaitingHeaders
        /// Headers went to the client; the body flows.
        case streaming
        /// The client's response is complete (trailers, trailers-only, or ended by the gateway).
        case ended
    }

    /// Where the call is.
    enum State: Equatable {
        /// Reading model and version from the request.
        case routing
        /// Routed; no attempt opens until the first request message is whole (or the request
        /// ended, or enough of it arrived): a caller that sent headers and nothing else must
        /// not hold one of the model's workers (issue 18: idle streams starved a model whose
        /// server runs a handler per call from the moment its headers arrive).
        case awaitingRequest
        /// Routed, with no attempt open: the client's bytes wait for one.
        case waitingForAttempt
        /// An attempt is open and its response got this far.
        case proxying(Response)
        /// The response went out in full and the attempt closed; the client's stream has not
        /// closed yet.
        case answered
        /// Failed, cancelled or closed: later events change nothing.
        case finished
    }

    /// What the gateway sends the client when it ends the response itself.
    enum Answer: Equatable {
        /// Trailers with this status (response headers went out already).
        case trailers(GRPCStatus)
        /// A trailers-only response with this status (nothing went out yet).
        case trailersOnly(GRPCStatus)
    }

    /// What to do with body bytes from the client.
    enum RequestBytes: Equatable {
        /// Scan them for the route.
        case scan
        /// Send them to the open attempt, or hold them until one opens.
        case forward
        /// Return them to the client's window unread.
        case discard
    }

    /// What to do when the client ends its request (END_STREAM).
    enum RequestEnd: Equatable {
        /// Scan what arrived for the route one last time.
        case scanLast
        /// End the open attempt's request (a later attempt ends its own once opened).
        case endAttemptRequest
        /// The request is whole: open the attempt that waited for it.
        case startAttempt
        /// End the call with this status (the request stopped inside a message).
        case fail(GRPCStatus)
        case none
    }

    /// What to do when the client's stream closed.
    enum ClientClose: Equatable {
        /// Cancel the open attempt, then clean up.
        case cancelAttempt
        /// No attempt is open: clean up.
        case cleanUp
        /// The call had finished already.
        case none
    }

    /// What to do when the attempt's stream closed.
    enum AttemptClose: Equatable {
        /// The call had finished: nothing (not even counting the failure).
        case ignore
        /// The response is complete; the call waits for the client's stream to close.
        case none
        /// The attempt ended without a status: the gateway ends the response with this answer.
        case answer(Answer)
        /// No byte reached the model: open another attempt.
        case retry
        /// Nothing went to the client: end the call with this status.
        case fail(GRPCStatus)
        /// No byte reached a model, but every attempt was used: the call waits for another
        /// attempt (a held call, when its version scales to zero) or ends with this status
        /// (`fail()`).
        case exhausted(GRPCStatus)
        /// The response started, between messages: end it with trailers carrying this status.
        case endClient(GRPCStatus)
        /// The response stopped inside a message: reset the client's stream with this code.
        case resetClient(HTTP2ErrorCode)
    }

    private(set) var state = State.routing
    /// Attempts started, the failed ones included.
    private(set) var attempts = 0

    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: Request

    /// Where body bytes from the client go now.
    var requestBytes: RequestBytes {
        switch state {
        case .routing: return .scan
        case .finished: return .discard
        case .awaitingRequest, .waitingForAttempt, .proxying, .answered: return .forward
        }
    }

    /// The route is known: the call needs an attempt, at once or (`awaitRequest`) once the
    /// request is ready for one (`requestReady`).
    mutating func routed(awaitRequest: Bool = false) {
        guard case .routing = state else { return }
        state = awaitRequest ? .awaitingRequest : .waitingForAttempt
    }

    /// The first request message is whole, or enough of it arrived: true when the call waited
    /// for this and must now start its attempt.
    mutating func requestReady() -> Bool {
        guard case .awaitingRequest = state else { return false }
        state = .waitingForAttempt
        return true
    }

    /// True when the call waits for an attempt and may start another.
    var mayStartAttempt: Bool {
        guard case .waitingForAttempt = state else { return false }
        return attempts < Self.maxAttempts
    }

    /// An endpoint was picked for a new attempt; true when the attempt is a retry (counted as
    /// one whether or not its stream then opens).
    mutating func attemptStarting() -> Bool {
        attempts += 1
        return attempts > 1
    }

    /// Every endpoint was unreachable and the call is held for its version's wake: once
    /// released it gets a fresh set of attempts (none of the failed ones reached a model).
    mutating func held() {
        guard case .waitingForAttempt = state else { return }
        attempts = 0
    }

    /// The attempt's stream opened.
    mutating func attemptOpened() {
        guard case .waitingForAttempt = state else { return }
        state = .proxying(.awaitingHeaders)
    }

    /// The client ended its request; `atMessageBoundary` tells whether it ended between messages.
    mutating func requestEnded(atMessageBoundary: Bool) -> RequestEnd {
        switch state {
        case .routing:
            return .scanLast
        case .finished:
            return .none
        case .awaitingRequest:
            guard atMessageBoundary else {
                state = .finished
                return .fail(GRPCFramingError.truncated.status)
            }
            state = .waitingForAttempt
            return .startAttempt
        case .waitingForAttempt, .proxying, .answered:
            guard atMessageBoundary else {
                state = .finished
                return .fail(GRPCFramingError.truncated.status)
            }
            return .endAttemptRequest
        }
    }

    // MARK: Response

    /// The attempt's response headers arrived (`hasStatus`: they carry grpc-status, a
    /// trailers-only response); true when they go on to the client. From here on no retry.
    mutating func responseHeaders(hasStatus: Bool) -> Bool {
        guard case .proxying = state else { return false }
        state = .proxying(hasStatus ? .ended : .streaming)
        return true
    }

    /// True while response body bytes go on to the client (after the headers).
    var forwardsResponseBody: Bool {
        guard case .proxying(let response) = state else { return false }
        return response != .awaitingHeaders
    }

    /// The attempt's trailers arrived; true when they go on to the client.
    mutating func responseTrailers() -> Bool {
        guard case .proxying = state else { return false }
        state = .proxying(.ended)
        return true
    }

    /// The attempt ended its response (END_STREAM); the answer the gateway sends when the
    /// response ended without a status.
    mutating func responseEnded() -> Answer? {
        guard case .proxying(let response) = state, response != .ended else { return nil }
        state = .proxying(.ended)
        return Self.endedWithoutStatus(response)
    }

    /// The attempt's stream closed. `canReplay`: the request bytes sent so far are still kept;
    /// `responseAtMessageBoundary`: the response body forwarded so far ends between messages;
    /// `endpoint`, for messages, is read only when the stream did not finish cleanly.
    mutating func attemptClosed(_ reason: StreamCloseReason, canReplay: Bool, responseAtMessageBoundary: Bool,
                                endpoint: @autoclosure () -> String) -> AttemptClose {
        guard case .proxying(let response) = state else { return .ignore }
        let started = response != .awaitingHeaders
        let context = UpstreamClosePolicy.Context(
            responded: started, canReplay: canReplay, attempts: attempts, maxAttempts: Self.maxAttempts,
            clientHeadersSent: started, responseAtMessageBoundary: responseAtMessageBoundary,
            endpoint: reason == .finished ? "" : endpoint())
        switch UpstreamClosePolicy.decide(reason, context) {
        case .finished:
            state = .answered
            return response == .ended ? .none : .answer(Self.endedWithoutStatus(response))
        case .retry:
            state = .waitingForAttempt
            return .retry
        case .fail(let status):
            if UpstreamClosePolicy.nothingReachedModel(reason) && !started && canReplay {
                state = .waitingForAttempt
                return .exhausted(status)
            }
            state = .finished
            return .fail(status)
        case .endClient(let status):
            state = .finished
            return .endClient(status)
        case .resetClient(let code):
            state = .finished
            return .resetClient(code)
        }
    }

    /// The gateway's answer when an attempt's response ended without grpc-status.
    private static func endedWithoutStatus(_ response: Response) -> Answer {
        response == .streaming
            ? .trailers(GRPCStatus(.internal, "model endpoint ended the response without grpc-status"))
            : .trailersOnly(GRPCStatus(.internal, "model endpoint ended the response without headers"))
    }

    // MARK: Ending

    /// The gateway ends the call with a status of its own (a bad request, no endpoint, the
    /// deadline); false when the call had finished already.
    mutating func fail() -> Bool {
        guard !isFinished else { return false }
        state = .finished
        return true
    }

    /// The call's deadline passed `elapsedMillis` after its request arrived; the status that
    /// ends it, or nil when it had finished.
    mutating func deadlinePassed(elapsedMillis: Int) -> GRPCStatus? {
        guard fail() else { return nil }
        return GRPCStatus(.deadlineExceeded, "deadline exceeded after \(max(0, elapsedMillis)) ms")
    }

    /// The client's stream closed (the response was done, or the client cancelled).
    mutating func clientClosed() -> ClientClose {
        switch state {
        case .finished:
            return .none
        case .proxying:
            state = .finished
            return .cancelAttempt
        case .routing, .awaitingRequest, .waitingForAttempt, .answered:
            state = .finished
            return .cleanUp
        }
    }
}

import GRPC
import HTTP2

/// Decides what a proxied call does when its upstream stream closes: the retry rule and the
/// mapping of upstream failures to what the client sees, as a pure function of the call's state.
enum UpstreamClosePolicy {
    /// What the call does next.
    enum Action: Equatable {
        /// The stream ended normally; the response path finishes the call.
        case finished
        /// No byte reached the model: open the call again on another endpoint.
        case retry
        /// Nothing was sent to the client yet: answer with this status.
        case fail(GRPCStatus)
        /// The response started and is between messages: end it with trailers carrying this status.
        case endClient(GRPCStatus)
        /// The response stopped inside a message: reset the client's stream with this HTTP/2 code.
        case resetClient(HTTP2ErrorCode)
    }

    /// The call's state when the upstream stream closed.
    struct Context {
        /// The endpoint answered with headers.
        var responded: Bool
        /// A full copy of the request body sent so far is still held (replay possible).
        var canReplay: Bool
        /// Attempts made, including the one that just closed.
        var attempts: Int
        var maxAttempts: Int
        /// Response headers went to the client.
        var clientHeadersSent: Bool
        /// The response body forwarded so far ends at a gRPC message boundary.
        var responseAtMessageBoundary = true
        /// The endpoint, for messages.
        var endpoint: String
    }

    /// True when `reason` proves no byte of the request was processed by the model:
    /// the connection never came up, or the stream was refused (REFUSED_STREAM, which is
    /// also how streams above a GOAWAY's last-stream-id close).
    static func nothingReachedModel(_ reason: StreamCloseReason) -> Bool {
        switch reason {
        case .connectFailed: return true
        case .reset(let code): return code == .refusedStream
        case .connectionLost, .finished: return false
        }
    }

    static func decide(_ reason: StreamCloseReason, _ context: Context) -> Action {
        if reason == .finished { return .finished }
        if nothingReachedModel(reason) && !context.responded && context.canReplay
            && context.attempts < context.maxAttempts {
            return .retry
        }
        let endpoint = context.endpoint
        if context.clientHeadersSent {
            // A reset the model sent passes on as it is (CANCEL stays CANCELLED for the client).
            if case .reset(let code) = reason { return .resetClient(code) }
            // The model went away: between messages the response can still end properly, with
            // UNAVAILABLE as a client connected to the model directly would see; inside a
            // message only a reset is left.
            guard context.responseAtMessageBoundary else { return .resetClient(.internalError) }
            return .endClient(GRPCStatus(.unavailable, "lost the connection to model endpoint \(endpoint) during the response"))
        }
        switch reason {
        case .connectFailed:
            return .fail(GRPCStatus(.unavailable, "cannot connect to model endpoint \(endpoint)"))
        case .connectionLost:
            return .fail(GRPCStatus(.unavailable, "lost the connection to model endpoint \(endpoint)"))
        case .reset(let code):
            let name = code.name
            return .fail(GRPCStatus(.unavailable, "model endpoint \(endpoint) reset the stream (\(name))"))
        case .finished:
            return .finished
        }
    }
}

import HTTP2

/// Takes over gRPC calls on one worker once their request headers have arrived.
public protocol GRPCCallDispatcher: AnyObject {
    /// Returns the delegate that will handle `stream`, or nil for UNIMPLEMENTED.
    func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate?
    /// The server refused the call before dispatch with a gRPC status (a malformed
    /// `grpc-timeout`, a header list over the limit) and answered it: a delegate to see the rest of the stream (e.g. for an
    /// access log), or nil.
    func refused(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate?
    /// Graceful shutdown began on this worker.
    func beginShutdown()
    /// The worker's loop is about to stop: release what the dispatcher holds (e.g. upstream
    /// connections).
    func didStop()
}

extension GRPCCallDispatcher {
    public func refused(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? { nil }
    public func beginShutdown() {}
    public func didStop() {}
}

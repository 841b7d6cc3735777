import GRPC
import HTTP2
import Routing
import Transport

/// A server-streaming Admin call (GetLogs): the handler runs off the loop, each message is
/// posted to the call's loop, and the handler's stream is cancelled when the client cancels.
enum AdminStreamingCall {
    /// Response bytes a slow client may have queued before the producer waits for it.
    static let maxQueuedBytes = 1 << 20

    /// The call for `method`, answered by `handler` with the caller's `authorization`.
    static func make(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
                     method: String, authorization: String?, handler: @escaping AdminStreamHandler) -> UnaryCall {
        UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes) { call, message in
            let task = Task {
                let status: GRPCStatus
                do {
                    let messages = try await AdminCallContext.$authorization.withValue(authorization) {
                        try await handler(method, message)
                    }
                    for try await bytes in messages {
                        guard await waitForRoom(call) else { return }
                        call.loop.execute { call.send(bytes) }
                    }
                    status = .ok
                } catch let thrown as GRPCStatus {
                    status = thrown
                } catch is CancellationError {
                    return
                } catch {
                    status = GRPCStatus(.internal, "\(error)")
                }
                call.loop.execute { call.end(status) }
            }
            call.onCancel = { task.cancel() }
        }
    }

    /// Waits while the client has more than `maxQueuedBytes` unsent; false once the call ended.
    private static func waitForRoom(_ call: UnaryCall) async -> Bool {
        while !Task.isCancelled {
            let (finished, queued) = await withCheckedContinuation { continuation in
                call.loop.execute { continuation.resume(returning: (call.isFinished, call.queuedBytes)) }
            }
            if finished { return false }
            if queued <= maxQueuedBytes { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}

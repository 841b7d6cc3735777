import GRPC
import HTTP2
import Routing
import Transport

/// A worker's server-streaming Admin calls (GetLogs): the handler runs off the loop, each
/// message is posted to the call's loop, and the handler's stream is cancelled when the client
/// cancels. A follow never ends on its own, so graceful shutdown ends every call still open
/// (UNAVAILABLE) instead of waiting the grace period out. Loop-confined.
final class AdminStreamingCalls {
    /// Response bytes a slow client may have queued before the producer waits for it.
    static let maxQueuedBytes = 1 << 20

    /// Open calls and the task producing each one's messages.
    private var open: [ObjectIdentifier: (call: UnaryCall, task: Task<Void, Never>)] = [:]
    private var shuttingDown = false

    /// The call for `method`, answered by `handler` with the caller's `authorization`.
    func make(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int,
              method: String, authorization: String?, handler: @escaping AdminStreamHandler) -> UnaryCall {
        UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes) { [self] call, message in
            guard !shuttingDown else {
                call.fail(GRPCStatus(.unavailable, "the gateway is shutting down"))
                return
            }
            let id = ObjectIdentifier(call)
            let task = Task {
                let status: GRPCStatus
                do {
                    let messages = try await AdminCallContext.$authorization.withValue(authorization) {
                        try await handler(method, message)
                    }
                    for try await bytes in messages {
                        guard await Self.waitForRoom(call) else { return }
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
                call.loop.execute { [weak self] in
                    call.end(status)
                    self?.open[id] = nil
                }
            }
            open[id] = (call, task)
            call.onCancel = { [weak self] in
                task.cancel()
                self?.open[id] = nil
            }
        }
    }

    /// Graceful shutdown began: ends every open call with UNAVAILABLE and refuses new ones.
    func shutdown() {
        shuttingDown = true
        let calls = open.values
        open.removeAll()
        for (call, task) in calls {
            task.cancel()
            call.end(GRPCStatus(.unavailable, "the gateway is shutting down"))
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

import GRPC
import HTTP2
import Telemetry
import Transport

/// A gRPC call the gateway answers itself (Admin, health, reflection, RepositoryIndex) or
/// refuses before a `ProxyCall` takes it (unauthenticated, unknown method), seen from its
/// stream while the access log or tracing is on: `RouterWorker.dispatch` puts it in front of
/// whatever handles the call, so every such call ends here, whatever its type, with one
/// access-log entry and (sampled) one server span. Its status is the one the handler sent
/// (`HTTP2Stream.sentGRPCStatus`); a call whose client went away first is CANCELLED. Proxied
/// calls record their own, richer entries (`ProxyCall.finished`).
final class ObservedCall: HTTP2StreamDelegate {
    private let telemetry: WorkerTelemetry
    private let head: GRPCRequestHead
    /// What handles the call (nil: it was answered already, the request is read and dropped).
    private let inner: HTTP2StreamDelegate?
    private let trace: CallTrace?
    /// Body bytes received, and response bytes that left for the client.
    private var requestBytes = 0
    private var responseBytes = 0

    init(telemetry: WorkerTelemetry, head: GRPCRequestHead, inner: HTTP2StreamDelegate?) {
        self.telemetry = telemetry
        self.head = head
        self.inner = inner
        trace = telemetry.tracing ? telemetry.startTrace(head.headers) : nil
    }

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        inner?.streamHeaders(stream, headers, kind: kind)
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        requestBytes += data.count
        if let inner {
            inner.streamData(stream, data)
        } else {
            stream.consume(data.count)
        }
    }

    func streamEnded(_ stream: HTTP2Stream) {
        inner?.streamEnded(stream)
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        responseBytes += bytes
        inner?.streamDrained(stream, bytes: bytes)
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        inner?.streamClosed(stream, reason: reason)
        var call = FinishedCall(path: head.path, receivedAt: head.receivedAt, endedAt: monotonicNanos())
        call.model = head.metadata("byoc-model") ?? ""
        call.version = head.metadata("byoc-version") ?? ""
        call.grpcStatus = stream.sentGRPCStatus ?? (reason != .finished ? GRPCStatusCode.cancelled.rawValue : nil)
        if stream.sentGRPCStatus == nil {
            call.error = reason != .finished ? "cancelled: the stream closed before a status (\(reason))"
                : "the call ended without a status"
        }
        call.requestBytes = requestBytes
        call.responseBytes = responseBytes
        telemetry.finished(call, trace: trace, peer: { (stream.session.driver as? HTTP2Connection)?.remoteAddress ?? "" },
                           callerTrace: { WorkerTelemetry.callerTrace(head.headers) })
    }
}

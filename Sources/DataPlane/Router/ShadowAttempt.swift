import GRPC
import HTTP2
import Transport

/// A copy of a proxied call sent to the model's shadow version: a second attempt whose answer
/// is dropped. It gets the primary's request headers (deadline included) and its body bytes
/// as they flow; it never holds the primary back: when the shadow's endpoint does not take the
/// bytes fast enough (more than `maxQueuedBytes` written and not yet sent), the copy is dropped
/// and counted. Its status and failures reach only its own counters.
final class ShadowAttempt: HTTP2StreamDelegate {
    /// Request bytes queued for the shadow and not yet sent, at most.
    static let maxQueuedBytes = 1 << 20

    /// Why a copy was not completed (the `reason` of `byoc_shadow_dropped_total`).
    enum DropReason: String {
        /// No endpoint of the shadow version was ready or reachable.
        case unavailable
        /// The shadow did not take the request bytes as fast as the primary, or already had
        /// `RouterConfig.shadowMaxInFlight` copies in flight on this worker.
        case behind
    }

    /// The worker whose pool and counters the copy uses (workers outlive their calls).
    private unowned(unsafe) let worker: RouterWorker
    private let stats: VersionStats
    private let receivedAt: UInt64
    private var stream: HTTP2Stream?
    /// Bytes written to the stream and not yet drained.
    private var queued = 0
    /// The shadow's answer carried a status (trailers or trailers-only).
    private var status: Int?
    private var done = false
    private var requestFinished = false
    private var deadlineTimer: UInt64?

    /// Opens the copy at an endpoint of `route` (the shadow version's), with `head`'s headers
    /// and the primary's remaining deadline; nil when the shadow has its most copies in flight
    /// or no endpoint takes it (counted as dropped).
    static func open(worker: RouterWorker, route: ResolvedRoute, head: GRPCRequestHead,
                     dropAuthorization: Bool) -> ShadowAttempt? {
        guard route.stats.shadowInFlight < worker.config.shadowMaxInFlight else {
            route.stats.shadowDropped(.behind)
            return nil
        }
        let shadow = ShadowAttempt(worker: worker, stats: route.stats, receivedAt: head.receivedAt)
        let remaining = head.deadline.map { deadline -> UInt64 in
            let now = monotonicNanos()
            return deadline > now ? deadline - now : 0
        }
        guard let target = worker.pickEndpoint(route.endpoints, excluding: []) else {
            route.stats.shadowDropped(.unavailable)
            return nil
        }
        do {
            shadow.stream = try worker.pool.openStream(to: target, delegate: shadow) { writer in
                ProxyHeaders.writeUpstreamRequest(into: &writer, from: head.headers, path: head.path,
                                                  authority: target.endpoint.description, remainingNanos: remaining,
                                                  dropAuthorization: dropAuthorization)
            }
        } catch {
            route.stats.shadowDropped(.unavailable)
            return nil
        }
        if let remaining {
            // The primary's deadline: the model gets it as grpc-timeout, and the gateway stops
            // waiting then too. The timer holds the copy until it fires or the copy ends.
            shadow.deadlineTimer = worker.loop.schedule(afterNanos: remaining) {
                shadow.deadlineTimer = nil
                shadow.end(status: GRPCStatusCode.deadlineExceeded.rawValue, reset: true)
            }
        }
        route.stats.inFlight += 1
        route.stats.shadowInFlight += 1
        return shadow
    }

    private init(worker: RouterWorker, stats: VersionStats, receivedAt: UInt64) {
        self.worker = worker
        self.stats = stats
        self.receivedAt = receivedAt
    }

    /// True once the copy ended (answered, failed or dropped): it takes no more bytes.
    var isDone: Bool { done }

    /// Sends request body bytes (a copy), or drops the copy when too many are still queued.
    func send(_ data: UnsafeRawBufferPointer) {
        guard !done, let stream else { return }
        guard queued + data.count <= Self.maxQueuedBytes else {
            stats.shadowDropped(.behind)
            end(status: nil, reset: true, counted: false)
            return
        }
        queued += data.count
        stream.write(data)
    }

    /// The primary's request ended: so does the copy's.
    func finishRequest() {
        guard !done, !requestFinished else { return }
        requestFinished = true
        stream?.finish()
    }

    /// The primary failed before its request was whole (the copy is incomplete): cancel it.
    func cancel() {
        guard !done else { return }
        end(status: GRPCStatusCode.cancelled.rawValue, reset: true)
    }

    /// Ends the copy once: counts it (unless `counted` is false: a drop is counted apart),
    /// resets the stream when asked, lets go of it.
    private func end(status code: Int?, reset: Bool, counted: Bool = true) {
        guard !done else { return }
        done = true
        if let deadlineTimer { worker.loop.cancelTimer(deadlineTimer) }
        deadlineTimer = nil
        stats.inFlight -= 1
        stats.shadowInFlight -= 1
        if counted {
            let now = monotonicNanos()
            stats.recordShadow(status: code, latencyNanos: now > receivedAt ? now - receivedAt : 0)
        }
        if let stream {
            stream.delegate = nil
            if reset && !stream.isClosed { stream.reset(.cancel) }
        }
        stream = nil
    }

    // MARK: HTTP2StreamDelegate (the answer is read and dropped)

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        if kind != .request, let text = headers[literal: "grpc-status"] { status = Int(text) }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
    }

    func streamEnded(_ stream: HTTP2Stream) {
        end(status: status ?? GRPCStatusCode.internal.rawValue, reset: false)
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        queued -= bytes
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        end(status: status ?? GRPCStatusCode.unavailable.rawValue, reset: false)
    }
}

import GRPC
import HTTP2
import Routing
import Transport

/// One proxied gRPC call: the client's stream (downstream half) and the stream to a model
/// endpoint (upstream half), with the routing, limits, deadline and retry decisions between.
///
/// Bytes flow as they arrive and are returned to the sender's flow-control window only once
/// they have left for the other side, so a call holds at most about one window per direction.
final class ProxyCall: HTTP2StreamDelegate {
    /// Where the call is.
    enum Phase {
        /// Waiting for fields 1 and 2 of the first message.
        case routing
        /// Connected to an upstream stream (or between retries).
        case proxying
        /// Answered or cancelled; events are ignored.
        case finished
    }

    /// The client-facing half.
    struct ClientHalf {
        var tracker: GRPCFrameTracker
        /// Bytes received before the route was known (not yet returned to the client's window).
        var held = ByteQueue()
        /// The first bytes of the body, for the field scan.
        var scanBytes: [UInt8] = []
        /// The client sent END_STREAM.
        var ended = false
        /// Body bytes returned to the client's window.
        var consumed = 0
    }

    /// The model-facing half.
    struct UpstreamHalf {
        var stream: HTTP2Stream?
        /// The pool's state of the endpoint of the current attempt.
        var target: EndpointState?
        /// Endpoints of failed attempts (filled only when a retry needs them).
        var tried: [Endpoint] = []
        var attempts = 0
        /// A copy of every body byte sent on this attempt, kept while a retry is still allowed
        /// (nil once too large to keep, or once the endpoint answered).
        var replay: ReplayChunks? = ReplayChunks()
        /// Bytes of this attempt's body that left for the endpoint.
        var drainedThisAttempt = 0
        /// The endpoint answered (headers): no retry from here on.
        var responded = false
        var sawTrailers = false
        var trailersOnly = false
        /// Message boundaries of the response body forwarded to the client, so a lost endpoint
        /// can still end the response cleanly between messages.
        var response = GRPCMessageBoundaries()
    }

    static let maxScanBytes = 4096 + GRPCFraming.prefixLength
    static let maxReplayBytes = 64 * 1024
    static let maxAttempts = 3

    /// The worker that owns this call (workers live as long as the process).
    unowned(unsafe) let worker: RouterWorker
    let client: HTTP2Stream
    let head: GRPCRequestHead
    private(set) var phase = Phase.routing
    var downstream: ClientHalf
    var upstream = UpstreamHalf()
    var model = ""
    /// The resolved model version, once routed (the call counts in its in-flight gauge from
    /// then until `finish`).
    private var resolved: ResolvedRoute?
    /// The concrete version serving the call ("" until routed).
    var version: String { resolved?.version ?? "" }
    /// This call's model version counters, once routed.
    private var stats: VersionStats? { resolved?.stats }
    /// The caller's token when auth is on (nil: off); its models are checked in `route`.
    var grant: AuthEntry?
    private var deadlineTimer: UInt64?

    init(worker: RouterWorker, client: HTTP2Stream, head: GRPCRequestHead) {
        self.worker = worker
        self.client = client
        self.head = head
        downstream = ClientHalf(tracker: GRPCFrameTracker(maxMessageBytes: worker.config.maxMessageBytes,
                                                          compressionAllowed: head.encoding != nil))
    }

    // MARK: Client side

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        if stream === client {
            guard kind == .request else { return }
            if let deadline = head.deadline {
                let now = monotonicNanos()
                // The timer holds the call until it fires or `finish` cancels it (a weak
                // reference would cost a side-table allocation per call).
                deadlineTimer = worker.loop.schedule(afterNanos: deadline > now ? deadline - now : 0) {
                    self.deadlineTimer = nil
                    self.deadlinePassed()
                }
            }
            if let model = head.headers[literal: "byoc-model"] {
                route(model: model, version: head.headers[literal: "byoc-version"] ?? "")
            }
        } else {
            upstreamHeaders(headers, kind: kind)
        }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        guard stream === client else {
            upstreamData(data)
            return
        }
        guard phase != .finished else {
            stream.consume(data.count)
            return
        }
        do { try downstream.tracker.advance(over: data) } catch {
            stream.consume(data.count)
            fail(error.status)
            return
        }
        switch phase {
        case .routing:
            // Usually the first DATA frame holds the prefix and fields 1 and 2: route from it
            // directly, without holding a copy.
            if downstream.scanBytes.isEmpty && downstream.held.isEmpty && scanForRoute(data, final: false) {
                if phase == .proxying { forward(data) } else { stream.consume(data.count) }
                return
            }
            downstream.held.append(data)
            if downstream.scanBytes.count < Self.maxScanBytes {
                let take = min(data.count, Self.maxScanBytes - downstream.scanBytes.count)
                downstream.scanBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<take]))
            }
            scanCollected(final: false)
        case .proxying:
            forward(data)
        case .finished:
            break
        }
    }

    func streamEnded(_ stream: HTTP2Stream) {
        guard stream === client else {
            upstreamEnded()
            return
        }
        downstream.ended = true
        switch phase {
        case .routing:
            scanCollected(final: true)
        case .proxying:
            if !downstream.tracker.atMessageBoundary {
                fail(GRPCFramingError.truncated.status)
                return
            }
            upstream.stream?.finish()
        case .finished:
            break
        }
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        if stream === client {
            // Response bytes left for the client: return them to the endpoint's window.
            upstream.stream?.consume(bytes)
        } else {
            upstream.drainedThisAttempt += bytes
            let owed = upstream.drainedThisAttempt - downstream.consumed
            if owed > 0 {
                downstream.consumed += owed
                client.consume(owed)
            }
        }
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        if stream === client {
            if phase != .finished, let upstreamStream = upstream.stream, !upstreamStream.isClosed {
                upstreamStream.reset(.cancel)
            }
            finish()
        } else {
            upstreamClosed(stream, reason: reason)
        }
    }

    // MARK: Routing

    /// Scans the first body bytes collected so far (through a second reference: routing
    /// empties `scanBytes`).
    private func scanCollected(final: Bool) {
        let scanned = downstream.scanBytes
        _ = scanned.withUnsafeBytes { scanForRoute($0, final: final) }
    }

    /// Reads model and version from the body's first bytes; true when the call moved on
    /// (routed, or failed), false when more bytes are needed.
    private func scanForRoute(_ bytes: UnsafeRawBufferPointer, final: Bool) -> Bool {
        if bytes.count < GRPCFraming.prefixLength {
            if final {
                fail(GRPCStatus(.invalidArgument, bytes.isEmpty ? "the request has no message" : "the stream ended inside a gRPC message prefix"))
                return true
            }
            return false
        }
        let length = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        if bytes[0] == 1 {
            // A compressed first message cannot be scanned: routing needs the byoc-model header.
            fail(GRPCStatus(.invalidArgument, "compressed requests need the byoc-model header to be routed"))
            return true
        }
        let result = RouteFieldScanner.scan(UnsafeRawBufferPointer(rebasing: bytes[GRPCFraming.prefixLength...]),
                                            messageLength: length)
        switch result {
        case .found(let model, let version):
            route(model: model, version: version)
            return true
        case .invalid(let why):
            fail(GRPCStatus(.invalidArgument, "cannot read model and version from the request: \(why)"))
            return true
        case .needMore:
            if final || bytes.count >= Self.maxScanBytes {
                fail(GRPCStatus(.invalidArgument, final ? "the stream ended inside the first message"
                                    : "model and version fields are longer than \(Self.maxScanBytes) bytes"))
                return true
            }
            return false
        }
    }

    private func route(model: String, version: String) {
        guard phase == .routing else { return }
        guard !model.isEmpty else {
            fail(GRPCStatus(.invalidArgument, "empty model name: set field 1 (model) or the byoc-model header"))
            return
        }
        self.model = model
        if let grant, let denied = AuthTable.check(grant, model: model) {
            // Before resolving, so a token cannot probe which models exist.
            self.model = ""
            fail(denied.status)
            return
        }
        switch worker.resolve(model: model, version: version) {
        case .unknownModel:
            fail(GRPCStatus(.notFound, "unknown model \"\(model)\""))
        case .unknownVersion:
            fail(GRPCStatus(.notFound, "model \"\(model)\" has no version \"\(version)\""))
        case .found(let route):
            resolved = route
            route.stats.inFlight += 1
            guard !route.endpoints.isEmpty else {
                fail(GRPCStatus(.unavailable, "model \"\(model)\" version \"\(route.version)\" has no ready endpoint"))
                return
            }
            phase = .proxying
            downstream.scanBytes = []
            startAttempt()
        }
    }

    /// Opens an upstream stream on the best untried endpoint and sends what the client sent so far.
    private func startAttempt() {
        guard let route = resolved else { return }
        while upstream.attempts < Self.maxAttempts {
            guard let target = worker.pickEndpoint(route.endpoints, excluding: upstream.tried) else { break }
            let endpoint = target.endpoint
            // A retry is counted when another attempt really starts.
            if upstream.attempts > 0 { stats?.retries += 1 }
            upstream.attempts += 1
            let remaining = head.deadline.map { deadline -> UInt64 in
                let now = monotonicNanos()
                return deadline > now ? deadline - now : 0
            }
            let dropAuthorization = grant != nil
            let stream: HTTP2Stream
            do {
                stream = try worker.pool.openStream(to: target, delegate: self) { writer in
                    ProxyHeaders.writeUpstreamRequest(into: &writer, from: head.headers, path: head.path,
                                                      authority: endpoint.description, remainingNanos: remaining,
                                                      dropAuthorization: dropAuthorization)
                }
            } catch {
                stats?.connectFailures += 1
                upstream.tried.append(endpoint)
                continue
            }
            upstream.stream = stream
            upstream.target = target
            upstream.drainedThisAttempt = 0
            upstream.replay?.forEach { stream.write($0) }
            if !downstream.held.isEmpty {
                var held = downstream.held
                downstream.held = ByteQueue()
                held.drain { forward($0) }
            }
            if downstream.ended { stream.finish() }
            return
        }
        let detail = worker.describeFailures(route.endpoints)
        fail(GRPCStatus(.unavailable, "no endpoint of model \"\(model)\" version \"\(version)\" is reachable\(detail)"))
    }

    /// Sends client body bytes upstream, keeping a copy while a retry is possible.
    private func forward(_ data: UnsafeRawBufferPointer) {
        guard let stream = upstream.stream else {
            downstream.held.append(data)
            return
        }
        // One copy of the bytes, queued upstream and (while a retry is possible) kept for it.
        let chunk = Array(data)
        if let kept = upstream.replay?.bytes {
            if kept + chunk.count <= Self.maxReplayBytes {
                upstream.replay!.append(chunk)
            } else {
                upstream.replay = nil
            }
        }
        stream.write(chunk)
    }

    // MARK: Upstream side

    private func upstreamHeaders(_ headers: HeaderBlock, kind: HeaderKind) {
        guard phase != .finished else { return }
        switch kind {
        case .response:
            upstream.responded = true
            upstream.replay = nil
            let forwarded = ProxyHeaders.downstream(headers)
            if let status = headers[literal: "grpc-status"] {
                upstream.trailersOnly = true
                recordStatus(Int(status))
                client.sendHeaders(forwarded, endStream: true)
            } else {
                client.sendHeaders(forwarded, endStream: false)
            }
        case .trailers:
            upstream.sawTrailers = true
            recordStatus(headers[literal: "grpc-status"].flatMap { Int($0) })
            client.finish(trailers: ProxyHeaders.downstream(headers))
        case .request:
            break
        }
    }

    private func upstreamData(_ data: UnsafeRawBufferPointer) {
        guard phase != .finished, client.headersSent else {
            upstream.stream?.consume(data.count)
            return
        }
        upstream.response.advance(over: data) { _, _ in }
        client.write(data)
    }

    private func upstreamEnded() {
        guard phase != .finished else { return }
        if !upstream.sawTrailers && !upstream.trailersOnly {
            recordStatus(GRPCStatusCode.internal.rawValue)
            if client.headersSent {
                client.finish(trailers: GRPCResponses.trailers(GRPCStatus(.internal, "model endpoint ended the response without grpc-status")))
            } else {
                GRPCResponses.sendTrailersOnly(client, GRPCStatus(.internal, "model endpoint ended the response without headers"))
            }
        }
        if client.isClosed { finish() }
    }

    private func upstreamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        if let target = upstream.target, upstream.stream === stream {
            worker.pool.streamFinished(to: target)
        }
        guard upstream.stream === stream else { return }
        upstream.stream = nil
        guard phase != .finished else { return }
        if reason == .connectFailed { stats?.connectFailures += 1 }
        let context = UpstreamClosePolicy.Context(
            responded: upstream.responded, canReplay: upstream.replay != nil, attempts: upstream.attempts,
            maxAttempts: Self.maxAttempts, clientHeadersSent: client.headersSent,
            responseAtMessageBoundary: upstream.response.atMessageBoundary,
            endpoint: upstream.target?.endpoint.description ?? "endpoint")
        switch UpstreamClosePolicy.decide(reason, context) {
        case .finished:
            if !client.isClosed && !client.localClosed && !upstream.sawTrailers && !upstream.trailersOnly {
                upstreamEnded()
            }
        case .retry:
            // Endpoints are remembered only when a retry needs them (no array on the common path).
            if let target = upstream.target { upstream.tried.append(target.endpoint) }
            startAttempt()
        case .fail(let status):
            fail(status)
        case .endClient(let status):
            recordStatus(status.code.rawValue)
            if !client.isClosed && !client.localClosed { client.finish(trailers: GRPCResponses.trailers(status)) }
            finish()
        case .resetClient(let code):
            // The response already started: pass the failure on as a reset, like the pod did.
            client.reset(code)
            finish()
        }
    }

    // MARK: Ending

    private func deadlinePassed() {
        fail(GRPCStatus(.deadlineExceeded, "deadline exceeded after \(max(0, Int((monotonicNanos() - head.receivedAt) / 1_000_000))) ms"))
    }

    /// Ends the call with a status the gateway makes, cancelling the upstream stream.
    func fail(_ status: GRPCStatus) {
        guard phase != .finished else { return }
        if let stream = upstream.stream, !stream.isClosed { stream.reset(.cancel) }
        recordStatus(status.code.rawValue)
        if !client.isClosed {
            GRPCResponses.sendTrailersOnly(client, status)
        }
        finish()
    }

    private func releaseHeld() {
        if !downstream.held.isEmpty {
            let n = downstream.held.count
            downstream.held.removeAll()
            downstream.consumed += n
            client.consume(n)
        }
    }

    /// Counts the call's status and latency (once per call, when its status is known).
    private func recordStatus(_ code: Int?) {
        let now = monotonicNanos()
        (stats ?? worker.unroutedStats).record(status: code, latencyNanos: now > head.receivedAt ? now - head.receivedAt : 0)
    }

    private func finish() {
        guard phase != .finished else { return }
        phase = .finished
        stats?.inFlight -= 1
        if let timer = deadlineTimer {
            worker.loop.cancelTimer(timer)
            deadlineTimer = nil
        }
        releaseHeld()
    }
}

/// The body chunks sent on an attempt, kept for a retry. The chunks share storage with what was
/// queued upstream (no second copy), and the first is stored inline: a unary call's body is
/// usually one chunk, and keeping it then allocates nothing.
struct ReplayChunks {
    private var first: [UInt8]?
    private var rest: [[UInt8]] = []
    /// Bytes kept.
    private(set) var bytes = 0

    mutating func append(_ chunk: [UInt8]) {
        if first == nil { first = chunk } else { rest.append(chunk) }
        bytes += chunk.count
    }

    /// Calls `body` with every chunk, in order.
    func forEach(_ body: ([UInt8]) -> Void) {
        guard let first else { return }
        body(first)
        for chunk in rest { body(chunk) }
    }
}

import GRPC
import HTTP2
import Routing
import Telemetry
import Transport

/// One proxied gRPC call, seen from the client: the client's stream, the routing, limits and
/// deadline, and the call's attempts at model endpoints (one `UpstreamAttempt` open at a time).
/// The decisions are `ProxyCallStateMachine`'s; this class performs them on the streams.
///
/// Bytes flow as they arrive and are returned to the sender's flow-control window only once
/// they have left for the other side, so a call holds at most about one window per direction.
final class ProxyCall: HTTP2StreamDelegate {
    /// The client-facing half.
    struct ClientHalf {
        var tracker: GRPCFrameTracker
        /// Bytes received with no attempt to take them (not yet returned to the client's window).
        var held = ByteQueue()
        /// The first bytes of the body, for the field scan.
        var scanBytes: [UInt8] = []
        /// The client sent END_STREAM.
        var ended = false
        /// Body bytes returned to the client's window.
        var consumed = 0
        /// Body bytes dropped (refused ModelStreamInfer messages), returned to the client's
        /// window without reaching a model.
        var dropped = 0
        /// Bytes of `held` returned to the client's window before any attempt (an incomplete
        /// first message buffered ahead of the model), counted in the worker's
        /// `firstMessageBuffered`.
        var buffered = 0
    }

    static let maxScanBytes = 4096 + GRPCFraming.prefixLength
    static let streamInferPath = "/inference.GRPCInferenceService/ModelStreamInfer"
    /// A routed call whose first message is not whole yet opens its attempt once this much of
    /// the request waits unbuffered in the client's window (the worker's first-message buffer
    /// is full, or the message is over `maxBufferedFirstMessage`): the message is then really
    /// being sent, and holding more would, past the windows, wait for ever.
    static let maxHeldBeforeAttempt = 64 << 10
    /// The most of one incomplete first message buffered ahead of the model (issue 18: a
    /// caller that sent part of a 1 MiB message and stopped held a model worker, because the
    /// call went on after 64 KiB).
    static let maxBufferedFirstMessage = 4 << 20

    /// The worker that owns this call (workers live as long as the process).
    unowned(unsafe) let worker: RouterWorker
    let client: HTTP2Stream
    let head: GRPCRequestHead
    private(set) var machine = ProxyCallStateMachine()
    var downstream: ClientHalf
    /// The open attempt (nil before the first one opens and once it closed).
    private(set) var attempt: UpstreamAttempt?
    /// Endpoints of failed attempts (filled only when a retry needs them).
    private var tried: [Endpoint] = []
    var model = ""
    /// The `byoc-model` header of a call without `byoc-version`: the model, while field 2 of
    /// the body is read for the version.
    private var headerModel: String?
    /// The request message has model and version in fields 1 and 2 (Predict, ModelInfer, ...);
    /// other methods reach a model by `byoc-model` alone.
    private let readsFields: Bool
    /// The copy of this call sent to the model's shadow version (calls naming no version).
    private var shadow: ShadowAttempt?
    /// The call named no version (it may be shadowed).
    private var namedNoVersion = false
    /// The call counts in its version's in-flight gauge (`countInFlight`).
    private var countedInFlight = false
    /// The resolved model version, once routed (the call counts in its in-flight gauge from
    /// `countInFlight` until `cleanUp`).
    private var resolved: ResolvedRoute?
    /// The concrete version serving the call ("" until routed).
    var version: String { resolved?.version ?? "" }
    /// This call's model version counters, once routed.
    private var stats: VersionStats? { resolved?.stats }
    /// The caller's token when auth is on (nil: off); its models are checked in `route`.
    var grant: AuthEntry?
    /// A ModelStreamInfer call's guard, once routed: it keeps the stream on its first model.
    private var streamGuard: StreamInferGuard?
    private var deadlineTimer: UInt64?
    /// Runs from the first byte of the first request message until it is whole
    /// (`RouterConfig.firstMessageTimeoutNanos`).
    private var firstMessageTimer: UInt64?
    /// Held in the worker's hold queue for its version (routed, no endpoint ready yet).
    private var holding = false
    /// `startAttempts` ran (the shadow was decided, attempts started).
    private var begun = false
    /// Request bytes earlier attempts sent, kept while the call is held after they failed.
    private var heldReplay: ReplayChunks?
    /// Body bytes received from the client and forwarded to it (gRPC framing included).
    private var requestBytes = 0
    private var responseBytes = 0
    /// Attempts started, and the endpoint of the last one that opened.
    private var attempts = 0
    private var upstream: Endpoint?
    /// The call's status once known (nil: not yet, or it ended without one) and when.
    private var finalStatus: Int?
    private var statusAt: UInt64 = 0
    /// The call's trace when the gateway traces (`--otlp-endpoint`).
    private var trace: CallTrace?
    /// The open attempt's span, while the call is traced and sampled.
    private var attemptSpan: AttemptSpan?
    /// The last attempt's span once it ended: recorded with the server span (one record).
    private var endedAttempt: SpanRecord.Child?
    /// The client's stream closed before the call had a status (cancelled, reset, connection
    /// lost): the call's record says CANCELLED.
    private var clientGone = false

    /// An attempt's span while it runs (plain values: its endpoint is `upstream`).
    private struct AttemptSpan {
        var id: UInt64
        var start: UInt64
        var number: Int
        var status: Int?
    }

    init(worker: RouterWorker, client: HTTP2Stream, head: GRPCRequestHead, readsFields: Bool) {
        self.worker = worker
        self.client = client
        self.head = head
        self.readsFields = readsFields
        downstream = ClientHalf(tracker: GRPCFrameTracker(maxMessageBytes: worker.config.maxMessageBytes,
                                                          compressionAllowed: head.encoding != nil))
    }

    // MARK: Client stream

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        guard kind == .request else { return }
        if let telemetry = worker.telemetry, telemetry.tracing { trace = telemetry.startTrace(head.headers) }
        if let deadline = head.deadline {
            let now = monotonicNanos()
            // The timer holds the call until it fires or `cleanUp` cancels it (a weak
            // reference would cost a side-table allocation per call).
            deadlineTimer = worker.loop.schedule(afterNanos: deadline > now ? deadline - now : 0) {
                self.deadlineTimer = nil
                self.deadlinePassed()
            }
        }
        if let model = head.headers[literal: "byoc-model"] {
            if let version = head.headers[literal: "byoc-version"] {
                route(model: model, version: version)
            } else if head.encoding != nil || !readsFields {
                // A compressed body cannot be scanned for field 2, and another method's fields
                // mean something else: the split or default decides.
                route(model: model, version: "")
            } else {
                // Field 2 of the body still names the version (an explicit version is never
                // ignored): route once it is read.
                headerModel = model
            }
        }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        requestBytes += data.count
        guard !machine.isFinished else {
            stream.consume(data.count)
            return
        }
        do { try downstream.tracker.advance(over: data) } catch {
            stream.consume(data.count)
            fail(error.status)
            return
        }
        if downstream.tracker.messagesFinished == 0 {
            if firstMessageTimer == nil { startFirstMessageTimer() }
        } else if firstMessageTimer != nil {
            cancelFirstMessageTimer()
        }
        switch machine.requestBytes {
        case .scan:
            // Usually the first DATA frame holds the prefix and fields 1 and 2: route from it
            // directly, without holding a copy.
            if downstream.scanBytes.isEmpty && downstream.held.isEmpty && scanForRoute(data, final: false) {
                if machine.requestBytes == .forward { forward(data) } else { stream.consume(data.count) }
                return
            }
            downstream.held.append(data)
            if downstream.scanBytes.count < Self.maxScanBytes {
                let take = min(data.count, Self.maxScanBytes - downstream.scanBytes.count)
                downstream.scanBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<take]))
            }
            scanCollected(final: false)
        case .forward:
            forward(data)
        case .discard:
            stream.consume(data.count)
        }
    }

    func streamEnded(_ stream: HTTP2Stream) {
        downstream.ended = true
        switch machine.requestEnded(atMessageBoundary: downstream.tracker.atMessageBoundary) {
        case .scanLast:
            scanCollected(final: true)
        case .endAttemptRequest:
            finishRequestUpstream(attempt)
        case .startAttempt:
            startAttempts()
        case .fail(let status):
            performFail(status)
        case .none:
            break
        }
    }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) {
        // Response bytes left for the client: return them to the endpoint's window.
        if streamGuard != nil {
            let modelBytes = streamGuard!.drained(bytes)
            if modelBytes > 0 { attempt?.stream.consume(modelBytes) }
            return
        }
        attempt?.stream.consume(bytes)
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        if reason != .finished { clientGone = true }
        switch machine.clientClosed() {
        case .cancelAttempt:
            cancelAttempt()
            cleanUp()
        case .cleanUp:
            cleanUp()
        case .none:
            break
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
            route(model: headerModel ?? model, version: version)
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
        guard case .routing = machine.state else { return }
        guard !model.isEmpty else {
            fail(GRPCStatus(.invalidArgument, "empty model name: set field 1 (model) or the byoc-model header"))
            return
        }
        self.model = model
        namedNoVersion = version.isEmpty
        if let grant, let denied = AuthTable.check(grant, model: model) {
            // Before resolving, so a token cannot probe which models exist.
            self.model = ""
            fail(denied.status)
            return
        }
        switch worker.resolve(model: model, version: version, splitKey: version.isEmpty ? head.headers[literal: "byoc-split-key"] : nil) {
        case .unknownModel:
            fail(GRPCStatus(.notFound, "unknown model \"\(model)\""))
        case .unknownVersion:
            fail(GRPCStatus(.notFound, "model \"\(model)\" has no version \"\(version)\""))
        case .found(let route):
            resolved = route
            if let grant, route.stats.lastAuthorizationID != grant.id {
                route.stats.lastAuthorizationID = grant.id
                route.stats.lastAuthorization = head.metadata("authorization")
            }
            // A model call (one request message) waits for its message before it reaches a model
            // or a hold, so a caller that sends headers and nothing else costs neither.
            machine.routed(awaitRequest: readsFields && !requestIsReady)
            downstream.scanBytes = []
            if readsFields && head.path == Self.streamInferPath {
                streamGuard = StreamInferGuard(model: model, namedVersion: version, servedVersion: route.version,
                                               routedByHeader: head.headers[literal: "byoc-model"] != nil,
                                               maxScanBytes: Self.maxScanBytes)
            }
            if machine.state == .waitingForAttempt { proceed() }
        }
    }

    /// The routed call's request may go on: to its attempts, or, with no ready endpoint, into
    /// the hold while its version wakes (one that scales to zero; any other is answered now).
    private func proceed() {
        guard let route = resolved else { return }
        guard route.endpoints.isEmpty else {
            startAttempts()
            return
        }
        countInFlight()
        if let status = worker.hold(self, model: model, route: route) { fail(status) } else { holding = true }
    }

    /// Counts the call in its version's in-flight gauge and last-called time, once: when it goes
    /// to a model (or is held, or fails for want of an endpoint), not while it waits for its
    /// message, so idle streams neither look like demand to the autoscaler nor like calls.
    private func countInFlight() {
        guard !countedInFlight, let stats else { return }
        countedInFlight = true
        stats.callStarted(receivedAt: head.receivedAt)
    }

    /// True when the request may go to a model: its first message is whole, it ended, or
    /// `maxHeldBeforeAttempt` of it waits unbuffered.
    private var requestIsReady: Bool {
        downstream.ended || downstream.tracker.messagesFinished > 0
            || downstream.held.count - downstream.buffered >= Self.maxHeldBeforeAttempt
    }

    /// Returns the held bytes of the incomplete first message to the client's window, so more
    /// of it can come, while the call and the worker stay within their first-message buffers
    /// (`maxBufferedFirstMessage`, `RouterConfig.firstMessageBufferBytes`). Not for a
    /// ModelStreamInfer stream, whose guard returns refused messages to the window itself.
    private func bufferFirstMessage() {
        let owed = downstream.held.count - downstream.buffered
        guard owed > 0, streamGuard == nil, downstream.held.count <= firstMessageBufferLimit,
              worker.firstMessageBuffered + owed <= worker.config.firstMessageBufferBytes else { return }
        worker.firstMessageBuffered += owed
        downstream.buffered += owed
        downstream.consumed += owed
        client.consume(owed)
    }

    /// The most of this call's first message buffered: `maxBufferedFirstMessage`, or half a
    /// shadow copy's queue for a call its model may copy to a shadow version (the buffered
    /// bytes reach both at once, and a copy over its queue is dropped).
    private var firstMessageBufferLimit: Int {
        guard namedNoVersion, worker.routeTable.models[model]?.traffic.shadow != nil else { return Self.maxBufferedFirstMessage }
        return ShadowAttempt.maxQueuedBytes / 2
    }

    /// The buffered bytes left `held` (sent to an attempt, or dropped): the worker's buffer
    /// takes them back.
    private func releaseFirstMessageBuffer() {
        guard downstream.buffered > 0 else { return }
        worker.firstMessageBuffered -= downstream.buffered
        downstream.buffered = 0
    }

    private func startFirstMessageTimer() {
        let timeout = worker.config.firstMessageTimeoutNanos
        guard timeout > 0, !machine.isFinished else { return }
        // Held until it fires or the message is whole or `cleanUp` cancels it.
        firstMessageTimer = worker.loop.schedule(afterNanos: timeout) {
            self.firstMessageTimer = nil
            self.fail(GRPCStatus(.deadlineExceeded, "the first request message was not whole \(timeout / 1_000_000) ms "
                                 + "after it began (--first-message-timeout-ms)"))
        }
    }

    private func cancelFirstMessageTimer() {
        guard let timer = firstMessageTimer else { return }
        worker.loop.cancelTimer(timer)
        firstMessageTimer = nil
    }

    /// Opens the shadow copy (calls naming no version, when the model has a shadow) and the
    /// first attempt.
    private func startAttempts() {
        guard let route = resolved else { return }
        begun = true
        countInFlight()
        if namedNoVersion, let shadowRoute = worker.shadowRoute(model: model, primary: route.version,
                                                splitKey: head.headers[literal: "byoc-split-key"]) {
            // The copy starts as the primary does, with the same headers and deadline.
            shadow = ShadowAttempt.open(worker: worker, route: shadowRoute, head: head, dropAuthorization: grant != nil)
        }
        startAttempt()
    }

    // MARK: Holding

    /// The held call's version has ready endpoints now (`route`): it goes on as if just routed
    /// (a call held after its endpoints were unreachable resumes its attempts instead).
    func release(to route: ResolvedRoute) {
        holding = false
        guard !machine.isFinished else { return }
        resolved = route
        guard begun else {
            startAttempts()
            return
        }
        let replay = heldReplay
        heldReplay = nil
        startAttempt(replay: replay)
    }

    /// The held call ends with `status` (the wake failed or timed out, the gateway stops).
    func endHeld(_ status: GRPCStatus) {
        holding = false
        fail(status)
    }

    // MARK: Attempts

    /// Opens an attempt on the best untried endpoint and sends it what the client sent so far
    /// (`replay`: the bytes earlier attempts sent; nil for the first, which starts keeping).
    private func startAttempt(replay: ReplayChunks? = nil) {
        guard let route = resolved else { return }
        while machine.mayStartAttempt {
            // When every endpoint was tried, one that refused the stream (nothing reached the
            // model; it is going away, or over a limit) may take the retry on another
            // connection; one that failed to connect is in backoff and stays out.
            guard let target = worker.pickEndpoint(route.endpoints, excluding: tried)
                    ?? (tried.isEmpty ? nil : worker.pickEndpoint(route.endpoints, excluding: [])) else { break }
            let endpoint = target.endpoint
            // A retry is counted when another attempt really starts.
            if machine.attemptStarting() { stats?.retries += 1 }
            let remaining = head.deadline.map { deadline -> UInt64 in
                let now = monotonicNanos()
                return deadline > now ? deadline - now : 0
            }
            let dropAuthorization = grant != nil
            // A traced call's attempt is a span of its own, the model's parent.
            let spanID = trace != nil ? worker.telemetry!.nextSpanID() : 0
            let traceparent = trace.map { (trace: $0.context, parent: spanID) }
            // A trace the gateway started drops the caller's tracestate with its traceparent.
            let keepTraceState = trace.map { $0.parentSpanID != 0 } ?? true
            attempts += 1
            let next = worker.spareAttempts.make(call: self, target: target)
            if let replay { next.replay = replay }
            do {
                try next.open(at: target, in: worker.pool) { writer in
                    ProxyHeaders.writeUpstreamRequest(into: &writer, from: head.headers, path: head.path,
                                                      authority: endpoint.description, remainingNanos: remaining,
                                                      dropAuthorization: dropAuthorization, traceparent: traceparent,
                                                      keepTraceState: keepTraceState)
                }
            } catch {
                worker.spareAttempts.recycle(next)
                stats?.connectFailures += 1
                tried.append(endpoint)
                continue
            }
            attempt = next
            upstream = endpoint
            if let trace, trace.context.sampled {
                attemptSpan = AttemptSpan(id: spanID, start: monotonicNanos(), number: attempts)
            }
            machine.attemptOpened()
            if !downstream.held.isEmpty {
                var held = downstream.held
                downstream.held = ByteQueue()
                releaseFirstMessageBuffer()
                held.drain { forward($0) }
            }
            if downstream.ended { finishRequestUpstream(next) }
            return
        }
        if holdUnreachable(route, replay: replay) { return }
        let detail = worker.describeFailures(route.endpoints)
        fail(GRPCStatus(.unavailable, "no endpoint of model \"\(model)\" version \"\(version)\" is reachable\(detail)"))
    }

    /// Every endpoint of `route` failed before any request byte reached a model: a version that
    /// scales to zero (its pods stopping, or not yet out of the table) holds the call for its
    /// wake like any held call, with the bytes sent so far (`replay`) kept for the next
    /// attempt. False when the call cannot be held.
    private func holdUnreachable(_ route: ResolvedRoute, replay: ReplayChunks?) -> Bool {
        guard route.wakeable, !holding, worker.hold(self, model: model, route: route) == nil else { return false }
        holding = true
        heldReplay = replay
        tried = []
        machine.held()
        return true
    }

    /// Sends client body bytes to the open attempt, or holds them until one opens.
    private func forward(_ data: UnsafeRawBufferPointer) {
        guard let attempt else {
            downstream.held.append(data)
            if machine.state == .awaitingRequest {
                if !requestIsReady { bufferFirstMessage() }
                if requestIsReady, machine.requestReady() { proceed() }
            }
            return
        }
        if streamGuard != nil {
            guardRequest(data, to: attempt)
            return
        }
        attempt.send(data)
        // Each request byte reaches the primary through here once (a retry replays its own
        // copy), so the shadow gets every byte once too.
        shadow?.send(data)
    }

    /// A ModelStreamInfer request's bytes: those of messages for the bound model go to the
    /// attempt, the others are returned to the client's window and answered by the gateway.
    private func guardRequest(_ data: UnsafeRawBufferPointer, to attempt: UpstreamAttempt) {
        var dropped = 0
        streamGuard!.request(data) { segment in
            switch segment {
            case .forward(let run):
                attempt.send(run)
                shadow?.send(run)
            case .drop(let count):
                dropped += count
            }
        }
        guard dropped > 0 else { return }
        downstream.dropped += dropped
        downstream.consumed += dropped
        client.consume(dropped)
        flushStreamAnswers()
    }

    /// Writes the gateway's answers on a ModelStreamInfer stream when the response is between
    /// messages and its headers went out.
    private func flushStreamAnswers() {
        guard streamGuard?.pendingAnswers.isEmpty == false, client.headersSent, machine.forwardsResponseBody,
              streamGuard!.responseAtBoundary else { return }
        for answer in streamGuard!.takeAnswers() {
            responseBytes += answer.count
            client.write(answer)
        }
    }

    /// The client's request ended: end it on the open attempt and on the shadow copy.
    private func finishRequestUpstream(_ attempt: UpstreamAttempt?) {
        attempt?.stream.finish()
        shadow?.finishRequest()
    }

    /// Request bytes left for the endpoint: return those not returned yet to the client's window
    /// (a retry's replayed bytes were returned on the first attempt).
    func attemptDrained(_ attempt: UpstreamAttempt) {
        let owed = attempt.drained + downstream.dropped - downstream.consumed
        if owed > 0 {
            downstream.consumed += owed
            client.consume(owed)
        }
    }

    func attemptHeaders(_ attempt: UpstreamAttempt, _ headers: HeaderBlock, kind: HeaderKind) {
        switch kind {
        case .response:
            let status = headers[literal: "grpc-status"]
            if status != nil { attemptSpan?.status = status.flatMap { Int($0) } }
            guard machine.responseHeaders(hasStatus: status != nil) else { return }
            attempt.replay = nil
            let forwarded = ProxyHeaders.downstream(headers)
            if let status { recordStatus(Int(status)) }
            // Every answer from a model says which version served it.
            let version = self.version
            client.sendHeaders(endStream: status != nil) { writer in
                writer.append(contentsOf: forwarded)
                writer.append(literal: "byoc-served-version", version)
            }
            if streamGuard != nil { flushStreamAnswers() }
        case .trailers:
            if streamGuard != nil { flushStreamAnswers() }
            let status = headers[literal: "grpc-status"].flatMap { Int($0) }
            if attemptSpan != nil { attemptSpan!.status = status }
            guard machine.responseTrailers() else { return }
            recordStatus(status)
            client.finish(trailers: ProxyHeaders.downstream(headers))
        case .request:
            break
        }
    }

    func attemptData(_ attempt: UpstreamAttempt, _ data: UnsafeRawBufferPointer) {
        guard machine.forwardsResponseBody else {
            attempt.stream.consume(data.count)
            return
        }
        attempt.forwarded(data)
        responseBytes += data.count
        if streamGuard != nil {
            let ends = streamGuard!.responseBoundaries(data)
            guard !ends.isEmpty, streamGuard?.pendingAnswers.isEmpty == false else {
                client.write(data)
                return
            }
            // The gateway's answers go in after the first message that ends here.
            let cut = ends[0]
            client.write(UnsafeRawBufferPointer(rebasing: data[..<cut]))
            for answer in streamGuard!.takeAnswers() {
                responseBytes += answer.count
                client.write(answer)
            }
            if cut < data.count { client.write(UnsafeRawBufferPointer(rebasing: data[cut...])) }
            return
        }
        client.write(data)
    }

    func attemptEnded(_ attempt: UpstreamAttempt) {
        if let answer = machine.responseEnded() { send(answer) }
    }

    func attemptClosed(_ closed: UpstreamAttempt, reason: StreamCloseReason) {
        guard closed === attempt, let owned = attempt.take() else { return }
        if attemptSpan != nil { endAttemptSpan(Self.describe(reason)) }
        let action = machine.attemptClosed(reason, canReplay: closed.replay != nil,
                                           responseAtMessageBoundary: closed.response.atMessageBoundary,
                                           endpoint: closed.target.endpoint.description)
        if reason == .connectFailed, action != .ignore { stats?.connectFailures += 1 }
        switch action {
        case .ignore, .none:
            break
        case .answer(let answer):
            send(answer)
        case .retry:
            // Endpoints are remembered only when a retry needs them (no array on the common path).
            tried.append(closed.target.endpoint)
            let replay = closed.replay
            closed.replay = nil
            startAttempt(replay: replay)
        case .fail(let status):
            performFail(status)
        case .exhausted(let status):
            let replay = closed.replay
            closed.replay = nil
            if let route = resolved, holdUnreachable(route, replay: replay) { break }
            fail(status)
        case .endClient(let status):
            recordStatus(status.code.rawValue)
            client.finish(trailers: GRPCResponses.trailers(status))
            cleanUp()
        case .resetClient(let code):
            // The response already started: pass the failure on as a reset, like the pod did.
            client.reset(code)
            cleanUp()
        }
        worker.spareAttempts.recycle(owned)
    }

    // MARK: Ending

    /// Ends the client's response with the gateway's own status.
    private func send(_ answer: ProxyCallStateMachine.Answer) {
        switch answer {
        case .trailers(let status):
            recordStatus(status.code.rawValue)
            client.finish(trailers: GRPCResponses.trailers(status))
        case .trailersOnly(let status):
            recordStatus(status.code.rawValue)
            GRPCResponses.sendTrailersOnly(client, status)
        }
    }

    private func deadlinePassed() {
        let elapsed = Int((monotonicNanos() - head.receivedAt) / 1_000_000)
        guard var status = machine.deadlinePassed(elapsedMillis: elapsed) else { return }
        if holding { status.message += " while model \"\(model)\" version \"\(version)\" was waking" }
        performFail(status)
    }

    /// Ends the call with a status the gateway makes, cancelling the open attempt.
    func fail(_ status: GRPCStatus) {
        if machine.fail() { performFail(status) }
    }

    /// The effects of failing the call (the machine has finished it).
    private func performFail(_ status: GRPCStatus) {
        cancelAttempt()
        recordStatus(status.code.rawValue)
        if !client.isClosed {
            GRPCResponses.sendTrailersOnly(client, status)
        }
        cleanUp()
    }

    /// Cancels the open attempt (the call finished) and hands it back to the worker.
    private func cancelAttempt() {
        guard let open = attempt.take() else { return }
        if attemptSpan != nil { endAttemptSpan("cancelled: the call ended first") }
        open.cancel()
        worker.spareAttempts.recycle(open)
    }

    /// Counts the call's status and latency (once per call, when its status is known).
    private func recordStatus(_ code: Int?) {
        let now = monotonicNanos()
        (stats ?? worker.unroutedStats).record(status: code, latencyNanos: now > head.receivedAt ? now - head.receivedAt : 0)
        if finalStatus == nil {
            finalStatus = code
            statusAt = now
        }
    }

    /// Releases what the finished call holds: its place in the in-flight gauge, the deadline
    /// timer and the bytes held for an attempt.
    private func cleanUp() {
        if countedInFlight { stats?.inFlight -= 1 }
        if holding, let stats {
            holding = false
            worker.unhold(self, model: model, version: version, stats: stats)
        }
        // A copy whose request is whole goes on by itself; one cut short is cancelled.
        if !downstream.ended { shadow?.cancel() }
        shadow = nil
        if let timer = deadlineTimer {
            worker.loop.cancelTimer(timer)
            deadlineTimer = nil
        }
        cancelFirstMessageTimer()
        if !downstream.held.isEmpty {
            let n = downstream.held.count - downstream.buffered
            downstream.held.removeAll()
            downstream.consumed += n
            client.consume(n)
        }
        releaseFirstMessageBuffer()
        if let held = streamGuard?.heldBytes, held > 0 {
            streamGuard = nil
            downstream.consumed += held
            client.consume(held)
        }
        if let telemetry = worker.telemetry { finished(telemetry) }
    }

    // MARK: Telemetry

    /// The finished call's access-log entry and server span (plain records: the writer and
    /// exporter threads format them). A call whose client went away before its status is
    /// recorded as CANCELLED.
    ///
    /// Written out here rather than through `WorkerTelemetry.finished` (which the calls
    /// answered here and plain HTTP requests use): on this path the shared helper's extra
    /// copies measured 1,100 instructions per call under callgrind.
    private func finished(_ telemetry: WorkerTelemetry) {
        let end = finalStatus != nil ? statusAt : monotonicNanos()
        let duration = end > head.receivedAt ? end - head.receivedAt : 0
        let start = telemetry.unixNanos(monotonic: head.receivedAt)
        let status = finalStatus ?? (clientGone ? GRPCStatusCode.cancelled.rawValue : nil)
        if trace?.context.sampled == true {
            var span = telemetry.serverSpan(trace!, path: head.path, start: start, duration: duration)
            span.model = model
            span.version = version
            span.grpcStatus = status
            if finalStatus == nil { span.error = clientGone ? "cancelled by the client" : "the call ended without a status" }
            span.child = endedAttempt
            telemetry.record(span)
        }
        guard telemetry.logging else { return }
        var entry = AccessLogEntry()
        entry.startUnixNanos = start
        entry.durationNanos = duration
        entry.method = head.path
        entry.model = model
        entry.version = version
        entry.grpcStatus = status
        entry.requestBytes = requestBytes
        entry.responseBytes = responseBytes
        entry.peer = (client.session.driver as? HTTP2Connection)?.remoteAddress ?? ""
        entry.upstream = upstream?.description ?? ""
        entry.attempts = attempts
        entry.trace = trace?.context ?? WorkerTelemetry.callerTrace(head.headers)
        telemetry.log(entry)
    }

    /// Ends the open attempt's span (child of the call's server span) now: kept for the
    /// server span's record; an earlier attempt's (a retry) is recorded on its own.
    private func endAttemptSpan(_ failure: String) {
        guard let open = attemptSpan, let telemetry = worker.telemetry else { return }
        attemptSpan = nil
        let now = monotonicNanos()
        let start = telemetry.unixNanos(monotonic: open.start)
        if let earlier = endedAttempt, let trace {
            var server = telemetry.serverSpan(trace, path: head.path, start: 0, duration: 0)
            server.model = model
            server.version = version
            telemetry.record(server.childSpan(earlier))
        }
        endedAttempt = SpanRecord.Child(spanID: open.id, startUnixNanos: start,
                                        endUnixNanos: start + (now > open.start ? now - open.start : 0),
                                        grpcStatus: open.status, error: failure, number: open.number,
                                        serverHost: upstream?.host ?? "", serverPort: upstream?.port ?? 0)
    }

    /// Why an attempt's stream closed, for its span ("" when it finished cleanly).
    private static func describe(_ reason: StreamCloseReason) -> String {
        switch reason {
        case .finished: return ""
        case .reset(let code): return "stream reset (\(code))"
        case .connectionLost: return "the connection to the endpoint was lost"
        case .connectFailed: return "cannot connect to the endpoint"
        }
    }
}

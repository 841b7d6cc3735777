import GRPC
import HTTP2
import Messages
import Routing
import Telemetry
import Transport

/// Router settings shared by every worker.
public struct RouterConfig: Sendable {
    /// Largest request message accepted (RESOURCE_EXHAUSTED above).
    public var maxMessageBytes = 64 << 20
    /// `--shadow-max-in-flight`: shadow copies one worker keeps in flight per shadow version;
    /// a call beyond that gets no copy (dropped as `behind`), so a slow shadow costs the
    /// primary a counter increment rather than a second proxied call.
    public var shadowMaxInFlight = 64
    /// Upstream connection pool settings.
    public var pool = UpstreamPoolConfig()
    /// Name and version reported by ServerMetadata.
    public var serverName = "byoc-gateway"
    public var serverVersion = "0.1.0"
    /// `--require-auth`: the tokens every worker starts with (nil: no credentials required).
    /// Newer snapshots arrive through `RouterWorker.install(_: AuthTable)`.
    public var auth: AuthTable?
    /// `--hold-max-calls`: calls the gateway's workers hold per model version while it wakes
    /// (over it: UNAVAILABLE "hold queue full"); one instance shared by every worker.
    public var holdBudget = HoldBudget(limit: 1000)
    /// `--wake-timeout-ms`: how long held calls wait for a ready endpoint (then UNAVAILABLE).
    public var wakeTimeoutNanos: UInt64 = 60_000_000_000
    /// Asks the control plane to wake a model version (model, concrete version, the first held
    /// call's `authorization` metadata): called on the worker's loop when it starts holding
    /// calls for it; must not block.
    public var wake: (@Sendable (String, String, String?) -> Void)?
    /// The access log and the span export (both off by default).
    public var telemetry = TelemetryConfig()
    /// `--first-message-timeout-ms`: a proxied call whose first request message began but is
    /// not whole this long after is answered DEADLINE_EXCEEDED, its model call cancelled (0: no
    /// limit). A caller that sends part of a message and stops holds a model's worker (a
    /// thread-per-call server's thread) no longer than this.
    public var firstMessageTimeoutNanos: UInt64 = 10_000_000_000
    /// `--first-message-buffer-bytes`: bytes of incomplete first messages one worker buffers
    /// (returning them to the caller's window) so that a model call reaches the model only once
    /// its first message is whole; each call takes at most `ProxyCall.maxBufferedFirstMessage`.
    /// Past it, a call goes on once `ProxyCall.maxHeldBeforeAttempt` of it arrived.
    public var firstMessageBufferBytes = 64 << 20

    public init() {}
}

/// One worker's router: the current route table, this worker's upstream pool, and the
/// dispatch of each call to a proxy, a local service, or the Admin API.
public final class RouterWorker: GRPCCallDispatcher {
    /// Paths routed to a model by fields 1 and 2 of their request.
    static let routedPaths: Set<String> = [
        "/byoc.v1.Inference/Predict",
        "/inference.GRPCInferenceService/ModelInfer",
        "/inference.GRPCInferenceService/ModelMetadata",
        "/inference.GRPCInferenceService/ModelConfig",
        "/inference.GRPCInferenceService/ModelStatistics",
        "/inference.GRPCInferenceService/ModelStreamInfer",
    ]

    /// What a known path is served by.
    enum PathKind {
        /// Answered on the worker (health, OIP server calls).
        case local(UnaryCall.Handler)
        /// Proxied to a model version.
        case routed
        /// gRPC server reflection (a bidirectional stream answered on the worker).
        case reflection
    }

    public let loop: EventLoop
    public let config: RouterConfig
    let pool: UpstreamPool
    /// Attempts of this worker's calls kept for reuse.
    var spareAttempts = SpareAttempts()
    /// Bytes of incomplete first messages this worker's calls buffer ahead of their models
    /// (at most `config.firstMessageBufferBytes`; `ProxyCall.bufferFirstMessage`).
    var firstMessageBuffered = 0
    /// The table this worker routes with; replaced on this loop by `install`.
    public private(set) var routeTable: RouteTable
    /// Live per-version counters; a call looks its entry up once, when its route is known.
    private var stats: [StatsKey: VersionStats] = [:]
    /// Routes resolved against the current table, by the model and version a call asked for
    /// (only those the table has, so clients cannot grow it); emptied when a table is installed.
    private var resolved: [StatsKey: ResolvedRoute] = [:]
    /// The last route resolved: consecutive calls usually name the same model version, and
    /// comparing two short strings costs less than hashing them.
    private var lastResolved: (key: StatsKey, route: ResolvedRoute)?
    /// The last path dispatched and what serves it, for the same reason.
    private var lastPath: (path: String, kind: PathKind?)?
    /// Calls held for versions with no ready endpoint, by concrete version.
    private var holds: [StatsKey: HoldQueue] = [:]
    /// With holding off (`--hold-max-calls 0`): when each version was last asked to wake, so a
    /// burst of calls to an IDLE version sends one wake a second, not one per call.
    private var wakesWithoutHold: [StatsKey: UInt64] = [:]
    /// The gateway is stopping: held calls were answered UNAVAILABLE and no new one is held.
    private var shuttingDown = false
    /// Calls that never resolved to a model version share one entry.
    private(set) lazy var unroutedStats = versionStats(model: "", version: "")

    /// A snapshot of this worker's counters in the scrape format (call on the worker's loop).
    public var counters: RouterCounters {
        var snapshot = RouterCounters()
        for (key, entry) in stats {
            let label = "\(key.model)\u{1}\(key.version)"
            for (code, count) in entry.callsByStatus.enumerated() where count > 0 {
                let status = code < VersionStats.noStatus ? String(code) : ""
                snapshot.calls["\(label)\u{1}\(status)"] = count
            }
            if entry.retries > 0 { snapshot.retries[label] = entry.retries }
            if entry.latency.count > 0 { snapshot.latency[label] = entry.latency }
            if entry.inFlight != 0 || entry.latency.count > 0 { snapshot.inFlight[label] = entry.inFlight }
            if entry.connectFailures > 0 { snapshot.connectFailures[label] = entry.connectFailures }
            if entry.held != 0 || entry.wakeLatency.count > 0 { snapshot.held[label] = entry.held }
            if entry.wakeLatency.count > 0 { snapshot.wakeLatency[label] = entry.wakeLatency }
            if entry.holdRejections > 0 { snapshot.holdRejections[label] = entry.holdRejections }
            for (code, count) in entry.shadowCallsByStatus.enumerated() where count > 0 {
                let status = code < VersionStats.noStatus ? String(code) : ""
                snapshot.shadowCalls["\(label)\u{1}\(status)"] = count
            }
            if entry.shadowLatency.count > 0 { snapshot.shadowLatency[label] = entry.shadowLatency }
            for (reason, count) in entry.shadowDrops { snapshot.shadowDropped["\(label)\u{1}\(reason)"] = count }
        }
        return snapshot
    }
    /// Each version's in-flight calls and last call time, for the control plane's autoscaler
    /// and last-called notes (call on the worker's loop; sampled off the request path).
    public var activity: [VersionActivity] {
        var out: [VersionActivity] = []
        out.reserveCapacity(stats.count)
        for (key, entry) in stats where !key.version.isEmpty {
            out.append(VersionActivity(model: key.model, version: key.version, inFlight: entry.inFlight,
                                       lastCalledNanos: entry.lastCalledNanos, authorization: entry.lastAuthorization))
        }
        return out
    }
    private var random: FastRandom
    /// Every path with a fixed destination: one hash lookup per call decides where it goes.
    private var paths: [String: PathKind] = [:]
    /// The Admin API (nil for a pure router on static routes); also what RepositoryIndex reads.
    let admin: AdminHandler?
    private let adminStreams: AdminStreamHandler?
    /// This worker's open server-streaming Admin calls.
    private let adminStreamingCalls = AdminStreamingCalls()
    /// grpc.health.v1 on this worker, with its open Watch calls.
    let health = HealthService()
    /// The tokens this worker checks calls against (nil: auth off); replaced on this loop.
    public private(set) var authTable: AuthTable?
    /// This worker's access-log and span buffers (nil: neither is on).
    let telemetry: WorkerTelemetry?

    public init(loop: EventLoop, config: RouterConfig, routeTable: RouteTable, admin: AdminHandler?, seed: UInt64,
                adminStreams: AdminStreamHandler? = nil) {
        self.loop = loop
        self.config = config
        self.routeTable = routeTable
        self.admin = admin
        self.adminStreams = adminStreams
        self.pool = UpstreamPool(loop: loop, config: config.pool)
        self.random = FastRandom(seed: seed)
        self.authTable = config.auth
        self.telemetry = WorkerTelemetry(loop: loop, config: config.telemetry, seed: seed ^ 0xA076_1D64_78BD_642F)
        for path in Self.routedPaths { paths[path] = .routed }
        for (path, handler) in GatewayServices.handlers(for: self) { paths[path] = .local(handler) }
        for path in ReflectionStream.paths { paths[path] = .reflection }
    }

    /// Installs a newer route table (call on this worker's loop); older generations are ignored.
    public func install(_ table: RouteTable) {
        guard table.generation >= routeTable.generation else { return }
        routeTable = table
        resolved.removeAll()
        lastResolved = nil
        health.tableChanged(table)
        if !holds.isEmpty { releaseHeld() }
    }

    // MARK: Holding

    /// How a call to `route` (of `model`), which has no ready endpoint, is answered: nil when
    /// it is held (the first held call of a wake asks the control plane to wake the version),
    /// else the status that ends it now. The hold budget is taken before anything else: a call
    /// over it starts no queue, timer or wake. With `--hold-max-calls 0` (holding off) every
    /// such call asks for the wake and is answered UNAVAILABLE at once.
    func hold(_ call: ProxyCall, model: String, route: ResolvedRoute) -> GRPCStatus? {
        let name = "model \"\(model)\" version \"\(route.version)\""
        switch routeTable.models[model]?.wake[route.version] {
        case nil:
            return GRPCStatus(.unavailable, "\(name) has no ready endpoint")
        case .failed(let reason)?:
            return GRPCStatus(.unavailable, "\(name) cannot start: \(reason)")
        case .hold?:
            break
        }
        guard !shuttingDown else { return GRPCStatus(.unavailable, "\(name) has no ready endpoint and the gateway is stopping") }
        let key = StatsKey(model: model, version: route.version)
        let budget = config.holdBudget
        guard budget.take(key) else {
            route.stats.holdRejections += 1
            if budget.limit == 0 {
                let now = monotonicNanos()
                if wakesWithoutHold[key].map({ now &- $0 >= 1_000_000_000 }) ?? true {
                    wakesWithoutHold[key] = now
                    config.wake?(model, route.version, call.head.metadata("authorization"))
                }
                return GRPCStatus(.unavailable, "holding is disabled (--hold-max-calls 0): \(name) has no ready endpoint; it is waking, retry shortly")
            }
            return GRPCStatus(.unavailable, "hold queue full: \(name) is waking and already holds \(budget.count(key)) calls (--hold-max-calls \(budget.limit))")
        }
        let queue: HoldQueue
        if let existing = holds[key] {
            queue = existing
        } else {
            queue = HoldQueue(model: model, version: route.version, since: monotonicNanos())
            holds[key] = queue
            queue.timer = loop.schedule(afterNanos: config.wakeTimeoutNanos) { [unowned self] in
                self.holds[key]?.timer = nil
                self.wakeTimedOut(key)
            }
            config.wake?(model, route.version, call.head.metadata("authorization"))
        }
        queue.append(call)
        route.stats.held += 1
        return nil
    }

    /// A held call finished by itself (its deadline, its client went away): it leaves the queue.
    func unhold(_ call: ProxyCall, model: String, version: String, stats: VersionStats) {
        let key = StatsKey(model: model, version: version)
        guard let queue = holds[key], queue.remove(call) else { return }
        stats.held -= 1
        config.holdBudget.give(key)
        if queue.count == 0 { dropQueue(key) }
    }

    private func dropQueue(_ key: StatsKey) {
        guard let queue = holds.removeValue(forKey: key) else { return }
        if let timer = queue.timer { loop.cancelTimer(timer) }
    }

    /// A new table arrived: held calls whose version has endpoints now go on, spread over them;
    /// those whose version is gone or cannot start end.
    private func releaseHeld() {
        for (key, queue) in holds {
            let routes = routeTable.models[key.model]
            let name = "model \"\(key.model)\" version \"\(key.version)\""
            guard let endpoints = routes?.versions[key.version] else {
                endHeld(key, GRPCStatus(.notFound, "\(name) was deleted while the call waited for it"))
                continue
            }
            if case .failed(let reason)? = routes?.wake[key.version] {
                endHeld(key, GRPCStatus(.unavailable, "\(name) could not be woken: \(reason)"))
                continue
            }
            guard !endpoints.isEmpty, case .found(let route) = resolve(model: key.model, version: key.version) else { continue }
            dropQueue(key)
            let calls = queue.takeAll()
            route.stats.held -= calls.count
            config.holdBudget.give(key, count: calls.count)
            let now = monotonicNanos()
            route.stats.wakeLatency.observe(nanos: now > queue.since ? now - queue.since : 0)
            for call in calls { call.release(to: route) }
        }
    }

    private func wakeTimedOut(_ key: StatsKey) {
        endHeld(key, GRPCStatus(.unavailable, "model \"\(key.model)\" version \"\(key.version)\" did not become ready within \(config.wakeTimeoutNanos / 1_000_000) ms (--wake-timeout-ms)"))
    }

    /// Ends every call held for `key` with `status`.
    private func endHeld(_ key: StatsKey, _ status: GRPCStatus) {
        guard let queue = holds[key] else { return }
        dropQueue(key)
        let calls = queue.takeAll()
        versionStats(model: key.model, version: key.version).held -= calls.count
        config.holdBudget.give(key, count: calls.count)
        for call in calls { call.endHeld(status) }
    }

    /// What resolving a call's model and version found.
    enum RouteLookup {
        case found(ResolvedRoute)
        case unknownModel
        case unknownVersion
    }

    /// Resolves `model`/`version` ("" = the default version) to this worker's endpoint states
    /// and counters: one hash lookup per call once the route was seen, instead of two table
    /// lookups, one counter lookup and one pool lookup per endpoint.
    func resolve(model: String, version: String, splitKey: String? = nil) -> RouteLookup {
        if let last = lastResolved, last.key.model == model, last.key.version == version,
           !last.route.endpoints.contains(where: \.retired) {
            return .found(last.route)
        }
        let key = StatsKey(model: model, version: version)
        if let route = resolved[key], !route.endpoints.contains(where: \.retired) {
            lastResolved = (key, route)
            return .found(route)
        }
        guard let routes = routeTable.models[model] else { return .unknownModel }
        // A call that names no version of a split model picks its target per call (by its
        // split key when it has one, else at random), so it is never cached by what it named.
        let split = version.isEmpty && !routes.traffic.split.isEmpty
        let bucket = split ? (splitKey.map { TrafficBucket.of(key: $0) } ?? UInt32(random.next(below: Int(TrafficBucket.count)))) : 0
        guard let concrete = routes.concreteVersion(version, bucket: bucket), let list = routes.versions[concrete] else {
            return .unknownVersion
        }
        let concreteKey = StatsKey(model: model, version: concrete)
        let route: ResolvedRoute
        if let cached = resolved[concreteKey], !cached.endpoints.contains(where: \.retired) {
            route = cached
        } else {
            route = ResolvedRoute(version: concrete, endpoints: list.map { pool.state(for: $0) },
                                  stats: versionStats(model: model, version: concrete),
                                  wakeable: routes.wake[concrete] == .hold)
            resolved[concreteKey] = route
        }
        if !split {
            resolved[key] = route
            lastResolved = (key, route)
        }
        return .found(route)
    }

    /// The shadow version's route for a call to `model` that named no version and is served
    /// by `primary`: nil unless the model has a shadow, this call falls in its percent (by its
    /// split key's shadow bucket, else at random), and the shadow is another version.
    func shadowRoute(model: String, primary: String, splitKey: String?) -> ResolvedRoute? {
        guard let routes = routeTable.models[model], let shadow = routes.traffic.shadow, shadow.version != primary else {
            return nil
        }
        let bucket = splitKey.map { TrafficBucket.shadowOf(key: $0) } ?? UInt32(random.next(below: Int(TrafficBucket.count)))
        guard routes.shadowVersion(bucket: bucket) != nil,
              case .found(let route) = resolve(model: model, version: shadow.version) else { return nil }
        return route
    }

    /// Installs a newer token snapshot (call on this worker's loop); older generations are
    /// ignored, and a worker started without auth never turns it on.
    public func install(_ table: AuthTable) {
        guard let current = authTable else { return }
        if table.generation >= current.generation { authTable = table }
    }

    /// The call's handler. While the access log or tracing is on, every call but a proxied one
    /// (which records itself) goes through an `ObservedCall`: the one place calls answered
    /// here and calls refused before routing end, for their access-log line and span.
    public func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        let call = handler(stream, head: head)
        guard let telemetry, !(call is ProxyCall) else { return call }
        if call == nil && !stream.headersSent {
            GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.unimplemented, "unknown method \(head.path)"))
        }
        return ObservedCall(telemetry: telemetry, head: head, inner: call)
    }

    /// A call the server refused before dispatch: it ends in an `ObservedCall` too.
    public func refused(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        telemetry.map { ObservedCall(telemetry: $0, head: head, inner: nil) }
    }

    /// The delegate that handles the call (nil: it was answered, or is UNIMPLEMENTED).
    private func handler(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        let kind: PathKind?
        if let last = lastPath, last.path == head.path {
            kind = last.kind
        } else {
            kind = paths[head.path]
            lastPath = (head.path, kind)
        }
        if case .local(let handler)? = kind {
            return UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes, handler: handler)
        }
        if case .reflection? = kind {
            return ReflectionStream.call(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes)
        }
        if kind == nil && head.path.hasPrefix("/byoc.v1.Admin/") {
            guard let admin else { return nil }
            let method = String(head.method)
            // A wake may come with a predict token for the model: the credentials of the held
            // call that asked for it (checked against the request's model below).
            var wakeGrant: AuthEntry?
            if let auth = authTable {
                let authorization = head.metadata("authorization")
                let result = method == AdminMethods.wake ? auth.authenticate(authorization: authorization)
                    : auth.authorizeAdmin(authorization: authorization)
                switch result {
                case .success(let entry): wakeGrant = entry
                case .failure(let failure):
                    GRPCResponses.sendTrailersOnly(stream, failure.status)
                    return nil
                }
            }
            let authorization = head.metadata("authorization")
            if AdminMethods.serverStreaming.contains(method) {
                guard let adminStreams else {
                    GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.unimplemented, "byoc.v1.Admin/\(method) is not served here"))
                    return nil
                }
                return adminStreamingCalls.make(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes,
                                                method: method, authorization: authorization, handler: adminStreams)
            }
            return UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes) { call, message in
                if let wakeGrant, method == AdminMethods.wake {
                    guard let request = try? WakeModelVersionRequest(serializedBytes: message) else {
                        call.fail(GRPCStatus(.invalidArgument, "cannot decode WakeModelVersionRequest"))
                        return
                    }
                    if let denied = AuthTable.check(wakeGrant, model: request.model) {
                        call.fail(denied.status)
                        return
                    }
                }
                Task {
                    let result: Result<[UInt8], GRPCStatus>
                    do {
                        result = .success(try await AdminCallContext.$authorization.withValue(authorization) {
                            try await admin(method, message)
                        })
                    } catch let status as GRPCStatus {
                        result = .failure(status)
                    } catch {
                        result = .failure(GRPCStatus(.internal, "\(error)"))
                    }
                    call.loop.execute {
                        switch result {
                        case .success(let bytes): call.respond(bytes)
                        case .failure(let status): call.fail(status)
                        }
                    }
                }
            }
        }
        if case .routed? = kind { return proxy(stream, head: head, readsFields: true) }
        if head.metadata("byoc-model") != nil { return proxy(stream, head: head, readsFields: false) }
        // Answered UNIMPLEMENTED (by `dispatch` or the server).
        return nil
    }

    /// The access log or tracing is on (plain HTTP requests are recorded through `recordHTTP`).
    public var recordsCalls: Bool { telemetry != nil }

    /// The access-log line and (sampled) server span of a plain HTTP request (UI, JSON API,
    /// OIP REST, metrics): no gRPC status; the span continues the request's `traceparent`
    /// (call on this worker's loop).
    public func recordHTTP(method: String, path: String, status: Int, receivedAt: UInt64, requestBytes: Int,
                           responseBytes: Int, peer: String, traceparent: String?, tracestate: String? = nil) {
        guard let telemetry else { return }
        var call = FinishedCall(path: path, receivedAt: receivedAt, endedAt: monotonicNanos())
        call.httpMethod = method
        call.httpStatus = status
        call.requestBytes = requestBytes
        call.responseBytes = responseBytes
        let trace = telemetry.tracing ? telemetry.startTrace(traceparent: traceparent, tracestate: { tracestate }) : nil
        telemetry.finished(call, trace: trace, peer: { peer }, callerTrace: { traceparent.flatMap { TraceContext(traceparent: $0) } })
    }

    /// Hands a call to a new `ProxyCall`, after authenticating it when auth is on.
    /// A proxied call; `readsFields`: its request message has model and version in fields 1
    /// and 2 (Predict, ModelInfer, ...), unlike any other method routed by `byoc-model`.
    private func proxy(_ stream: HTTP2Stream, head: GRPCRequestHead, readsFields: Bool) -> HTTP2StreamDelegate? {
        var grant: AuthEntry?
        if let auth = authTable {
            // Authenticate now; the model is checked once routing knows it (ProxyCall.route).
            switch auth.authenticate(authorization: head.metadata("authorization")) {
            case .success(let entry):
                grant = entry
            case .failure(let failure):
                noteUnroutedStatus(failure.status.code)
                GRPCResponses.sendTrailersOnly(stream, failure.status)
                return nil
            }
        }
        let call = ProxyCall(worker: self, client: stream, head: head, readsFields: readsFields)
        call.grant = grant
        return call
    }

    /// Ends the open log follows and health watches (they would hold the drain for the whole
    /// grace period) and answers held calls UNAVAILABLE (no replica will start for them now).
    public func beginShutdown() {
        adminStreamingCalls.shutdown()
        health.shutdown()
        shuttingDown = true
        for key in Array(holds.keys) {
            endHeld(key, GRPCStatus(.unavailable, "the gateway is stopping: model \"\(key.model)\" version \"\(key.version)\" did not become ready in time"))
        }
    }

    /// Picks an endpoint by power-of-two-choices on this worker's in-flight streams, skipping
    /// endpoints in connect backoff and those in `excluding`.
    func pickEndpoint(_ endpoints: [EndpointState], excluding tried: [Endpoint]) -> EndpointState? {
        func eligible(_ state: EndpointState) -> Bool {
            pool.isAvailable(state) && (tried.isEmpty || !tried.contains(state.endpoint))
        }
        switch endpoints.count {
        case 0:
            return nil
        case 1:
            let only = pool.live(endpoints[0])
            return eligible(only) ? only : nil
        case 2:
            // The common case without temporary arrays: both candidates are the two endpoints.
            let first = random.next(below: 2)
            let a = pool.live(endpoints[first])
            let b = pool.live(endpoints[1 - first])
            switch (eligible(a), eligible(b)) {
            case (true, true): return b.inFlight < a.inFlight ? b : a
            case (true, false): return a
            case (false, true): return b
            case (false, false): return nil
            }
        default:
            let states = endpoints.map { pool.live($0) }
            return PowerOfTwoChoices.pick(load: states.map(\.inFlight), eligible: states.map(eligible), random: &random)
                .map { states[$0] }
        }
    }

    /// ": <last error>" of the endpoints that failed recently, for UNAVAILABLE messages.
    func describeFailures(_ endpoints: [EndpointState]) -> String {
        let errors = endpoints.map { pool.live($0).lastError }.filter { !$0.isEmpty }
        return errors.isEmpty ? "" : " (\(errors.prefix(3).joined(separator: "; ")))"
    }

    /// The counters of a model version (model and version "" for calls never routed).
    func versionStats(model: String, version: String) -> VersionStats {
        let key = StatsKey(model: version.isEmpty ? "" : model, version: version)
        if let entry = stats[key] { return entry }
        let entry = VersionStats()
        stats[key] = entry
        return entry
    }

    /// Counts a call that ended before it was routed (e.g. refused credentials).
    func noteUnroutedStatus(_ code: GRPCStatusCode) {
        unroutedStats.record(status: code.rawValue, latencyNanos: 0)
    }

    /// The worker stops: close its connections to model endpoints, which nothing uses now.
    public func didStop() {
        telemetry?.stop()
        pool.closeAll()
    }
}

/// A model version resolved on one worker: its concrete version, the pool's state of each
/// ready endpoint (in the table's order), its counters and whether calls wait for its wake.
final class ResolvedRoute {
    let version: String
    let endpoints: [EndpointState]
    let stats: VersionStats
    /// The version scales to zero: calls wait for its wake while no endpoint takes them.
    let wakeable: Bool

    init(version: String, endpoints: [EndpointState], stats: VersionStats, wakeable: Bool = false) {
        self.version = version
        self.endpoints = endpoints
        self.stats = stats
        self.wakeable = wakeable
    }
}

/// Identifies a model version (its counters, a resolved route, its held calls).
struct StatsKey: Hashable {
    var model: String
    var version: String
}

/// One model version's counters on one worker: plain fields, touched only on the worker's loop.
final class VersionStats {
    /// Index of calls that ended without a grpc-status.
    static let noStatus = 17
    /// Calls by grpc-status code (0...16), and without one (17).
    var callsByStatus = [Int](repeating: 0, count: 18)
    var retries = 0
    var inFlight = 0
    /// `monotonicNanos()` when the last call was routed here (its headers' arrival); 0 = never.
    var lastCalledNanos: UInt64 = 0
    var connectFailures = 0
    var latency = LatencyHistogram()
    /// Calls held now, waiting for the version to wake.
    var held = 0
    /// With auth on, the credentials of the last call to this version (a follower reports its
    /// activity to the leader with them).
    var lastAuthorization: String?
    /// The token id `lastAuthorization` belongs to: the header is read again only when a call
    /// comes with another token (not on every call).
    var lastAuthorizationID: String?
    /// Calls refused because the hold queue was full.
    var holdRejections = 0
    /// First held call -> held calls released, per wake.
    var wakeLatency = LatencyHistogram()

    /// Shadow copies by the grpc-status of their (dropped) answers, like `callsByStatus`;
    /// allocated at the first copy.
    var shadowCallsByStatus: [Int] = []
    var shadowLatency = LatencyHistogram()
    /// Copies dropped, by reason.
    var shadowDrops: [String: Int] = [:]
    /// Shadow copies to this version open on this worker (also counted in `inFlight`).
    var shadowInFlight = 0

    /// A call routed here starts (`receivedAt`: when its headers arrived): one more in flight,
    /// and the last call time (two stores; the sampler converts the time to wall clock).
    func callStarted(receivedAt: UInt64) {
        inFlight += 1
        lastCalledNanos = receivedAt
    }

    /// Counts a finished call with its status (nil or unknown: no status) and latency.
    func record(status: Int?, latencyNanos: UInt64) {
        callsByStatus[Self.index(status)] += 1
        latency.observe(nanos: latencyNanos)
    }

    /// Counts a finished shadow copy (its answer dropped) with its status and latency.
    func recordShadow(status: Int?, latencyNanos: UInt64) {
        if shadowCallsByStatus.isEmpty { shadowCallsByStatus = [Int](repeating: 0, count: Self.noStatus + 1) }
        shadowCallsByStatus[Self.index(status)] += 1
        shadowLatency.observe(nanos: latencyNanos)
    }

    /// Counts a shadow copy that was dropped.
    func shadowDropped(_ reason: ShadowAttempt.DropReason) {
        shadowDrops[reason.rawValue, default: 0] += 1
    }

    private static func index(_ status: Int?) -> Int {
        status.flatMap { (0..<noStatus).contains($0) ? $0 : nil } ?? noStatus
    }
}

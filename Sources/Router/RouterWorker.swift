import GRPC
import HTTP2
import Messages
import Transport

/// Router settings shared by every worker.
public struct RouterConfig: Sendable {
    /// Largest request message accepted (RESOURCE_EXHAUSTED above).
    public var maxMessageBytes = 64 << 20
    /// Upstream connection pool settings.
    public var pool = UpstreamPoolConfig()
    /// Name and version reported by ServerMetadata.
    public var serverName = "byoc-gateway"
    public var serverVersion = "0.1.0"
    /// `--require-auth`: the tokens every worker starts with (nil: no credentials required).
    /// Newer snapshots arrive through `RouterWorker.install(_: AuthTable)`.
    public var auth: AuthTable?

    public init() {}
}

/// Answers Admin RPCs off the worker loops: method name and request bytes in, response bytes
/// out, or a thrown `GRPCStatus`.
public typealias AdminHandler = @Sendable (_ method: String, _ request: [UInt8]) async throws -> [UInt8]

/// Per-worker counters, read by the metrics endpoint through the worker's loop.
///
/// Keys are `model + "\u{1}" + version` (calls: `+ "\u{1}" + grpc-status`). Calls that never
/// resolved to a model version (unknown model or version, unparsable request) are counted
/// under model "" and version "" so that client-chosen names cannot grow the key set.
public struct RouterCounters {
    /// Calls by model, version and grpc-status (the number as text; "" when none was seen).
    public var calls: [String: Int] = [:]
    /// Retries by model and version.
    public var retries: [String: Int] = [:]
    /// Latency (request headers received -> status known) by model and version.
    public var latency: [String: LatencyHistogram] = [:]
    /// Calls routed to a version and not finished yet, by model and version.
    public var inFlight: [String: Int] = [:]
    /// Failed connection attempts to model endpoints, by model and version.
    public var connectFailures: [String: Int] = [:]

    public init() {}
}

/// A fixed-bucket latency histogram (plain counters; one per model version per worker).
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets in nanoseconds: 0.5 ms ... 10 s (plus +Inf).
    public static let boundsNanos: [UInt64] = [
        500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
        250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]
    /// Observations per bucket (not cumulative); the last one is +Inf.
    public var buckets = [Int](repeating: 0, count: LatencyHistogram.boundsNanos.count + 1)
    /// Sum of all observations in nanoseconds.
    public var sumNanos: UInt64 = 0
    public var count = 0

    public init() {}

    public mutating func observe(nanos: UInt64) {
        var index = 0
        let bounds = Self.boundsNanos
        while index < bounds.count && nanos > bounds[index] { index += 1 }
        buckets[index] += 1
        sumNanos &+= nanos
        count += 1
    }

    /// Adds another histogram's observations (summing workers on scrape).
    public mutating func merge(_ other: LatencyHistogram) {
        for index in buckets.indices { buckets[index] += other.buckets[index] }
        sumNanos &+= other.sumNanos
        count += other.count
    }
}

/// One worker's router: the current route table, this worker's upstream pool, and the
/// dispatch of each call to a proxy, a local service, or the Admin API.
public final class RouterWorker: GRPCCallDispatcher {
    /// Paths routed to a model by fields 1 and 2 of their request.
    static let routedPaths: Set<String> = [
        "/byoc.v1.Inference/Predict",
        "/inference.GRPCInferenceService/ModelInfer",
        "/inference.GRPCInferenceService/ModelMetadata",
    ]

    public let loop: EventLoop
    public let config: RouterConfig
    let pool: UpstreamPool
    /// The table this worker routes with; replaced on this loop by `install`.
    public private(set) var routeTable: RouteTable
    public private(set) var counters = RouterCounters()
    private var random: FastRandom
    private var localHandlers: [String: UnaryCall.Handler] = [:]
    private let admin: AdminHandler?
    /// The tokens this worker checks calls against (nil: auth off); replaced on this loop.
    public private(set) var authTable: AuthTable?

    public init(loop: EventLoop, config: RouterConfig, routeTable: RouteTable, admin: AdminHandler?, seed: UInt64) {
        self.loop = loop
        self.config = config
        self.routeTable = routeTable
        self.admin = admin
        self.pool = UpstreamPool(loop: loop, config: config.pool)
        self.random = FastRandom(seed: seed)
        self.authTable = config.auth
        localHandlers = GatewayServices.handlers(for: self)
    }

    /// Installs a newer route table (call on this worker's loop); older generations are ignored.
    public func install(_ table: RouteTable) {
        if table.generation >= routeTable.generation { routeTable = table }
    }

    /// Installs a newer token snapshot (call on this worker's loop); older generations are
    /// ignored, and a worker started without auth never turns it on.
    public func install(_ table: AuthTable) {
        guard let current = authTable else { return }
        if table.generation >= current.generation { authTable = table }
    }

    public func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        if let handler = localHandlers[head.path] {
            return UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes, handler: handler)
        }
        if head.service == "byoc.v1.Admin" {
            guard let admin else { return nil }
            if let auth = authTable, case .failure(let failure) = auth.authorizeAdmin(authorization: head.metadata("authorization")) {
                GRPCResponses.sendTrailersOnly(stream, failure.status)
                return nil
            }
            let method = String(head.method)
            return UnaryCall(stream: stream, head: head, loop: loop, maxMessageBytes: config.maxMessageBytes) { call, message in
                Task {
                    let result: Result<[UInt8], GRPCStatus>
                    do { result = .success(try await admin(method, message)) } catch let status as GRPCStatus {
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
        if Self.routedPaths.contains(head.path) || head.metadata("byoc-model") != nil {
            var grant: AuthEntry?
            if let auth = authTable {
                // Authenticate now; the model is checked once routing knows it (ProxyCall.route).
                switch auth.authenticate(authorization: head.metadata("authorization")) {
                case .success(let entry):
                    grant = entry
                case .failure(let failure):
                    noteStatus(model: "", version: "", status: String(failure.status.code.rawValue))
                    GRPCResponses.sendTrailersOnly(stream, failure.status)
                    return nil
                }
            }
            let call = ProxyCall(worker: self, client: stream, head: head)
            call.grant = grant
            return call
        }
        return nil
    }

    public func beginShutdown() {}

    /// Picks an endpoint by power-of-two-choices on this worker's in-flight streams, skipping
    /// endpoints in connect backoff and those in `excluding`.
    func pickEndpoint(_ endpoints: [Endpoint], excluding tried: [Endpoint]) -> Endpoint? {
        if endpoints.count == 1 {
            let only = endpoints[0]
            return tried.contains(only) || !pool.isAvailable(only) ? nil : only
        }
        var load: [Int] = []
        var eligible: [Bool] = []
        load.reserveCapacity(endpoints.count)
        eligible.reserveCapacity(endpoints.count)
        for endpoint in endpoints {
            load.append(pool.endpoints[endpoint]?.inFlight ?? 0)
            eligible.append(!tried.contains(endpoint) && pool.isAvailable(endpoint))
        }
        return PowerOfTwoChoices.pick(load: load, eligible: eligible, random: &random).map { endpoints[$0] }
    }

    /// ": <last error>" of the endpoints that failed recently, for UNAVAILABLE messages.
    func describeFailures(_ endpoints: [Endpoint]) -> String {
        let errors = endpoints.compactMap { pool.endpoints[$0]?.lastError }.filter { !$0.isEmpty }
        return errors.isEmpty ? "" : " (\(errors.prefix(3).joined(separator: "; ")))"
    }

    func noteStatus(model: String, version: String, status: String?) {
        let model = version.isEmpty ? "" : model
        counters.calls["\(model)\u{1}\(version)\u{1}\(status ?? "")", default: 0] += 1
    }

    /// Records the latency of a finished call that started at `startedAt` (monotonic ns).
    func observeLatency(model: String, version: String, startedAt: UInt64) {
        let now = monotonicNanos()
        let model = version.isEmpty ? "" : model
        counters.latency["\(model)\u{1}\(version)", default: LatencyHistogram()].observe(nanos: now > startedAt ? now - startedAt : 0)
    }

    func callStarted(model: String, version: String) {
        counters.inFlight["\(model)\u{1}\(version)", default: 0] += 1
    }

    func callFinished(model: String, version: String) {
        counters.inFlight["\(model)\u{1}\(version)", default: 0] -= 1
    }

    func noteConnectFailure(model: String, version: String) {
        counters.connectFailures["\(model)\u{1}\(version)", default: 0] += 1
    }

    func noteRetry(model: String, version: String) {
        counters.retries["\(model)\u{1}\(version)", default: 0] += 1
    }

    /// Closes upstream connections (worker shutdown).
    public func closeUpstreams() {
        pool.closeAll()
    }
}

import Foundation
import GRPC
import HTTP1
import Messages
import Router
import Routing
import Server
import Transport

/// Settings of the web console.
public struct WebConsoleOptions: Sendable {
    /// HTTP limits (request line, headers, body, timeouts).
    public var limits = HTTPLimits()
    /// How often the stats ring buffer samples the counters.
    public var statsIntervalNanos: UInt64 = 5_000_000_000
    /// Samples kept (720 x 5 s = the last hour).
    public var statsSamples = 720
    /// "registry" (Admin API available) or "routes" (static route file, read-only).
    public var mode = "registry"
    public var serverName = "byoc-gateway"
    public var serverVersion = BuildInfo.version
    /// Deadline of a Predict sent from the UI (the default and the ceiling for `timeoutMs`).
    public var predictTimeoutMs = 30_000

    public init() {}
}

/// One worker as the console sees it: its loop, router and servers. Read only on its loop.
final class ConsoleWorker: @unchecked Sendable {
    let loop: EventLoop
    let router: RouterWorker
    /// The worker's gRPC side. Workers live as long as the process; a weak reference here
    /// would move every retain of the worker (one per stream) onto the runtime's slow path.
    unowned(unsafe) var grpc: GRPCServerWorker?
    var http1: HTTP1ServerWorker!

    init(loop: EventLoop, router: RouterWorker, grpc: GRPCServerWorker?) {
        self.loop = loop
        self.router = router
        self.grpc = grpc
    }

    /// Copies this worker's counters (call on its loop).
    func sample() -> WorkerSample {
        var sample = WorkerSample()
        sample.router = router.counters
        sample.http2Connections = grpc?.connectionCount ?? 0
        sample.http2Streams = grpc?.streamCount ?? 0
        sample.http1Connections = http1?.connectionCount ?? 0
        sample.http1 = http1?.counters ?? HTTP1Counters()
        let table = router.routeTable
        sample.routeGeneration = table.generation
        sample.routeModels = table.models.count
        sample.routeVersions = table.models.values.reduce(0) { $0 + $1.versions.count }
        sample.routeTable = table
        return sample
    }
}

/// The gateway's web side: `/healthz`, `/readyz`, `/metrics`, the JSON API `/api/v1/...` and
/// the UI at `/`, served over HTTP/1.1 (sniffed on the gRPC port) and over h2c.
///
/// Per worker it builds an `HTTPService` (routes bound to that worker's router) and installs an
/// HTTP/1.1 server and the HTTP/2 plain-request bridge on the gRPC worker. Metrics are summed
/// on scrape by visiting every worker's loop; the request path keeps plain per-worker counters.
public final class WebConsole: @unchecked Sendable {
    public let options: WebConsoleOptions
    public let stats: StatsHistory
    let admin: AdminHandler?
    /// The server-streaming Admin API (GetLogs, for the log panel); set before `attach`.
    public var adminStreams: AdminStreamHandler?
    let control: (@Sendable () async -> ControlSample)?
    /// Makes each worker's request-authorization hook for the JSON API, from that worker's
    /// router (nil: open). Set before `attach`.
    public var makeAuthorizer: ((RouterWorker) -> HTTPAuthorizer)?
    /// Reads the access log's and span export's counts for /metrics (nil: both off).
    public var telemetry: (@Sendable () -> TelemetrySample)?
    /// Credentials are required (the UI shows its login box).
    public var authRequired: Bool { makeAuthorizer != nil }

    private let lock = NSLock()
    private var workers: [ConsoleWorker] = []
    private var predictClient: GRPCClient?
    private var sampler: Task<Void, Never>?

    /// - Parameters:
    ///   - admin: the Admin API (nil in static-routes mode: the API is read-only then).
    ///   - control: reads reconcile and registry numbers for /metrics (nil: taken from the
    ///     route tables).
    public init(admin: AdminHandler?, control: (@Sendable () async -> ControlSample)?, options: WebConsoleOptions = WebConsoleOptions()) {
        self.admin = admin
        self.control = control
        var options = options
        // The OIP REST infer body is bounded like a gRPC message (limits.maxLargeBodyBytes).
        if options.limits.largeBodyPathPrefix == nil { options.limits.largeBodyPathPrefix = OIPRoutes.largeBodyPrefix }
        self.options = options
        self.stats = StatsHistory(capacity: options.statsSamples)
    }

    /// Installs the console on a gRPC server worker (call from `GRPCServer.start`'s
    /// `configureWorker`, before the loop runs). The worker's dispatcher must be a `RouterWorker`.
    public func attach(_ worker: GRPCServerWorker) {
        guard let router = worker.dispatcher as? RouterWorker else { return }
        let (http1, bridge) = makeServers(loop: worker.loop, router: router, grpc: worker)
        worker.http1 = http1
        worker.plainHTTP = bridge
    }

    /// Builds one worker's HTTP/1.1 server and HTTP/2 bridge (also used by tests without a
    /// gRPC server).
    public func makeServers(loop: EventLoop, router: RouterWorker, grpc: GRPCServerWorker?) -> (HTTP1ServerWorker, HTTP2PlainBridge) {
        let worker = ConsoleWorker(loop: loop, router: router, grpc: grpc)
        let service = HTTPService(router: ConsoleRoutes.router(console: self, worker: worker),
                                  authorizer: makeAuthorizer?(router))
        service.errorResponse = { request, status, message in
            if request.path.hasPrefix("/api/") {
                return .jsonError(status, code: ConsoleRoutes.codeName(status), message: message)
            }
            return .text(status, message)
        }
        if router.recordsCalls {
            service.completed = { [unowned router] request, response, receivedAt in
                router.recordHTTP(method: request.method, path: request.path, status: response.status, receivedAt: receivedAt,
                                  requestBytes: request.body.count, responseBytes: response.body.count, peer: request.peer,
                                  traceparent: request.header("traceparent"), tracestate: request.header("tracestate"))
            }
        }
        let http1 = HTTP1ServerWorker(loop: loop, service: service, limits: options.limits)
        worker.http1 = http1
        lock.lock()
        workers.append(worker)
        lock.unlock()
        return (http1, HTTP2PlainBridge(service: service, loop: loop, limits: options.limits))
    }

    /// Starts the stats sampler; Predict from the UI goes to `predictHost:predictPort` (the
    /// gateway's own listener).
    public func start(predictHost: String, predictPort: Int) {
        var host = predictHost
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        lock.lock()
        predictClient = GRPCClient(host: host, port: predictPort)
        lock.unlock()
        let interval = options.statsIntervalNanos
        sampler = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                let snapshot = await self.snapshot(includeControl: false)
                self.stats.record(snapshot, nanos: monotonicNanos(), unixMs: Int64(Date().timeIntervalSince1970 * 1000))
                try? await Task.sleep(nanoseconds: interval)
            }
        }
    }

    /// Stops the sampler and the Predict client.
    public func stop() {
        sampler?.cancel()
        sampler = nil
        lock.lock()
        let client = predictClient
        predictClient = nil
        lock.unlock()
        client?.close()
    }

    var client: GRPCClient? {
        lock.lock()
        defer { lock.unlock() }
        return predictClient
    }

    /// Every worker's counters, collected on their loops and summed, plus the control plane's.
    public func snapshot(includeControl: Bool = true) async -> MetricsSnapshot {
        let list = lock.withLock { workers }
        let samples = await withTaskGroup(of: WorkerSample.self) { group in
            for worker in list {
                group.addTask { await worker.loop.submit { worker.sample() } }
            }
            var all: [WorkerSample] = []
            for await sample in group { all.append(sample) }
            return all
        }
        var control = ControlSample()
        if includeControl {
            if let read = self.control {
                control = await read()
            } else if let newest = samples.max(by: { $0.routeGeneration < $1.routeGeneration }) {
                control.registryModels = newest.routeModels
                control.registryVersions = newest.routeVersions
            }
        }
        var snapshot = MetricsSnapshot(workers: samples, control: control)
        if includeControl {
            snapshot.process = ProcessSample.current()
            snapshot.buildVersion = options.serverVersion
            snapshot.telemetry = telemetry?()
        }
        return snapshot
    }

    /// The `/metrics` text in `format`.
    public func metricsText(format: MetricsFormat = .prometheus) async -> String {
        PrometheusText.render(await snapshot(), format: format)
    }

    /// Runs GetLogs (without follow) to its end; gRPC statuses become `APIError`s.
    func logLines(_ request: GetLogsRequest) async throws -> [LogLine] {
        guard let adminStreams else {
            throw APIError(501, "UNIMPLEMENTED", "this gateway keeps no replica logs (--routes)")
        }
        var request = request
        request.follow = false
        do {
            var lines: [LogLine] = []
            for try await bytes in try await adminStreams("GetLogs", request.serializedBytes()) {
                lines.append(try ConsoleRoutes.decode(LogLine.self, bytes))
            }
            return lines
        } catch let status as GRPCStatus {
            throw APIError(status)
        }
    }

    /// Calls the Admin API with `request` and decodes the answer as `Response`; gRPC statuses
    /// become `APIError`s.
    func adminCall<Response: ProtoMessage>(_ method: String, _ request: some ProtoMessage,
                                           as _: Response.Type) async throws -> Response {
        guard let admin else {
            throw APIError(501, "UNIMPLEMENTED",
                           "this gateway serves a static route file (--routes): there is no registry to change")
        }
        let bytes: [UInt8]
        do { bytes = try await admin(method, request.serializedBytes()) } catch let status as GRPCStatus {
            throw APIError(status)
        }
        return try ConsoleRoutes.decode(Response.self, bytes)
    }
}

import Admin
import Foundation
import GRPC
import HTTP1
import Kubernetes
import Local
import Messages
import Reconciler
import Registry
import Router
import Routing
import Server
import Telemetry
import TLS
import Transport
import WebConsole

/// The assembled gateway: the gRPC server with one router per worker, fed by a static route
/// file (pure router) or by the registry through the reconciler.
final class Gateway: @unchecked Sendable {
    let options: GatewayOptions
    private var server: GRPCServer!
    private let generation = Generation()
    private var routers: [RouterWorker] = []
    private var registry: Registry?
    /// One gateway per registry file (held until the process exits).
    private var registryLock: RegistryLock?
    private var reconciler: Reconciler?
    /// The concurrency autoscaler, last-called notes and GC: for the whole run (local runtime)
    /// or while this replica leads (Kubernetes).
    private let lifecycle = LifecycleSlot()
    /// `--runtime kubernetes`: leader election, the reconciler while leading, routes otherwise.
    private var kube: KubeControlPlane?
    /// The web console: /healthz, /readyz, /metrics, the JSON API and the UI (HTTP/1.1 and h2c).
    private var console: WebConsole?
    /// `--tls-listen`: the certificate (re-read on SIGHUP) and the TLS ports on the workers.
    private var tlsContext: TLSServerContext?
    private var tlsListeners: TLSListeners?
    /// `--require-auth` / `--admin-token-file` (nil: neither given).
    private var auth: GatewayAuth?
    /// `--runtime kubernetes` with auth: the token Secret every replica watches.
    private var tokenSync: TokenSecretSync?
    /// `--runtime kubernetes`: a follower's calls, reported to the leader.
    private var activityReporter: ActivityReporter?
    /// `--runtime kubernetes`: this replica's identity in the Lease (and in activity reports).
    private var kubeIdentity = ""
    private let wakesInFlight = WakesInFlight()
    /// `--access-log` and `--otlp-endpoint`: the writer and exporter threads.
    private var telemetry = TelemetryConfig()

    init(options: GatewayOptions) {
        self.options = options
    }

    /// Where the server listens.
    var address: String { server.boundAddress.map { "\($0)" } ?? "\(options.listenHost):\(options.listenPort)" }

    /// Where the TLS port listens (nil without `--tls-listen`).
    var tlsAddress: String? { tlsListeners.map { "\($0.address)" } }

    func start() throws {
        try GatewayAuth.checkOptions(options)
        var initial = RouteTable.empty
        var admin: AdminHandler?
        var adminStreams: AdminStreamHandler?
        if let routes = options.routes {
            initial = try RouteTable.load(path: routes, generation: generation.next())
        } else {
            (admin, adminStreams) = try startControlPlane()
        }
        var publish: (@Sendable (TokenSnapshot, Bool) async -> Void)?
        if let sync = tokenSync {
            publish = { snapshot, startsTerm in await sync.publish(snapshot, startsTerm: startsTerm) }
        }
        auth = try GatewayAuth.setUp(options: options, registry: registry,
                                     install: { [weak self] table in await self?.install(table) }, publish: publish)
        var routerConfig = RouterConfig()
        routerConfig.maxMessageBytes = options.maxMessageBytes
        routerConfig.shadowMaxInFlight = options.shadowMaxInFlight
        routerConfig.pool.connectTimeoutNanos = UInt64(options.connectTimeoutMs) * 1_000_000
        routerConfig.pool.idleTimeoutNanos = UInt64(options.idleTimeoutMs) * 1_000_000
        // A header list a client may send can be forwarded, and a model may answer with as much.
        routerConfig.pool.http2.maxHeaderListSize = UInt32(options.maxHeaderListBytes)
        if let auth, auth.required { routerConfig.auth = auth.initialTable }
        try startTelemetry()
        routerConfig.telemetry = telemetry
        routerConfig.holdBudget = HoldBudget(limit: options.holdMaxCalls)
        routerConfig.wakeTimeoutNanos = UInt64(options.wakeTimeoutMs) * 1_000_000
        routerConfig.firstMessageTimeoutNanos = UInt64(options.firstMessageTimeoutMs) * 1_000_000
        routerConfig.firstMessageBufferBytes = options.firstMessageBufferBytes
        routerConfig.wake = { [weak self] model, version, authorization in
            self?.wake(VersionKey(model: model, version: version), authorization: authorization)
        }

        var config = GRPCServerConfig(host: options.listenHost, port: options.listenPort, workers: options.workers)
        config.gracePeriodNanos = UInt64(options.gracePeriodMs) * 1_000_000
        config.idleTimeoutNanos = UInt64(options.clientIdleTimeoutMs) * 1_000_000
        config.http2.maxConcurrentStreams = UInt32(options.maxConcurrentStreams)
        config.http2.maxHeaderListSize = UInt32(options.maxHeaderListBytes)
        config.http2.streamResetRate = UInt64(options.maxResetsPerSecond)
        config.http2.maxControlFramesPerSecond = options.maxControlFramesPerSecond
        config.http2.peerSettingsTimeoutNanos = UInt64(options.prefaceTimeoutMs) * 1_000_000
        server = GRPCServer(config: config)
        let console = makeConsole(admin: admin, adminStreams: adminStreams)
        self.console = console
        let table = initial
        var made: [RouterWorker] = []
        try server.start(configureWorker: { worker in console.attach(worker) }) { index, loop in
            let router = RouterWorker(loop: loop, config: routerConfig, routeTable: table, admin: admin,
                                      seed: UInt64(index + 1) &* 0x9E37_79B9 ^ UInt64(UInt32(truncatingIfNeeded: getpid())),
                                      adminStreams: adminStreams)
            made.append(router)
            return router
        }
        routers = made
        if let bound = server.boundAddress { console.start(predictHost: bound.host, predictPort: bound.port) }
        try startTLS()
        tokenSync?.start()
        if let kube { kube.start(adminAddress: advertisedAddress()) }
        if let reconciler {
            // The first pass rebuilds every registered version (also after a crash).
            blockOn { await reconciler.start() }
        }
        if let loop = lifecycle.current { blockOn { await loop.start() } }
        if let kube {
            let reporter = ActivityReporter(reporter: kubeIdentity, isLeader: { kube.isLeader },
                                            sample: { [weak self] in await self?.sampleActivity() ?? ActivitySample(nanos: 0, unixMs: 0, versions: []) },
                                            send: { [weak self] key, report, authorization in
                                                await self?.sendWake(key, report: report, authorization: authorization)
                                            })
            reporter.start()
            activityReporter = reporter
        }
    }

    /// A lifecycle loop over `registry` and `reconciler`, sampling this gateway's workers.
    private func makeLifecycle(registry: Registry, reconciler: Reconciler) -> LifecycleLoop {
        LifecycleLoop(
            registry: registry, reconciler: reconciler,
            options: LifecycleOptions(gcUnusedAfterSeconds: options.gcUnusedAfterSeconds, gcUnusedAfterText: options.gcUnusedAfterText),
            sample: { [weak self] in await self?.sampleActivity() ?? ActivitySample(nanos: 0, unixMs: 0, versions: []) },
            changed: { [weak self] in
                await reconciler.registryChanged()
                await self?.routesInstalled()
            },
            routesInstalled: { [weak self] in await self?.routesInstalled() })
    }

    /// A worker holds calls for `key` (it scales to zero and has no ready endpoint): the
    /// lifecycle loop starts it again, or cancels its way to IDLE (one wake of a version at a
    /// time, however many workers ask). On Kubernetes the wake goes
    /// through the Admin handler, so a follower forwards it to the leader (with the held call's
    /// credentials); a failure is logged, and the held calls end by their wake timeout.
    private func wake(_ key: VersionKey, authorization: String?) {
        guard wakesInFlight.begin(key) else { return }
        Task { [lifecycle, kube, wakesInFlight] in
            if let kube {
                await sendWake(key, authorization: authorization, through: kube)
            } else {
                await lifecycle.current?.wake(key)
            }
            wakesInFlight.finished(key)
        }
    }

    /// `WakeModelVersion` (with `report`: a follower's activity report) through the Kubernetes
    /// control plane's Admin handler (served here while leading, else forwarded to the leader);
    /// a failure is logged.
    private func sendWake(_ key: VersionKey, report: ActivityReport? = nil, authorization: String?,
                          through kube: KubeControlPlane? = nil) async {
        guard let handler = (kube ?? self.kube)?.adminHandler else { return }
        let request = WakeModelVersionRequest(model: key.model, version: key.version, report: report).serializedBytes()
        do {
            _ = try await AdminCallContext.$authorization.withValue(authorization) {
                try await handler(AdminMethods.wake, request)
            }
        } catch {
            let what = report == nil ? "wake" : "report the calls to"
            FileHandle.standardError.write(Data("byoc-gateway: cannot \(what) \(key): \(error)\n".utf8))
        }
    }

    /// Every worker's per-version activity (in-flight calls, last call), read on each loop.
    private func sampleActivity() async -> ActivitySample {
        let versions = await withTaskGroup(of: [VersionActivity].self) { group in
            for router in routers {
                group.addTask { await router.loop.submit { router.activity } }
            }
            var all: [VersionActivity] = []
            for await part in group { all += part }
            return all
        }
        return ActivitySample(nanos: monotonicNanos(), unixMs: Int64((Date().timeIntervalSince1970 * 1000).rounded()),
                              versions: versions)
    }

    /// The Admin limits from the flags.
    private func adminLimits() -> AdminLimits {
        AdminLimits(maxReplicas: Int32(options.maxReplicas), gcUnusedAfterSeconds: options.gcUnusedAfterSeconds, gcUnusedAfterText: options.gcUnusedAfterText)
    }

    /// Starts the access-log writer and the span exporter the flags ask for.
    private func startTelemetry() throws {
        if let path = options.accessLog {
            do { telemetry.accessLog = try AccessLogFile.open(path) } catch {
                throw GatewayError(message: "\(error)")
            }
        }
        if let endpoint = options.otlpEndpoint {
            let exporter: OTLPExporter
            let encoding = OTLPExporter.Encoding(rawValue: options.otlpProtocol) ?? .json
            do {
                exporter = try OTLPExporter(endpoint: endpoint, encoding: encoding, serviceName: "byoc-gateway",
                                            serviceVersion: RouterConfig().serverVersion)
            } catch {
                throw GatewayError(message: "\(error)")
            }
            telemetry.spans = exporter.makeChannel()
            telemetry.sampleRatio = options.traceSampleRatio
            FileHandle.standardError.write(Data("byoc-gateway: tracing, spans to http://\(exporter.host):\(exporter.port)\(exporter.path) (\(encoding.rawValue)), sample ratio \(options.traceSampleRatio)\n".utf8))
        }
    }

    /// The web console, reading reconcile and registry numbers for /metrics off the request path.
    private func makeConsole(admin: AdminHandler?, adminStreams: AdminStreamHandler?) -> WebConsole {
        var consoleOptions = WebConsoleOptions()
        consoleOptions.mode = options.routes == nil ? "registry" : "routes"
        consoleOptions.statsIntervalNanos = UInt64(options.statsIntervalMs) * 1_000_000
        consoleOptions.limits.headerTimeoutNanos = UInt64(options.httpHeaderTimeoutMs) * 1_000_000
        consoleOptions.limits.idleTimeoutNanos = UInt64(options.httpIdleTimeoutMs) * 1_000_000
        // The OIP REST infer body is bounded like a gRPC message.
        consoleOptions.limits.maxLargeBodyBytes = options.maxMessageBytes
        var control: (@Sendable () async -> ControlSample)?
        if let registry, let reconciler {
            control = {
                var sample = ControlSample()
                sample.reconcileRuns = await reconciler.passCount
                sample.reconcileErrors = await reconciler.errorCount
                if let models = try? await registry.models() {
                    sample.registryModels = models.count
                    sample.registryVersions = models.reduce(0) { $0 + $1.versions.count }
                    for model in models {
                        for version in model.versions {
                            let label = VersionLabel(model: model.name, version: version.key.version)
                            sample.desiredReplicas[label] = Int(version.status.desiredReplicas)
                            sample.readyReplicas[label] = Int(version.status.readyReplicas)
                        }
                    }
                }
                return sample
            }
        }
        let console = WebConsole(admin: admin, control: control, options: consoleOptions)
        let telemetry = self.telemetry
        if telemetry.accessLog != nil || telemetry.spans != nil {
            console.telemetry = {
                TelemetrySample(accessLogLines: telemetry.accessLog?.deliveredRecords,
                                accessLogDropped: telemetry.accessLog?.droppedRecords,
                                spansExported: telemetry.spans?.deliveredRecords, spansDropped: telemetry.spans?.droppedRecords)
            }
        }
        console.adminStreams = adminStreams
        if let auth, auth.required { console.makeAuthorizer = { ConsoleAuthorizer(router: $0) } }
        return console
    }

    /// Opens the registry and builds the reconciler and the Admin API; returns the Admin handlers.
    private func startControlPlane() throws -> (AdminHandler, AdminStreamHandler) {
        try Self.prepareStateDir(options.stateDir)
        let path = options.db ?? (options.stateDir as NSString).appendingPathComponent("registry.sqlite")
        if options.runtime == "kubernetes" { return try startKubernetes(databasePath: path) }
        do {
            registryLock = try RegistryLock(registryPath: path, holder: "pid \(getpid()), --listen \(options.listenHost):\(options.listenPort)")
        } catch {
            throw GatewayError(message: "\(path): \(error)")
        }
        let registry: Registry
        do { registry = try Registry(path: path) } catch {
            throw GatewayError(message: "cannot open the registry \(path): \(error)")
        }
        let runtime = LocalRuntime(stateDir: options.stateDir, prober: GRPCHealthProber(),
                                   gracePeriod: .milliseconds(Int64(min(options.gracePeriodMs, 5_000))))
        let reconciler = Reconciler(registry: registry, runtime: runtime,
                                    options: ReconcilerOptions(resyncInterval: .milliseconds(Int64(options.resyncMs))),
                                    publish: { [weak self] table in self?.publish(table) })
        let service = AdminService(registry: registry, changed: { [weak self] in
                                       await reconciler.registryChanged()
                                       await self?.routesInstalled()
                                   },
                                   limits: adminLimits(),
                                   tokensChanged: { [weak self] snapshot in await self?.auth?.update(snapshot) },
                                   logs: Self.logSource(runtime),
                                   wake: { [lifecycle] key, activity in await lifecycle.wake(key, activity) })
        self.registry = registry
        self.reconciler = reconciler
        lifecycle.set(makeLifecycle(registry: registry, reconciler: reconciler))
        FileHandle.standardError.write(Data("byoc-gateway: registry \(path), runtime \(options.runtime), state in \(options.stateDir)\n".utf8))
        return ({ method, request in try await service.call(method: method, request: request) },
                { method, request in try await service.stream(method: method, request: request) })
    }

    /// Creates the state dir and checks that files can be written in it (the local runtime's
    /// replica logs, the development certificate): a read-only or full filesystem is an error
    /// at start, not a failure of every registration later.
    static func prepareStateDir(_ dir: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) || !isDirectory.boolValue {
                throw GatewayError(message: "cannot create the state dir \(dir): \((error as NSError).localizedDescription)")
            }
        }
        let probe = (dir as NSString).appendingPathComponent(".byoc-write-check-\(getpid())")
        let fd = open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw GatewayError(message: "the state dir \(dir) is not writable: \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }

    /// GetLogs' source: the runtime's replica logs as `LogLine`s, its errors as UNAVAILABLE.
    static func logSource(_ runtime: any Runtime) -> AdminLogSource {
        { key, tail, follow in
            let lines = runtime.logs(key, tail: tail, follow: follow)
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: LogLine.self, throwing: Error.self)
            let task = Task {
                do {
                    for try await line in lines {
                        continuation.yield(LogLine(replica: line.replica, line: line.line, timeUnixMs: line.timeUnixMs))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: GRPCStatus(.unavailable, "\(error)"))
                }
            }
            continuation.onTermination = { _ in task.cancel() }
            return stream
        }
    }

    /// `--runtime kubernetes`: the registry is opened only while this replica holds the Lease;
    /// see `KubeControlPlane` and deploy/ROUTING.md.
    private func startKubernetes(databasePath: String) throws -> (AdminHandler, AdminStreamHandler) {
        var config: KubeConfig
        do {
            config = try KubeConfig.resolve(apiURL: options.kubeAPI, tokenFile: options.kubeTokenFile,
                                            caFile: options.kubeCAFile, namespace: options.namespace)
            if config.scheme == "https" {
                let tls = try TLSClientContext(caFile: config.caFile)
                let factory = tls.channelFactory(serverName: config.host)
                config.makeChannel = { fd in try factory(fd) }
            }
        } catch {
            throw GatewayError(message: "--runtime kubernetes: \(error)")
        }
        let client = KubeClient(config: config)
        let identity = options.podName ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
        kubeIdentity = identity
        var kubeOptions = KubeControlPlaneOptions(databasePath: databasePath, identity: identity, namespace: config.namespace)
        kubeOptions.election.leaseName = options.leaseName
        kubeOptions.election.leaseDuration = .seconds(options.leaseDurationS)
        kubeOptions.election.renewInterval = .seconds(options.leaseRenewS)
        kubeOptions.election.renewDeadline = .seconds(max(options.leaseRenewS, options.leaseDurationS * 2 / 3))
        kubeOptions.election.retryInterval = .seconds(max(1, min(2, options.leaseRenewS)))
        kubeOptions.routesConfigMap = options.routesConfigMap
        kubeOptions.campaign = options.role == "all"
        kubeOptions.reconciler = ReconcilerOptions(resyncInterval: .milliseconds(Int64(options.resyncMs)))
        kubeOptions.startedLeading = { [weak self] registry in await self?.auth?.startedLeading(registry: registry) }
        // The leader runs the lifecycle loop on its own workers' counts and the followers'
        // reports (ActivityReporter).
        let limits = adminLimits()
        kubeOptions.startedReconciling = { [weak self] registry, reconciler in
            guard let self else { return }
            let loop = self.makeLifecycle(registry: registry, reconciler: reconciler)
            self.lifecycle.set(loop)
            await loop.start()
        }
        kubeOptions.stoppingReconciling = { [weak self] in await self?.lifecycle.take()?.stop() }
        kube = KubeControlPlane(client: client, options: kubeOptions, makeAdmin: { [weak self] registry, runtime, changed in
            let gateway = self
            let service = AdminService(registry: registry, changed: { [weak gateway] in
                await changed()
                await gateway?.routesInstalled()
            }, limits: limits, tokensChanged: { [weak gateway] snapshot in await gateway?.auth?.update(snapshot) },
               logs: Gateway.logSource(runtime),
               wake: { [weak gateway] key, activity in await gateway?.lifecycle.wake(key, activity) ?? false })
            return ({ method, request in try await service.call(method: method, request: request) },
                    { method, request in try await service.stream(method: method, request: request) })
        }, publish: { [weak self] table in self?.publish(table) })
        if options.requireAuth || options.adminTokenFile != nil {
            let kube = kube!
            tokenSync = TokenSecretSync(client: client, name: options.tokensSecret, log: kubeOptions.log,
                                        isLeader: { kube.isLeader },
                                        install: { [weak self] snapshot in await self?.auth?.installPublished(snapshot) })
        }
        FileHandle.standardError.write(Data(("byoc-gateway: runtime kubernetes, API \(config.url), namespace \(config.namespace), "
            + "identity \(identity), registry \(databasePath) (opened while leading)\n").utf8))
        return (kube!.adminHandler, kube!.adminStreamHandler)
    }

    /// Where other replicas reach this one's Admin API: --advertise-address, else POD_IP with
    /// the bound port, else the bound address.
    private func advertisedAddress() -> String? {
        if let given = options.advertiseAddress { return given }
        guard let bound = server.boundAddress else { return nil }
        if let podIP = ProcessInfo.processInfo.environment["POD_IP"], !podIP.isEmpty {
            return Endpoint(host: podIP, port: bound.port).description
        }
        let host = bound.host == "0.0.0.0" || bound.host == "::" ? "127.0.0.1" : bound.host
        return Endpoint(host: host, port: bound.port).description
    }

    /// Hands `table` to every worker (each swaps it in on its own loop).
    func publish(_ table: RouteTable) {
        let stamped = table.withGeneration(generation.next())
        for router in routers {
            router.loop.execute { router.install(stamped) }
        }
    }

    /// Installs a token snapshot on every worker; returns once each has it.
    private func install(_ table: AuthTable) async {
        await onEveryWorker { $0.install(table) }
    }

    /// Returns once every worker installed the route tables published before the call (each
    /// loop runs what is posted to it in order).
    func routesInstalled() async {
        await onEveryWorker { _ in }
    }

    /// Runs `body` on every worker's loop; returns once all have run it.
    private func onEveryWorker(_ body: @escaping @Sendable (RouterWorker) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for router in routers {
                group.addTask { await router.loop.submit { body(router) } }
            }
        }
    }

    /// `--tls-listen`: a TLS-only port on the same workers (so the same routers and route
    /// tables serve it); every connection there must complete a TLS handshake with ALPN.
    private func startTLS() throws {
        guard let host = options.tlsListenHost else { return }
        var certificate = options.tlsCert
        var key = options.tlsKey
        if certificate == nil || key == nil {
            let dev: (certPath: String, keyPath: String, sha256Fingerprint: String)
            do { dev = try DevCertificate.ensure(stateDir: options.stateDir) } catch {
                throw GatewayError(message: "cannot create the TLS development certificate in \(options.stateDir): \(error)")
            }
            FileHandle.standardError.write(Data("byoc-gateway: TLS development certificate \(dev.certPath) sha256 \(dev.sha256Fingerprint)\n".utf8))
            certificate = dev.certPath
            key = dev.keyPath
        }
        let context: TLSServerContext
        do { context = try TLSServerContext(certificatePath: certificate!, keyPath: key!) } catch {
            throw GatewayError(message: "\(error)")
        }
        let acceptor = TLSServerAcceptor(context: context)
        let address = try SocketAddress(host: host, port: options.tlsListenPort)
        do { tlsListeners = try TLSListeners(server: server, address: address, acceptor: acceptor) } catch {
            throw GatewayError(message: "cannot listen for TLS on \(address): \(error)")
        }
        tlsContext = context
    }

    /// SIGHUP: re-reads the TLS certificate and key (new connections get them; open ones stay).
    private func reloadTLS() {
        guard let tlsContext else { return }
        do {
            let fingerprint = try tlsContext.reload()
            FileHandle.standardError.write(Data("byoc-gateway: reloaded TLS certificate \(tlsContext.certificatePath) sha256 \(fingerprint)\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("byoc-gateway: keeping the current TLS certificate (sha256 \(tlsContext.fingerprint)): \(error)\n".utf8))
        }
    }

    /// SIGHUP: re-reads the TLS certificate and the static route file.
    func reload() {
        reloadTLS()
        guard let routes = options.routes else { return }
        do {
            publish(try RouteTable.load(path: routes))
            FileHandle.standardError.write(Data("byoc-gateway: reloaded routes from \(routes)\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("byoc-gateway: keeping the current routes: \(error)\n".utf8))
        }
    }

    /// Graceful stop: GOAWAY, drain in-flight calls, close; then stop model replicas and
    /// close the registry.
    func stop() {
        // While the worker loops still run: the last calls' times (calls draining now were
        // noted when they started) reach the registry, and the autoscaler stops.
        if let loop = lifecycle.take() { blockOn { await loop.stop() } }
        activityReporter?.stop()
        console?.stop()
        tlsListeners?.close()
        server.shutdown()
        // The workers handed over their last lines and spans when they stopped.
        telemetry.accessLog?.close()
        telemetry.spans?.close()
        tokenSync?.stop()
        if let kube { blockOn { await kube.stop() } }
        if let reconciler { blockOn { await reconciler.stop() } }
        if let registry { blockOn { await registry.close() } }
    }
}

/// The running lifecycle loop, if any; set and taken from any thread.
final class LifecycleSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var loop: LifecycleLoop?

    var current: LifecycleLoop? { lock.withLock { loop } }

    func set(_ new: LifecycleLoop) { lock.withLock { loop = new } }

    /// WakeModelVersion's effect: a wake, or with `activity` a follower's report, to the
    /// running loop (false when none runs).
    func wake(_ key: VersionKey, _ activity: FollowerActivity?) async -> Bool {
        guard let loop = current else { return false }
        if let activity { return await loop.report(key, activity) }
        return await loop.wake(key)
    }

    /// The loop, removed (so only one caller stops it).
    func take() -> LifecycleLoop? {
        lock.withLock {
            defer { loop = nil }
            return loop
        }
    }
}

/// A strictly increasing route-table generation counter.
final class Generation: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0

    func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// A startup or configuration failure, reported in one line.
struct GatewayError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs `body` to completion from synchronous code (startup and shutdown only); returns its
/// result or rethrows its error.
func blockOn<T: Sendable, E: Error>(_ body: @escaping @Sendable () async throws(E) -> T) throws(E) -> T {
    let outcome = BlockOnOutcome<T, E>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do throws(E) { outcome.result = .success(try await body()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}

/// Where `blockOn`'s task leaves its result (written before the semaphore, read after it).
private final class BlockOnOutcome<T, E: Error>: @unchecked Sendable {
    var result: Result<T, E>?
}

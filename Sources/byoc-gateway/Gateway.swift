import Admin
import Foundation
import GRPC
import Reconciler
import Registry
import Router
import Transport

/// The assembled gateway: the gRPC server with one router per worker, fed by a static route
/// file (pure router) or by the registry through the reconciler.
final class Gateway: @unchecked Sendable {
    let options: GatewayOptions
    private var server: GRPCServer!
    private let generation = Generation()
    private var routers: [RouterWorker] = []
    private var registry: Registry?
    private var reconciler: Reconciler?

    init(options: GatewayOptions) {
        self.options = options
    }

    /// Where the server listens.
    var address: String { server.boundAddress.map { "\($0)" } ?? "\(options.listenHost):\(options.listenPort)" }

    func start() throws {
        var initial = RouteTable.empty
        var admin: AdminHandler?
        if let routes = options.routes {
            initial = try RouteTable.load(path: routes, generation: generation.next())
        } else {
            admin = try startControlPlane()
        }
        var routerConfig = RouterConfig()
        routerConfig.maxMessageBytes = options.maxMessageBytes
        routerConfig.pool.connectTimeoutNanos = UInt64(options.connectTimeoutMs) * 1_000_000
        routerConfig.pool.idleTimeoutNanos = UInt64(options.idleTimeoutMs) * 1_000_000

        var config = GRPCServerConfig(host: options.listenHost, port: options.listenPort, workers: options.workers)
        config.gracePeriodNanos = UInt64(options.gracePeriodMs) * 1_000_000
        config.http2.maxConcurrentStreams = UInt32(options.maxConcurrentStreams)
        server = GRPCServer(config: config)
        let table = initial
        var made: [RouterWorker] = []
        try server.start { index, loop in
            let router = RouterWorker(loop: loop, config: routerConfig, routeTable: table, admin: admin,
                                      seed: UInt64(index + 1) &* 0x9E37_79B9 ^ UInt64(UInt32(truncatingIfNeeded: getpid())))
            made.append(router)
            return router
        }
        routers = made
        if let reconciler {
            // The first pass rebuilds every registered version (also after a crash).
            blockOn { await reconciler.start() }
        }
    }

    /// Opens the registry and builds the reconciler and the Admin API; returns the Admin handler.
    private func startControlPlane() throws -> AdminHandler {
        try FileManager.default.createDirectory(atPath: options.stateDir, withIntermediateDirectories: true)
        let path = options.db ?? (options.stateDir as NSString).appendingPathComponent("registry.sqlite")
        let registry: Registry
        do { registry = try Registry(path: path) } catch {
            throw GatewayError(message: "cannot open the registry \(path): \(error)")
        }
        guard options.runtime == "local" else {
            throw GatewayError(message: "--runtime kubernetes is not available in this build yet")
        }
        let runtime = LocalRuntime(stateDir: options.stateDir, prober: GRPCHealthProber(),
                                   gracePeriod: .milliseconds(Int64(min(options.gracePeriodMs, 5_000))))
        let reconciler = Reconciler(registry: registry, runtime: runtime,
                                    options: ReconcilerOptions(resyncInterval: .milliseconds(Int64(options.resyncMs))),
                                    publish: { [weak self] table in self?.publish(table) })
        let service = AdminService(registry: registry, wake: { reconciler.wake() },
                                   limits: AdminLimits(maxReplicas: Int32(options.maxReplicas)))
        self.registry = registry
        self.reconciler = reconciler
        FileHandle.standardError.write(Data("byoc-gateway: registry \(path), runtime \(options.runtime), state in \(options.stateDir)\n".utf8))
        return { method, request in try await service.call(method: method, request: request) }
    }

    /// Hands `table` to every worker (each swaps it in on its own loop).
    func publish(_ table: RouteTable) {
        let stamped = table.withGeneration(generation.next())
        for router in routers {
            router.loop.execute { router.install(stamped) }
        }
    }

    /// SIGHUP: re-reads the static route file.
    func reload() {
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
        server.shutdown()
        if let reconciler { blockOn { await reconciler.stop() } }
        if let registry { blockOn { await registry.close() } }
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

/// Runs `body` to completion from synchronous code (startup and shutdown only).
func blockOn(_ body: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await body()
        done.signal()
    }
    done.wait()
}

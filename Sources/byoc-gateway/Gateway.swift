import Foundation
import GRPC
import Router
import Transport

/// The assembled gateway: the gRPC server with one router per worker, fed by a static route
/// file (pure router) or by the registry through the reconciler.
final class Gateway: @unchecked Sendable {
    let options: GatewayOptions
    private var server: GRPCServer!
    private let generation = Generation()
    private var routers: [RouterWorker] = []

    init(options: GatewayOptions) {
        self.options = options
    }

    /// Where the server listens.
    var address: String { server.boundAddress.map { "\($0)" } ?? "\(options.listenHost):\(options.listenPort)" }

    func start() throws {
        var initial = RouteTable.empty
        if let routes = options.routes {
            initial = try RouteTable.load(path: routes, generation: generation.next())
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
            let router = RouterWorker(loop: loop, config: routerConfig, routeTable: table, admin: nil,
                                      seed: UInt64(index + 1) &* 0x9E37_79B9 ^ UInt64(UInt32(truncatingIfNeeded: getpid())))
            made.append(router)
            return router
        }
        routers = made
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

    /// Graceful stop: GOAWAY, drain, close.
    func stop() {
        server.shutdown()
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

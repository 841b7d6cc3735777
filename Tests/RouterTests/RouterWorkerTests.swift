import Routing
import TestSupport
import XCTest
import Transport
@testable import Router

final class RouterWorkerUnitTests: XCTestCase {
    private let a = Endpoint(host: "127.0.0.1", port: 1)
    private let b = Endpoint(host: "127.0.0.1", port: 2)
    private let c = Endpoint(host: "127.0.0.1", port: 3)

    private func worker(seed: UInt64 = 1) throws -> RouterWorker {
        RouterWorker(loop: try EventLoop(name: "unit"), config: RouterConfig(), routeTable: .empty, admin: nil, seed: seed)
    }

    /// The pool's states of `endpoints` (what a resolved route holds).
    private func states(_ worker: RouterWorker, _ endpoints: [Endpoint]) -> [EndpointState] {
        endpoints.map { worker.pool.state(for: $0) }
    }

    func testInstallKeepsTheNewestGeneration() throws {
        let worker = try worker()
        XCTAssertEqual(worker.routeTable.generation, 0)
        worker.install(RouteTable(generation: 5, models: ["m": ModelRoutes(defaultVersion: "1", versions: ["1": []])]))
        XCTAssertEqual(worker.routeTable.generation, 5)
        worker.install(RouteTable(generation: 4, models: [:]))
        XCTAssertEqual(worker.routeTable.generation, 5, "an older table is ignored")
        XCTAssertNotNil(worker.routeTable.models["m"])
        worker.install(RouteTable(generation: 5, models: [:]))
        XCTAssertEqual(worker.routeTable.models.count, 0, "the same generation replaces")
    }

    func testPickEndpointSkipsTriedAndBackedOffEndpoints() throws {
        let worker = try worker()
        XCTAssertEqual(worker.pickEndpoint(states(worker, [a]), excluding: [])?.endpoint, a)
        XCTAssertNil(worker.pickEndpoint(states(worker, [a]), excluding: [a]))
        for _ in 0..<200 {
            let picked = worker.pickEndpoint(states(worker, [a, b, c]), excluding: [b])?.endpoint
            XCTAssertNotNil(picked)
            XCTAssertNotEqual(picked, b)
        }
        XCTAssertNil(worker.pickEndpoint(states(worker, [a, b]), excluding: [a, b]))
        XCTAssertNil(worker.pickEndpoint(states(worker, []), excluding: []))

        // An endpoint in connect backoff is not picked.
        worker.pool.state(for: a).backoffUntil = .max
        XCTAssertFalse(worker.pool.isAvailable(worker.pool.state(for: a)))
        XCTAssertNil(worker.pickEndpoint(states(worker, [a]), excluding: []))
        for _ in 0..<200 { XCTAssertEqual(worker.pickEndpoint(states(worker, [a, b]), excluding: [])?.endpoint, b) }
    }

    func testPickEndpointPrefersFewerInFlight() throws {
        let worker = try worker()
        worker.pool.state(for: a).inFlight = 10
        worker.pool.state(for: b).inFlight = 2
        for _ in 0..<500 { XCTAssertEqual(worker.pickEndpoint(states(worker, [a, b]), excluding: [])?.endpoint, b) }
    }

    func testResolveReusesARouteUntilANewTableOrTheSweepRetiresItsStates() throws {
        let worker = try worker()
        worker.install(RouteTable(generation: 1, models: ["m": ModelRoutes(defaultVersion: "1", versions: ["1": [a], "2": [b]])]))
        guard case .found(let first) = worker.resolve(model: "m", version: "") else { return XCTFail("m resolves") }
        XCTAssertEqual(first.version, "1")
        XCTAssertEqual(first.endpoints.map(\.endpoint), [a])
        XCTAssertTrue(first.endpoints[0] === worker.pool.state(for: a), "the pool's own state")
        XCTAssertTrue(first.stats === worker.versionStats(model: "m", version: "1"))
        guard case .found(let again) = worker.resolve(model: "m", version: "") else { return XCTFail("m resolves") }
        XCTAssertTrue(first === again, "resolved once, then reused")
        guard case .found(let explicit) = worker.resolve(model: "m", version: "2") else { return XCTFail("m/2 resolves") }
        XCTAssertEqual(explicit.endpoints.map(\.endpoint), [b])
        guard case .unknownModel = worker.resolve(model: "x", version: "") else { return XCTFail("x is unknown") }
        guard case .unknownVersion = worker.resolve(model: "m", version: "9") else { return XCTFail("m/9 is unknown") }

        // The idle sweep drops states without connections: a cached route must not keep using them.
        worker.pool.sweep()
        XCTAssertTrue(first.endpoints[0].retired)
        guard case .found(let afterSweep) = worker.resolve(model: "m", version: "") else { return XCTFail("m resolves") }
        XCTAssertFalse(afterSweep === first)
        XCTAssertTrue(afterSweep.endpoints[0] === worker.pool.state(for: a))
        XCTAssertTrue(worker.pickEndpoint(first.endpoints, excluding: [])! === worker.pool.state(for: a),
                      "a call holding the old route picks the live state")

        // A new table replaces every cached route.
        worker.install(RouteTable(generation: 2, models: ["m": ModelRoutes(defaultVersion: "2", versions: ["1": [a], "2": [c]])]))
        guard case .found(let next) = worker.resolve(model: "m", version: "") else { return XCTFail("m resolves") }
        XCTAssertEqual(next.version, "2")
        XCTAssertEqual(next.endpoints.map(\.endpoint), [c])
    }

    func testDescribeFailures() throws {
        let worker = try worker()
        XCTAssertEqual(worker.describeFailures(states(worker, [a, b])), "")
        worker.pool.state(for: a).lastError = "connect 127.0.0.1:1: connection refused"
        XCTAssertEqual(worker.describeFailures(states(worker, [a, b])), " (connect 127.0.0.1:1: connection refused)")
    }
}

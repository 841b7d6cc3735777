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
        XCTAssertEqual(worker.pickEndpoint([a], excluding: [])?.endpoint, a)
        XCTAssertNil(worker.pickEndpoint([a], excluding: [a]))
        for _ in 0..<200 {
            let picked = worker.pickEndpoint([a, b, c], excluding: [b])?.endpoint
            XCTAssertNotNil(picked)
            XCTAssertNotEqual(picked, b)
        }
        XCTAssertNil(worker.pickEndpoint([a, b], excluding: [a, b]))
        XCTAssertNil(worker.pickEndpoint([], excluding: []))

        // An endpoint in connect backoff is not picked.
        worker.pool.state(for: a).backoffUntil = .max
        XCTAssertFalse(worker.pool.isAvailable(worker.pool.state(for: a)))
        XCTAssertNil(worker.pickEndpoint([a], excluding: []))
        for _ in 0..<200 { XCTAssertEqual(worker.pickEndpoint([a, b], excluding: [])?.endpoint, b) }
    }

    func testPickEndpointPrefersFewerInFlight() throws {
        let worker = try worker()
        worker.pool.state(for: a).inFlight = 10
        worker.pool.state(for: b).inFlight = 2
        for _ in 0..<500 { XCTAssertEqual(worker.pickEndpoint([a, b], excluding: [])?.endpoint, b) }
        worker.pool.streamFinished(to: worker.pool.state(for: b))
        XCTAssertEqual(worker.pool.state(for: b).inFlight, 1)
        worker.pool.state(for: c).inFlight = 0
        worker.pool.streamFinished(to: worker.pool.state(for: c))
        XCTAssertEqual(worker.pool.state(for: c).inFlight, 0, "in-flight never goes negative")
    }

    func testDescribeFailures() throws {
        let worker = try worker()
        XCTAssertEqual(worker.describeFailures([a, b]), "")
        worker.pool.state(for: a).lastError = "connect 127.0.0.1:1: connection refused"
        XCTAssertEqual(worker.describeFailures([a, b]), " (connect 127.0.0.1:1: connection refused)")
    }
}

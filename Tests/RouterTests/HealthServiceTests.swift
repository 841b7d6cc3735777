import Messages
import Routing
import XCTest
@testable import Router

/// The statuses HealthService answers Check, List and Watch with, from a route table.
final class HealthServiceTests: XCTestCase {
    private let table = RouteTable(generation: 1, models: [
        "iris": ModelRoutes(defaultVersion: "1", versions: ["1": [Endpoint(host: "127.0.0.1", port: 1)], "2": []],
                            traffic: ModelTraffic(aliases: ["canary": "2"])),
        "empty": ModelRoutes(defaultVersion: "1", versions: ["1": []]),
    ])

    func testStatusOfEachKindOfService() {
        let expected: [String: ServingStatus] = [
            "": .serving, "byoc.v1.Inference": .serving, "inference.GRPCInferenceService": .serving,
            "iris": .serving, "iris/1": .serving, "iris/2": .notServing, "iris/canary": .notServing,
            "empty": .notServing, "empty/1": .notServing,
            "nope": .serviceUnknown, "iris/9": .serviceUnknown, "iris/": .serving, "/1": .serviceUnknown,
        ]
        for (service, status) in expected {
            XCTAssertEqual(HealthService.status(of: service, in: table), status, service)
        }
    }

    func testTheGatewayIsServingWithAnEmptyTable() {
        XCTAssertEqual(HealthService.status(of: "", in: .empty), .serving)
        XCTAssertEqual(HealthService.status(of: "iris", in: .empty), .serviceUnknown)
    }
}

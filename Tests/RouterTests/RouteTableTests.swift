import Foundation
import Routing
import TestSupport
import XCTest
@testable import Router

final class EndpointTests: XCTestCase {
    func testParsesIPv4AndNames() {
        XCTAssertEqual(Endpoint(parsing: "127.0.0.1:9001"), Endpoint(host: "127.0.0.1", port: 9001))
        XCTAssertEqual(Endpoint(parsing: "model-a.default.svc:8080"), Endpoint(host: "model-a.default.svc", port: 8080))
        XCTAssertEqual(Endpoint(parsing: "h:1"), Endpoint(host: "h", port: 1))
        XCTAssertEqual(Endpoint(parsing: "h:65535"), Endpoint(host: "h", port: 65535))
    }

    func testParsesBracketedIPv6() {
        let endpoint = Endpoint(parsing: "[::1]:9002")
        XCTAssertEqual(endpoint, Endpoint(host: "::1", port: 9002))
        XCTAssertEqual(endpoint?.description, "[::1]:9002")
        XCTAssertEqual(Endpoint(parsing: "[2001:db8::7]:443")?.host, "2001:db8::7")
    }

    func testRejectsBadText() {
        for text in ["", "host", "host:", ":80", "host:0", "host:65536", "host:-1", "host:abc", "host:80x",
                     "[]:80", "[::1]", "127.0.0.1", "host:99999999999999999999"] {
            XCTAssertNil(Endpoint(parsing: text), "\"\(text)\" should not parse")
        }
    }

    func testDescription() {
        XCTAssertEqual(Endpoint(host: "10.0.0.1", port: 80).description, "10.0.0.1:80")
        XCTAssertEqual(Endpoint(host: "fe80::1", port: 80).description, "[fe80::1]:80")
        // description and parsing round-trip.
        for endpoint in [Endpoint(host: "10.0.0.1", port: 80), Endpoint(host: "::1", port: 5), Endpoint(host: "a.b", port: 65535)] {
            XCTAssertEqual(Endpoint(parsing: endpoint.description), endpoint)
        }
    }
}

final class RouteTableTests: XCTestCase {
    private let a = Endpoint(host: "127.0.0.1", port: 9001)
    private let b = Endpoint(host: "::1", port: 9002)

    private func table() -> RouteTable {
        RouteTable(generation: 3, models: [
            "iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a, b], "2": [b], "3": []]),
        ])
    }

    func testResolve() {
        let table = table()
        XCTAssertEqual(table.resolve(model: "iris", version: ""), .found(version: "1", endpoints: [a, b]))
        XCTAssertEqual(table.resolve(model: "iris", version: "1"), .found(version: "1", endpoints: [a, b]))
        XCTAssertEqual(table.resolve(model: "iris", version: "2"), .found(version: "2", endpoints: [b]))
        XCTAssertEqual(table.resolve(model: "iris", version: "3"), .found(version: "3", endpoints: []))
        XCTAssertEqual(table.resolve(model: "iris", version: "4"), .unknownVersion)
        XCTAssertEqual(table.resolve(model: "Iris", version: ""), .unknownModel, "names are case-sensitive")
        XCTAssertEqual(table.resolve(model: "", version: ""), .unknownModel)
        XCTAssertEqual(RouteTable.empty.resolve(model: "iris", version: "1"), .unknownModel)
        XCTAssertEqual(RouteTable.empty.generation, 0)
    }

    func testDefaultVersionThatDoesNotExistIsUnknownVersion() {
        let table = RouteTable(generation: 1, models: ["m": ModelRoutes(defaultVersion: "9", versions: ["1": [a]])])
        XCTAssertEqual(table.resolve(model: "m", version: ""), .unknownVersion)
    }

    func testWithGeneration() {
        let copy = table().withGeneration(42)
        XCTAssertEqual(copy.generation, 42)
        XCTAssertEqual(copy.models, table().models)
    }

    private func parse(_ json: String, source: String = "routes") throws -> RouteTable {
        try RouteTable.parse(Data(json.utf8), source: source, generation: 5)
    }

    private func parseError(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try parse(json)
            XCTFail("parsed: \(json)", file: file, line: line)
            return nil
        } catch let error as RouteFileError {
            return error.message
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return nil
        }
    }

    func testParseValidFile() throws {
        let table = try parse("""
        {"models": {
            "iris": {"default": "1", "versions": {"1": ["127.0.0.1:9001", "[::1]:9002"], "2": []}},
            "solo": {"versions": {"v7": ["10.0.0.1:80"]}}
        }}
        """)
        XCTAssertEqual(table.generation, 5)
        XCTAssertEqual(table.models.count, 2)
        XCTAssertEqual(table.resolve(model: "iris", version: ""), .found(version: "1", endpoints: [a, b]))
        XCTAssertEqual(table.resolve(model: "iris", version: "2"), .found(version: "2", endpoints: []))
        XCTAssertEqual(table.resolve(model: "solo", version: ""), .found(version: "v7", endpoints: [Endpoint(host: "10.0.0.1", port: 80)]),
                       "a single version is the default")
        XCTAssertEqual(try parse(#"{"models": {}}"#).models.count, 0)
    }

    func testParseErrors() {
        XCTAssertTrue(parseError("{not json")?.hasPrefix("routes: not valid JSON (") ?? false)
        XCTAssertEqual(parseError("[]"), "routes: expected an object with a \"models\" object")
        XCTAssertEqual(parseError("{}"), "routes: expected an object with a \"models\" object")
        XCTAssertEqual(parseError(#"{"models": []}"#), "routes: expected an object with a \"models\" object")
        XCTAssertEqual(parseError(#"{"models": {"iris": 1}}"#), "routes: models.iris must be an object")
        XCTAssertEqual(parseError(#"{"models": {"iris": {}}}"#), "routes: models.iris.versions must be a non-empty object")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {}}}}"#), "routes: models.iris.versions must be a non-empty object")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": ["1"]}}}"#), "routes: models.iris.versions must be a non-empty object")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {"1": "127.0.0.1:1"}}}}"#),
                       "routes: models.iris.versions.1 must be a list of \"HOST:PORT\" strings")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {"1": [9001]}}}}"#),
                       "routes: models.iris.versions.1 must be a list of \"HOST:PORT\" strings")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {"1": ["localhost"]}}}}"#),
                       "routes: models.iris.versions.1: \"localhost\" is not HOST:PORT")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {"1": ["h:0"]}}}}"#),
                       "routes: models.iris.versions.1: \"h:0\" is not HOST:PORT")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"default": 1, "versions": {"1": []}}}}"#),
                       "routes: models.iris.default must name one of its versions")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"default": "2", "versions": {"1": []}}}}"#),
                       "routes: models.iris.default must name one of its versions")
        XCTAssertEqual(parseError(#"{"models": {"iris": {"versions": {"1": [], "2": []}}}}"#),
                       "routes: models.iris.default is required when a model has several versions")
    }

    func testSourceNamesTheFileInErrors() {
        XCTAssertThrowsError(try parse("[]", source: "/etc/byoc/routes.json")) { error in
            XCTAssertEqual("\(error)", "/etc/byoc/routes.json: expected an object with a \"models\" object")
        }
    }

    func testLoadFromFile() throws {
        let path = NSTemporaryDirectory() + "routes-\(UUID().uuidString).json"
        try Data(#"{"models": {"iris": {"versions": {"1": ["127.0.0.1:9001"]}}}}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let table = try RouteTable.load(path: path, generation: 9)
        XCTAssertEqual(table.generation, 9)
        XCTAssertEqual(table.resolve(model: "iris", version: ""), .found(version: "1", endpoints: [a]))
        XCTAssertThrowsError(try RouteTable.load(path: path + ".missing")) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot read route file \(path).missing: "), "\(error)")
        }
    }
}

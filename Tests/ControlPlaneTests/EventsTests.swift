@testable import Admin
import Foundation
import GRPC
import Messages
import Registry
import XCTest

/// ListEvents: the registry's filters and limits, the Admin API's validation, and the lines shown.
final class EventsTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var registry: Registry!
    private var admin: AdminService!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        registry = try Registry(path: directory.file("events.db"))
        admin = AdminService(registry: registry, changed: {})
    }

    override func tearDown() { directory.cleanUp() }

    private func list(_ request: ListEventsRequest) async throws -> [Event] {
        try ListEventsResponse(serializedBytes: try await admin.call(method: "ListEvents", request: request.serializedBytes())).events
    }

    private func invalid(_ request: ListEventsRequest, naming field: String, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await list(request)
            XCTFail("expected INVALID_ARGUMENT", file: file, line: line)
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .invalidArgument, file: file, line: line)
            XCTAssertTrue(status.message.hasPrefix(field), status.message, file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testEveryChangeIsAnEventWithAReadableLine() async throws {
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        try await registry.updateObserved(VersionKey(model: "iris", version: "1"), VersionStatus(state: .deploying, desiredReplicas: 1))
        try await registry.updateObserved(VersionKey(model: "iris", version: "1"),
                                          VersionStatus(state: .deploying, readyReplicas: 0, desiredReplicas: 2))
        _ = try await registry.scale(VersionKey(model: "iris", version: "1"), minReplicas: 2, maxReplicas: 3)
        _ = try await registry.setDefault(model: "iris", version: "2")
        _ = try await registry.delete(model: "iris", version: "1")
        _ = try await registry.delete(model: "iris")

        let events = try await list(ListEventsRequest(model: "iris"))
        XCTAssertEqual(events.map(\.kind), ["registered", "registered", "state", "replicas", "scaled", "default", "deleted", "deleted"])
        XCTAssertEqual(events.map(\.id), events.map(\.id).sorted(), "oldest first")
        XCTAssertTrue(events[0].message.hasPrefix("registered: command "), events[0].message)
        XCTAssertEqual(events[2].message, "PENDING -> DEPLOYING, ready 0/1")
        XCTAssertEqual(events[3].message, "ready 0/2")
        XCTAssertEqual(events[4].message, "replicas 1-1 -> 2-3")
        XCTAssertEqual(events[5].message, "default version 1 -> 2")
        XCTAssertEqual(events[5].version, "", "a default change is model-wide")
        XCTAssertEqual(events[6].message, "version 1 deleted (was DEPLOYING)")
        XCTAssertEqual(events[7].message, "model iris deleted (was PENDING)")
    }

    func testFiltersAndTheNewestLimitOldestFirst() async throws {
        for version in ["1", "2", "3"] { _ = try await registry.register(testSpec("iris", version)) }
        _ = try await registry.register(testSpec("wine", "1"))
        let all = try await registry.events()
        XCTAssertEqual(all.count, 4)

        let version2 = try await list(ListEventsRequest(model: "iris", version: "2"))
        XCTAssertEqual(version2.map(\.version), ["2"])
        let wine = try await list(ListEventsRequest(model: "wine"))
        XCTAssertEqual(wine.map(\.model), ["wine"])
        let newestTwo = try await list(ListEventsRequest(limit: 2))
        XCTAssertEqual(newestTwo.map(\.id), Array(all.suffix(2).map(\.id)), "the newest two, oldest first")
        let future = try await list(ListEventsRequest(sinceUnixMs: all.last!.timeUnixMs + 60_000))
        XCTAssertEqual(future, [])
        let since = try await list(ListEventsRequest(sinceUnixMs: all[0].timeUnixMs))
        XCTAssertEqual(since.count, 4, "since is inclusive")
        let unknown = try await list(ListEventsRequest(model: "nothing"))
        XCTAssertEqual(unknown, [], "an unknown (or deleted) model has no events, not NOT_FOUND")
    }

    func testDefaultAndMaximumLimit() throws {
        XCTAssertEqual(try AdminEvents.query(ListEventsRequest()).limit, 100)
        XCTAssertEqual(try AdminEvents.query(ListEventsRequest(limit: 1000)).limit, 1000)
        XCTAssertEqual(try AdminEvents.query(ListEventsRequest(model: "iris", version: "1")),
                       AdminEvents.Query(model: "iris", version: "1", sinceUnixMs: 0, limit: 100))
    }

    func testBadInputNamesTheField() async {
        await invalid(ListEventsRequest(limit: 1001), naming: "limit")
        await invalid(ListEventsRequest(limit: -1), naming: "limit")
        await invalid(ListEventsRequest(sinceUnixMs: -5), naming: "since_unix_ms")
        await invalid(ListEventsRequest(version: "1"), naming: "version")
        await invalid(ListEventsRequest(model: "Not_A_Name"), naming: "model")
        await invalid(ListEventsRequest(model: "iris", version: "-x"), naming: "version")
    }
}

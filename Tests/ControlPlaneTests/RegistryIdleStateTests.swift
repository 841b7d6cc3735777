import Foundation
@testable import Registry
import XCTest

/// Migration 7: the versions table rebuilt so its state may be IDLE, keeping every row.
final class RegistryIdleStateTests: XCTestCase {
    func testARegistryAtSchema6KeepsItsVersionsAndStoresIdleAfterMigration7() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let path = directory.file("r.db")
        do {
            let old = try SQLiteConnection(path: path)
            XCTAssertEqual(try old.migrate(registryMigrations.filter { $0.version <= 6 }), 6)
            try old.executeOnce("INSERT INTO models (name, default_version, created_unix_ms) VALUES ('m', '1', 1)")
            try old.executeOnce("""
                INSERT INTO versions (model, version, command_json, min_replicas, max_replicas, state, created_unix_ms,
                    updated_unix_ms, scale_to_zero_after_seconds, last_called_unix_ms)
                VALUES ('m', '1', '["serve"]', 0, 3, 'READY', 1, 2, 60, 1234)
                """)
            XCTAssertThrowsError(try old.executeOnce("UPDATE versions SET state = 'IDLE'"), "schema 6 refuses IDLE")
        }
        let registry = try Registry(path: path)
        XCTAssertEqual(registry.schemaVersion, 7)
        let key = VersionKey(model: "m", version: "1")
        let before = try await registry.version(key)
        XCTAssertEqual(before.spec.command, ["serve"])
        XCTAssertEqual(before.spec.minReplicas, 0)
        XCTAssertEqual(before.spec.maxReplicas, 3)
        XCTAssertEqual(before.spec.autoscaling.scaleToZeroAfterSeconds, 60)
        XCTAssertEqual(before.lastCalledUnixMs, 1234)
        XCTAssertEqual(before.status.state, .ready)
        XCTAssertTrue(before.spec.scalesToZero)
        try await registry.updateObserved(key, VersionStatus(state: .idle, message: "scaled to zero"))
        let after = try await registry.version(key)
        XCTAssertEqual(after.status.state, .idle)
        let event = try await registry.events(model: "m", version: "1").last
        XCTAssertEqual(event?.newState, .idle)
        await registry.close()
    }
}

import Foundation
import Registry
import XCTest

final class RegistryTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.cleanUp() }

    private func expectError(_ code: RegistryError.Code, containing text: String = "",
                             file: StaticString = #filePath, line: UInt = #line,
                             _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("expected \(code.rawValue)", file: file, line: line)
        } catch let error as RegistryError {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            XCTAssertTrue(error.message.contains(text), "\"\(error.message)\" lacks \"\(text)\"", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testMigrationsApplyOnceAndReopenKeepsData() async throws {
        let path = directory.file("registry.db")
        let first = try Registry(path: path)
        _ = try await first.register(testSpec("iris", "1", env: ["A": "b"]))
        let firstMigrations = try await first.appliedMigrations()
        let expected = Array(1...max(1, firstMigrations.count))
        XCTAssertEqual(firstMigrations.map(\.version), expected, "every migration applied once, in order")
        XCTAssertEqual(first.schemaVersion, expected.last)
        await first.close()

        let second = try Registry(path: path)
        XCTAssertEqual(second.schemaVersion, expected.last)
        let migrations = try await second.appliedMigrations()
        XCTAssertEqual(migrations.map(\.version), expected, "re-opening must not re-apply migrations")
        let model = try await second.model("iris")
        XCTAssertEqual(model.versions.map(\.key.version), ["1"])
        XCTAssertEqual(model.versions.first?.spec.env, ["A": "b"])
        XCTAssertEqual(model.versions.first?.spec.command, TestModels.listener)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"), "WAL journal expected")
    }

    func testRegisterStoresEverythingAndFirstVersionIsDefault() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        var spec = testSpec("iris", "1", image: "ghcr.io/x/iris:1", replicas: 2, env: ["K": "v", "Z": "1"])
        spec.port = 9000
        spec.maxReplicas = 5
        spec.resources = ResourceSpec(cpuRequest: "500m", cpuLimit: "1", memoryRequest: "256Mi", memoryLimit: "1Gi")
        spec.targetCpuUtilization = 70
        let record = try await registry.register(spec)
        // PENDING, and aiming for the minimum until the runtime reports.
        XCTAssertEqual(record.status, VersionStatus(state: .pending, readyReplicas: 0, desiredReplicas: 2))
        XCTAssertGreaterThan(record.createdUnixMs, 1_600_000_000_000)
        _ = try await registry.register(testSpec("iris", "2"))

        let model = try await registry.model("iris")
        XCTAssertEqual(model.defaultVersion, "1")
        XCTAssertEqual(model.versions.map(\.key.version), ["1", "2"])
        XCTAssertEqual(model.versions[0].spec, spec)
        XCTAssertNil(model.versions[1].spec.resources)
        let all = try await registry.models()
        XCTAssertEqual(all.map(\.name), ["iris"])
    }

    func testPodOptionsAreStoredAndSurviveReopening() async throws {
        let path = directory.file("r.db")
        var spec = testSpec("llm", "1", image: "ghcr.io/x/llm:1")
        spec.resources = ResourceSpec(memoryLimit: "8Gi", gpus: 2, gpuResource: "amd.com/gpu")
        spec.pod = PodOptions(nodeSelector: ["pool": "gpu", "zone": "a"],
                              tolerations: [TolerationSpec(key: "gpu", operator: "Exists", effect: "NoSchedule"),
                                            TolerationSpec(key: "pool", operator: "Equal", value: "ml")],
                              imagePullSecrets: ["regcred", "mirror"], allowRoot: true)
        let first = try Registry(path: path)
        _ = try await first.register(spec)
        _ = try await first.register(testSpec("llm", "2"))
        await first.close()
        let second = try Registry(path: path)
        let model = try await second.model("llm")
        XCTAssertEqual(model.versions[0].spec, spec)
        XCTAssertEqual(model.versions[1].spec.pod, PodOptions())
        await second.close()
    }

    func testDuplicateRegistrationIsAlreadyExists() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        await expectError(.alreadyExists, containing: "iris version 1") {
            _ = try await registry.register(testSpec("iris", "1", command: ["other"]))
        }
        let model = try await registry.model("iris")
        XCTAssertEqual(model.versions.count, 1)
        XCTAssertEqual(model.versions[0].spec.command, TestModels.listener, "the original must be untouched")
    }

    func testSetDefaultAndItsErrors() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let model = try await registry.setDefault(model: "iris", version: "2")
        XCTAssertEqual(model.defaultVersion, "2")
        await expectError(.notFound, containing: "no version 9") { _ = try await registry.setDefault(model: "iris", version: "9") }
        await expectError(.notFound, containing: "model nope") { _ = try await registry.setDefault(model: "nope", version: "1") }
        let events = try await registry.events(model: "iris").filter { $0.kind == .defaultChanged }
        XCTAssertEqual(events.map(\.detail), ["default version 1 -> 2"])
    }

    func testScaleAndItsErrors() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        let scaled = try await registry.scale(VersionKey(model: "iris", version: "1"), minReplicas: 3, maxReplicas: 4)
        XCTAssertEqual(scaled.spec.minReplicas, 3)
        XCTAssertEqual(scaled.spec.maxReplicas, 4)
        await expectError(.notFound, containing: "no version 2") {
            _ = try await registry.scale(VersionKey(model: "iris", version: "2"), minReplicas: 1, maxReplicas: 1)
        }
        await expectError(.notFound, containing: "model nope") {
            _ = try await registry.scale(VersionKey(model: "nope", version: "1"), minReplicas: 1, maxReplicas: 1)
        }
    }

    func testDeleteRules() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        _ = try await registry.register(testSpec("iris", "3"))

        await expectError(.failedPrecondition, containing: "set another default") {
            _ = try await registry.delete(model: "iris", version: "1")
        }
        await expectError(.notFound, containing: "no version 7") { _ = try await registry.delete(model: "iris", version: "7") }
        await expectError(.notFound, containing: "model nope") { _ = try await registry.delete(model: "nope") }

        let deleted = try await registry.delete(model: "iris", version: "2")
        XCTAssertEqual(deleted.map(\.key.version), ["2"])
        XCTAssertEqual(deleted.first?.status.state, .deleting)
        _ = try await registry.setDefault(model: "iris", version: "3")
        _ = try await registry.delete(model: "iris", version: "1")
        // The last version is also the default: deleting it removes the model.
        _ = try await registry.delete(model: "iris", version: "3")
        await expectError(.notFound, containing: "not registered") { _ = try await registry.model("iris") }
        let remaining = try await registry.models()
        XCTAssertTrue(remaining.isEmpty)

        _ = try await registry.register(testSpec("iris", "5"))
        let afterRecreate = try await registry.model("iris")
        XCTAssertEqual(afterRecreate.defaultVersion, "5", "a re-created model takes its first version as default")
    }

    func testDeleteAllVersions() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        _ = try await registry.register(testSpec("other", "1"))
        let deleted = try await registry.delete(model: "iris", version: "")
        XCTAssertEqual(deleted.map(\.key.version), ["1", "2"])
        let models = try await registry.models()
        XCTAssertEqual(models.map(\.name), ["other"])
    }

    func testUpdateObservedWritesAnEventOnlyOnChange() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let key = VersionKey(model: "iris", version: "1")
        _ = try await registry.register(testSpec("iris", "1"))
        let deploying = VersionStatus(state: .deploying, readyReplicas: 0, desiredReplicas: 1, message: "0/1 replicas ready")
        let first = try await registry.updateObserved(key, deploying)
        let again = try await registry.updateObserved(key, deploying)
        let ready = try await registry.updateObserved(key, VersionStatus(state: .ready, readyReplicas: 1, desiredReplicas: 1))
        XCTAssertTrue(first)
        XCTAssertFalse(again)
        XCTAssertTrue(ready)
        let gone = try await registry.updateObserved(VersionKey(model: "iris", version: "9"), deploying)
        XCTAssertFalse(gone)

        let stored = try await registry.version(key)
        XCTAssertEqual(stored.status, VersionStatus(state: .ready, readyReplicas: 1, desiredReplicas: 1))
        let events = try await registry.events(model: "iris", version: "1")
        XCTAssertEqual(events.map(\.kind), [.registered, .observed, .observed])
        XCTAssertEqual(events[1].oldState, .pending)
        XCTAssertEqual(events[1].newState, .deploying)
        XCTAssertEqual(events[2].oldState, .deploying)
        XCTAssertEqual(events[2].newState, .ready)
        XCTAssertTrue(events[1].detail.contains("0/1 replicas ready"))
        XCTAssertEqual(events.map(\.id), events.map(\.id).sorted())
    }

    func testConcurrentRegistrationsOverTwoConnections() async throws {
        let path = directory.file("shared.db")
        let a = try Registry(path: path)
        let b = try Registry(path: path)
        let successes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                let registry = index % 2 == 0 ? a : b
                group.addTask {
                    do {
                        _ = try await registry.register(testSpec("race", "1"))
                        return true
                    } catch let error as RegistryError {
                        XCTAssertEqual(error.code, .alreadyExists)
                        return false
                    } catch {
                        XCTFail("unexpected \(error)")
                        return false
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(successes, 1)
        let model = try await a.model("race")
        XCTAssertEqual(model.versions.count, 1)
    }
}

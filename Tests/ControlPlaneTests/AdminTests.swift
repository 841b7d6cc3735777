import Admin
import Foundation
import GRPC
import Messages
import Registry
import XCTest

final class AdminTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var registry: Registry!
    private var wakes: WakeCounter!
    private var admin: AdminService!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        registry = try Registry(path: directory.file("admin.db"))
        wakes = WakeCounter()
        let counter = wakes!
        admin = AdminService(registry: registry, changed: { counter.wake() }, limits: AdminLimits(maxReplicas: 8))
    }

    override func tearDown() { directory.cleanUp() }

    // MARK: - Helpers

    private func call<Response: ProtoMessage>(_ method: String, _ request: some ProtoMessage,
                                              as: Response.Type = Response.self) async throws -> Response {
        try Response(serializedBytes: try await admin.call(method: method, request: request.serializedBytes()))
    }

    private func register(_ request: RegisterModelRequest) async throws -> ModelVersion {
        try await call("RegisterModel", request)
    }

    private func expectStatus(_ code: GRPCStatusCode, containing text: String = "",
                              file: StaticString = #filePath, line: UInt = #line,
                              _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("expected \(code.name)", file: file, line: line)
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, code, "\(status)", file: file, line: line)
            XCTAssertTrue(status.message.contains(text), "\"\(status.message)\" lacks \"\(text)\"", file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    private func valid(_ edit: (inout RegisterModelRequest) -> Void = { _ in }) -> RegisterModelRequest {
        var request = RegisterModelRequest(model: "iris", version: "1", command: ["python3", "serve.py"])
        edit(&request)
        return request
    }

    // MARK: - Tests

    func testRegisterReturnsNormalisedPendingVersionAndWakes() async throws {
        let version = try await register(valid { $0.env = ["MODEL_PATH": "/m"] })
        XCTAssertEqual(version.model, "iris")
        XCTAssertEqual(version.state, .pending)
        XCTAssertEqual(version.minReplicas, 1, "min 0 means 1")
        XCTAssertEqual(version.maxReplicas, 1, "max 0 means min")
        XCTAssertEqual(version.env, ["MODEL_PATH": "/m"])
        XCTAssertGreaterThan(version.createdUnixMs, 0)
        XCTAssertEqual(wakes.count, 1)

        let scaled = try await register(valid { $0.version = "2"; $0.minReplicas = 3 })
        XCTAssertEqual(scaled.minReplicas, 3)
        XCTAssertEqual(scaled.maxReplicas, 3)
        let model: Model = try await call("GetModel", GetModelRequest(model: "iris"))
        XCTAssertEqual(model.defaultVersion, "1")
        XCTAssertEqual(model.versions.map(\.version), ["1", "2"])
    }

    func testEveryValidationRule() async throws {
        let rows: [(String, RegisterModelRequest, String)] = [
            ("empty model", valid { $0.model = "" }, "model is required"),
            ("uppercase model", valid { $0.model = "Iris" }, "model \"Iris\" must be"),
            ("model ends with dash", valid { $0.model = "iris-" }, "must be lowercase"),
            ("model with dot", valid { $0.model = "ir.is" }, "must be lowercase"),
            ("model too long", valid { $0.model = String(repeating: "a", count: 41) }, "at most 40"),
            // A letter followed by a combining mark is one Character but not [a-z].
            ("model with combining mark", valid { $0.model = "xb\u{0301}y" }, "must be lowercase"),
            ("version with combining mark", valid { $0.version = "1\u{0301}2" }, "must be lowercase"),
            ("model too long in bytes", valid { $0.model = String(repeating: "\u{00e9}", count: 21) }, "at most 40"),
            ("empty version", valid { $0.version = "" }, "version is required"),
            ("version starts with dot", valid { $0.version = ".1" }, "version \".1\" must be"),
            ("version with underscore", valid { $0.version = "v_1" }, "version \"v_1\" must be"),
            ("version too long", valid { $0.version = String(repeating: "1", count: 21) }, "at most 20"),
            ("negative port", valid { $0.port = -1 }, "port must be between 0 and 65535"),
            ("port too big", valid { $0.port = 65536 }, "port must be between 0 and 65535"),
            ("negative min", valid { $0.minReplicas = -1 }, "min_replicas must not be negative"),
            ("negative max", valid { $0.maxReplicas = -2 }, "max_replicas must not be negative"),
            ("min above max", valid { $0.minReplicas = 3; $0.maxReplicas = 2 }, "min_replicas (3) must not be greater than max_replicas (2)"),
            ("max above limit", valid { $0.maxReplicas = 9 }, "max_replicas 9 is above the limit of 8"),
            ("min above limit", valid { $0.minReplicas = 9 }, "min_replicas 9 is above the limit of 8"),
            ("neither image nor command", valid { $0.command = []; $0.image = "  " }, "image or command is required"),
            ("empty program", valid { $0.command = [""] }, "command[0]"),
            ("bad env name", valid { $0.env = ["1BAD": "x"] }, "env name \"1BAD\""),
            ("env name with dash", valid { $0.env = ["A-B": "x"] }, "env name \"A-B\""),
            ("reserved env", valid { $0.env = ["PORT": "1"] }, "env name PORT is set by the platform"),
            ("cpu target", valid { $0.targetCpuUtilization = 101 }, "target_cpu_utilization"),
        ]
        for (name, request, expected) in rows {
            do {
                _ = try await register(request)
                XCTFail("\(name): accepted")
            } catch let status as GRPCStatus {
                XCTAssertEqual(status.code, .invalidArgument, "\(name): \(status)")
                XCTAssertTrue(status.message.contains(expected), "\(name): \"\(status.message)\" lacks \"\(expected)\"")
            }
        }
        let models: ListModelsResponse = try await call("ListModels", ListModelsRequest())
        XCTAssertTrue(models.models.isEmpty, "nothing invalid may be stored")
        XCTAssertEqual(wakes.count, 0)

        // The boundaries themselves are valid.
        _ = try await register(valid {
            $0.model = String(repeating: "a", count: 40); $0.version = "1.0-rc.1"; $0.port = 65535
            $0.minReplicas = 8; $0.maxReplicas = 8; $0.image = "img"; $0.command = []; $0.env = ["_OK_1": ""]
        })
    }

    func testHostileRequestsAreRefusedByTheAdminDecodeLimits() async throws {
        // 4,096 command arguments pass the decoder (and validation); one more is refused by count.
        _ = try await register(valid { $0.command = ["python3"] + Array(repeating: "", count: 4095) })
        let tooMany = valid { $0.version = "2"; $0.command = ["python3"] + Array(repeating: "", count: 4096) }
        await expectStatus(.invalidArgument, containing: "field command has more than 4096 entries") {
            _ = try await self.admin.call(method: "RegisterModel", request: tooMany.serializedBytes())
        }
        let unknown = Array(repeating: [UInt8]([0xF8, 0x06, 0x01]), count: 257).flatMap { $0 }
        await expectStatus(.invalidArgument, containing: "more than 256 unknown fields") {
            _ = try await self.admin.call(method: "ListModels", request: unknown)
        }
        await expectStatus(.invalidArgument, containing: "string field model is not valid UTF-8") {
            _ = try await self.admin.call(method: "GetModel", request: [0x0A, 0x02, 0xC0, 0xAF])
        }
        let models: ListModelsResponse = try await call("ListModels", ListModelsRequest())
        XCTAssertEqual(models.models.flatMap(\.versions).map(\.version), ["1"])
    }

    func testErrorsOfEveryRPC() async throws {
        _ = try await register(valid())
        _ = try await register(valid { $0.version = "2" })

        await expectStatus(.alreadyExists, containing: "already registered") { _ = try await self.register(self.valid()) }
        await expectStatus(.notFound, containing: "model nope") {
            let _: Model = try await self.call("GetModel", GetModelRequest(model: "nope"))
        }
        await expectStatus(.invalidArgument, containing: "model is required") {
            let _: Model = try await self.call("GetModel", GetModelRequest(model: ""))
        }
        await expectStatus(.notFound, containing: "no version 9") {
            let _: Model = try await self.call("SetDefaultVersion", SetDefaultVersionRequest(model: "iris", version: "9"))
        }
        await expectStatus(.invalidArgument, containing: "version is required") {
            let _: Model = try await self.call("SetDefaultVersion", SetDefaultVersionRequest(model: "iris", version: ""))
        }
        await expectStatus(.notFound, containing: "no version 9") {
            let _: ModelVersion = try await self.call("ScaleModelVersion", ScaleModelVersionRequest(model: "iris", version: "9"))
        }
        await expectStatus(.invalidArgument, containing: "min_replicas (5) must not be greater than max_replicas (2)") {
            let _: ModelVersion = try await self.call("ScaleModelVersion",
                ScaleModelVersionRequest(model: "iris", version: "1", minReplicas: 5, maxReplicas: 2))
        }
        await expectStatus(.invalidArgument, containing: "above the limit") {
            let _: ModelVersion = try await self.call("ScaleModelVersion",
                ScaleModelVersionRequest(model: "iris", version: "1", minReplicas: 20))
        }
        await expectStatus(.failedPrecondition, containing: "set another default version first") {
            let _: DeleteModelResponse = try await self.call("DeleteModel", DeleteModelRequest(model: "iris", version: "1"))
        }
        await expectStatus(.notFound, containing: "model nope") {
            let _: DeleteModelResponse = try await self.call("DeleteModel", DeleteModelRequest(model: "nope"))
        }
        await expectStatus(.unimplemented, containing: "Frobnicate") {
            _ = try await self.admin.call(method: "Frobnicate", request: [])
        }
        await expectStatus(.invalidArgument, containing: "cannot decode") {
            _ = try await self.admin.call(method: "RegisterModel", request: [0x0a, 0x7f, 0x01])
        }
    }

    func testMinZeroStaysZeroOnlyForAVersionThatScalesToZero() async throws {
        let plain = try await register(valid { $0.minReplicas = 0 })
        XCTAssertEqual(plain.minReplicas, 1, "min 0 means 1 without scale to zero")
        let idle = try await register(valid {
            $0.version = "2"
            $0.minReplicas = 0
            $0.maxReplicas = 0
            $0.autoscaling = Autoscaling(scaleToZeroAfterSeconds: 300)
        })
        XCTAssertEqual(idle.minReplicas, 0)
        XCTAssertEqual(idle.maxReplicas, 1, "max 0 means at least 1")
        XCTAssertEqual(idle.autoscaling?.scaleToZeroAfterSeconds, 300)
        // A scale without autoscaling keeps the version's own setting, so min 0 stays 0.
        let scaled: ModelVersion = try await call("ScaleModelVersion",
                                                  ScaleModelVersionRequest(model: "iris", version: "2", minReplicas: 0, maxReplicas: 3))
        XCTAssertEqual(scaled.minReplicas, 0)
        XCTAssertEqual(scaled.maxReplicas, 3)
        // Turning scale to zero off with min 0: back to 1.
        let off: ModelVersion = try await call("ScaleModelVersion",
                                               ScaleModelVersionRequest(model: "iris", version: "2", minReplicas: 0, maxReplicas: 3,
                                                                        autoscaling: Autoscaling()))
        XCTAssertEqual(off.minReplicas, 1)
    }

    func testSetDefaultScaleDeleteFlow() async throws {
        _ = try await register(valid())
        _ = try await register(valid { $0.version = "2" })
        let wakesBefore = wakes.count

        let model: Model = try await call("SetDefaultVersion", SetDefaultVersionRequest(model: "iris", version: "2"))
        XCTAssertEqual(model.defaultVersion, "2")
        let scaled: ModelVersion = try await call("ScaleModelVersion",
            ScaleModelVersionRequest(model: "iris", version: "1", minReplicas: 2, maxReplicas: 0))
        XCTAssertEqual(scaled.minReplicas, 2)
        XCTAssertEqual(scaled.maxReplicas, 2)
        let deleted: DeleteModelResponse = try await call("DeleteModel", DeleteModelRequest(model: "iris", version: "1"))
        XCTAssertEqual(deleted.deleted.map(\.version), ["1"])
        XCTAssertEqual(deleted.deleted.first?.state, .deleting)
        XCTAssertEqual(wakes.count, wakesBefore + 3)

        let all: DeleteModelResponse = try await call("DeleteModel", DeleteModelRequest(model: "iris"))
        XCTAssertEqual(all.deleted.map(\.version), ["2"])
        let list: ListModelsResponse = try await call("ListModels", ListModelsRequest())
        XCTAssertTrue(list.models.isEmpty)
    }

    func testReturnedVersionsCarryObservedState() async throws {
        _ = try await register(valid())
        try await registry.updateObserved(VersionKey(model: "iris", version: "1"),
                                          VersionStatus(state: .failed, readyReplicas: 0, desiredReplicas: 1,
                                                        message: "replica 0 exited with status 1"))
        let model: Model = try await call("GetModel", GetModelRequest(model: "iris"))
        XCTAssertEqual(model.versions.first?.state, .failed)
        XCTAssertEqual(model.versions.first?.message, "replica 0 exited with status 1")
        XCTAssertEqual(model.versions.first?.desiredReplicas, 1)
    }

    func testFiftyConcurrentDistinctRegistrations() async throws {
        let admin = self.admin!
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let request = RegisterModelRequest(model: "many", version: "v\(index)", command: ["true"])
                    _ = try await admin.call(method: "RegisterModel", request: request.serializedBytes())
                }
            }
            try await group.waitForAll()
        }
        let model: Model = try await call("GetModel", GetModelRequest(model: "many"))
        XCTAssertEqual(model.versions.count, 50)
        XCTAssertEqual(Set(model.versions.map(\.version)).count, 50)
    }

    func testFiftyConcurrentRegistrationsOfOneVersion() async throws {
        let admin = self.admin!
        let outcomes = await withTaskGroup(of: GRPCStatusCode.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let request = RegisterModelRequest(model: "same", version: "1", command: ["true"])
                    do {
                        _ = try await admin.call(method: "RegisterModel", request: request.serializedBytes())
                        return .ok
                    } catch let status as GRPCStatus {
                        return status.code
                    } catch {
                        return .unknown
                    }
                }
            }
            return await group.reduce(into: [GRPCStatusCode]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 == .ok }.count, 1)
        XCTAssertEqual(outcomes.filter { $0 == .alreadyExists }.count, 49)
    }
}

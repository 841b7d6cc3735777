import XCTest
@testable import Messages

final class ByocAdminTests: XCTestCase {
    static let resources = Resources(cpuRequest: "500m", cpuLimit: "2", memoryRequest: "256Mi", memoryLimit: "1Gi")

    static let version = ModelVersion(
        model: "iris", version: "2", image: "ghcr.io/acme/iris:2", command: ["python3", "-m", "serve", unicodeText],
        port: 8080, env: ["A": "1", "B": "", "PATH": "/usr/bin:/bin", "NOTE": unicodeText],
        minReplicas: 1, maxReplicas: 4, state: .ready, readyReplicas: 3, message: "ok ✓",
        createdUnixMs: 1_732_990_000_123, resources: resources, targetCpuUtilization: 75, desiredReplicas: 3)

    func testEmptyMessagesEncodeToZeroBytes() {
        XCTAssertEqual(ModelVersion().serializedBytes(), [])
        XCTAssertEqual(Model().serializedBytes(), [])
        XCTAssertEqual(ListModelsRequest().serializedBytes(), [])
        XCTAssertEqual(RegisterModelRequest().serializedBytes(), [])
        XCTAssertEqual(Resources().serializedBytes(), [])
    }

    func testGoldenModelVersionFields() {
        // state=READY is field 9 varint 3; created_unix_ms=1 is field 12 varint 1.
        XCTAssertEqual(ModelVersion(state: .ready, createdUnixMs: 1).serializedBytes(), [0x48, 0x03, 0x60, 0x01])
        // An empty Resources message is still present (field 13, length 0).
        XCTAssertEqual(ModelVersion(resources: Resources()).serializedBytes(), [0x6a, 0x00])
    }

    func testResourcesPresenceSurvivesRoundTrip() throws {
        XCTAssertNil(try ModelVersion(serializedBytes: ModelVersion(model: "m").serializedBytes()).resources)
        XCTAssertEqual(try ModelVersion(serializedBytes: ModelVersion(resources: Resources()).serializedBytes()).resources,
                       Resources())
    }

    func testRoundTripEveryAdminMessage() {
        let v = Self.version
        var failed = v
        failed.version = "3"
        failed.state = .failed
        failed.message = "image pull failed: 🙁"
        failed.resources = nil
        failed.env = [:]
        failed.command = []

        assertRoundTrip(Self.resources)
        assertRoundTrip(Resources(memoryLimit: "1Gi"))
        assertRoundTrip(v)
        assertRoundTrip(failed)
        assertRoundTrip(ModelVersion(model: "m", port: -1, minReplicas: .max, maxReplicas: .min,
                                     createdUnixMs: .min, targetCpuUtilization: -5, desiredReplicas: 0))
        assertRoundTrip(RegisterModelRequest(model: "iris", version: "2", image: "img", command: ["a", "", "c"],
                                             port: 9000, env: ["X": "1", "Y": "2", "Z": unicodeText],
                                             minReplicas: 2, maxReplicas: 5, resources: Self.resources,
                                             targetCpuUtilization: 60))
        assertRoundTrip(RegisterModelRequest(model: "iris", version: "1", command: ["serve"]))
        assertRoundTrip(Model(name: "iris", defaultVersion: "2", versions: [v, failed]))
        assertRoundTrip(Model(name: "lonely"))
        assertRoundTrip(ListModelsRequest())
        assertRoundTrip(ListModelsResponse(models: [Model(name: "a", defaultVersion: "1", versions: [v]),
                                                    Model(name: "b"), Model()]))
        assertRoundTrip(ListModelsResponse())
        assertRoundTrip(GetModelRequest(model: "iris"))
        assertRoundTrip(SetDefaultVersionRequest(model: "iris", version: "3"))
        assertRoundTrip(ScaleModelVersionRequest(model: "iris", version: "2", minReplicas: 0, maxReplicas: 10))
        assertRoundTrip(DeleteModelRequest(model: "iris"))
        assertRoundTrip(DeleteModelRequest(model: "iris", version: "2"))
        assertRoundTrip(DeleteModelResponse(deleted: [v, failed, ModelVersion()]))
        assertRoundTrip(DeleteModelResponse())
    }

    func testEveryVersionState() {
        for state in VersionState.allCases {
            assertRoundTrip(ModelVersion(model: "m", state: state))
            XCTAssertEqual(VersionState(name: state.name), state)
        }
        XCTAssertEqual(VersionState.ready.name, "READY")
        XCTAssertEqual(VersionState.unspecified.name, "VERSION_STATE_UNSPECIFIED")
        XCTAssertEqual(VersionState(name: "deploying"), .deploying)
        XCTAssertNil(VersionState(name: "RUNNING"))
    }

    func testGarbageThrowsProtoDecodeError() {
        for bytes: [UInt8] in [[0xff], [0x0a, 0x05, 0x61], [0x08, 0x01], [0x0f], [0x6a, 0x02, 0x0a]] {
            assertDecodeFails(ModelVersion.self, bytes)
            assertDecodeFails(RegisterModelRequest.self, bytes)
            assertDecodeFails(Model.self, bytes)
            assertDecodeFails(GetModelRequest.self, bytes)
            assertDecodeFails(DeleteModelRequest.self, bytes)
        }
        // A nested ModelVersion that is itself garbage.
        assertDecodeFails(ListModelsResponse.self, [0x0a, 0x03, 0x1a, 0x01, 0xff])
        assertDecodeFails(DeleteModelResponse.self, [0x0a, 0x02, 0x08, 0x01])
    }

    func testModelVersionJSON() throws {
        let json = Self.version.jsonObject()
        XCTAssertEqual(json["model"] as? String, "iris")
        XCTAssertEqual(json["version"] as? String, "2")
        XCTAssertEqual(json["image"] as? String, "ghcr.io/acme/iris:2")
        XCTAssertEqual(json["command"] as? [String], Self.version.command)
        XCTAssertEqual(json["port"] as? Int, 8080)
        XCTAssertEqual(json["env"] as? [String: String], Self.version.env)
        XCTAssertEqual(json["minReplicas"] as? Int, 1)
        XCTAssertEqual(json["maxReplicas"] as? Int, 4)
        XCTAssertEqual(json["state"] as? String, "READY")
        XCTAssertEqual(json["readyReplicas"] as? Int, 3)
        XCTAssertEqual(json["message"] as? String, "ok ✓")
        XCTAssertEqual(json["createdUnixMs"] as? Int, 1_732_990_000_123)
        XCTAssertEqual(json["desiredReplicas"] as? Int, 3)
        XCTAssertEqual(json["targetCpuUtilization"] as? Int, 75)
        let resources = json["resources"] as? [String: Any]
        XCTAssertEqual(resources?["cpuRequest"] as? String, "500m")
        XCTAssertEqual(resources?["memoryLimit"] as? String, "1Gi")
        XCTAssertNil(ModelVersion(model: "m").jsonObject()["resources"])
        XCTAssertTrue(JSONSerialization.isValidJSONObject(json))
        _ = try JSONSerialization.data(withJSONObject: json)
    }

    func testModelJSON() throws {
        let json = Model(name: "iris", defaultVersion: "2", versions: [Self.version, ModelVersion(model: "iris")])
            .jsonObject()
        XCTAssertEqual(json["name"] as? String, "iris")
        XCTAssertEqual(json["defaultVersion"] as? String, "2")
        let versions = json["versions"] as? [[String: Any]]
        XCTAssertEqual(versions?.count, 2)
        XCTAssertEqual(versions?.last?["state"] as? String, "VERSION_STATE_UNSPECIFIED")
        XCTAssertTrue(JSONSerialization.isValidJSONObject(json))
        let data = try JSONSerialization.data(withJSONObject: json)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"defaultVersion\""))
    }
}

/// protobuf-c keeps strings as C strings: a NUL inside one must be refused, not truncated.
final class EmbeddedNULTests: XCTestCase {
    func testNULInATopLevelStringIsRefused() {
        // field 1 (model) = "ir\0is", field 2 (version) = "1"
        let bytes: [UInt8] = [0x0A, 0x05, 0x69, 0x72, 0x00, 0x69, 0x73, 0x12, 0x01, 0x31]
        XCTAssertThrowsError(try RegisterModelRequest(serializedBytes: bytes)) { error in
            XCTAssertTrue("\(error)".contains("model"), "\(error)")
        }
    }

    func testNULInAMapValueIsRefused() {
        // field 6 (env) entry {key "K", value "a\0b"}
        let entry: [UInt8] = [0x0A, 0x01, 0x4B, 0x12, 0x03, 0x61, 0x00, 0x62]
        let bytes: [UInt8] = [0x0A, 0x01, 0x6D, 0x32, UInt8(entry.count)] + entry
        XCTAssertThrowsError(try RegisterModelRequest(serializedBytes: bytes)) { error in
            XCTAssertTrue("\(error)".contains("env"), "\(error)")
        }
    }

    func testBytesFieldsMayHoldNUL() throws {
        let request = PredictRequest(model: "iris", payload: [0, 1, 0, 2])
        XCTAssertEqual(try PredictRequest(serializedBytes: request.serializedBytes()).payload, [0, 1, 0, 2])
    }
}

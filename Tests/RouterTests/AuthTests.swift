import Foundation
import GRPC
import HTTP2
import Messages
import Routing
import Server
import Transport
import TestSupport
import XCTest
@testable import Router

/// The token format, hashing, the AuthTable checks, and auth on a real worker.
final class AuthTableTests: XCTestCase {
    /// A fixed token: id and 43-character base64url secret.
    static let id = "0123456789ab"
    static let secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN-_0"
    static let text = "byoc_\(id)_\(secret)"

    private func table(_ entries: [AuthEntry], generation: UInt64 = 1) -> AuthTable {
        AuthTable(generation: generation, entries: entries)
    }

    private func entry(_ id: String = AuthTableTests.id, secret: String = AuthTableTests.secret, scope: TokenScope = .admin,
                       expires: Int64 = 0, revoked: Int64 = 0) -> AuthEntry {
        AuthEntry(id: id, secretHash: APIToken.hash(secret: secret), scope: scope, expiresUnixMs: expires, revokedUnixMs: revoked)
    }

    private func failure(_ result: Result<AuthEntry, AuthFailure>) -> AuthFailure? {
        if case .failure(let failure) = result { return failure }
        return nil
    }

    // MARK: Format and cryptography

    func testGeneratedTokensHaveTheFormatAndAreUnique() throws {
        var seen = Set<String>()
        for _ in 0..<200 {
            let token = try APIToken.generate()
            XCTAssertEqual(token.text.count, TokenText.textLength)
            XCTAssertEqual(token.text, "byoc_\(token.id)_\(token.secret)")
            XCTAssertTrue(TokenText.isValidID(token.id), token.id)
            XCTAssertEqual(token.secret.count, 43)
            let parsed = try XCTUnwrap(TokenText.parse(token.text))
            XCTAssertEqual(parsed.id, token.id)
            XCTAssertEqual(parsed.secret, token.secret)
            XCTAssertTrue(seen.insert(token.text).inserted)
        }
    }

    func testSHA256OfTheSecretText() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let hex = APIToken.hash(secret: "abc").map { String(format: "%02x", $0) }.joined()
        XCTAssertEqual(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testConstantTimeEqual() {
        let a = APIToken.hash(secret: "a")
        var b = a
        XCTAssertTrue(APIToken.constantTimeEqual(a, b))
        b[31] ^= 1
        XCTAssertFalse(APIToken.constantTimeEqual(a, b))
        b = a
        b[0] ^= 0x80
        XCTAssertFalse(APIToken.constantTimeEqual(a, b))
        XCTAssertFalse(APIToken.constantTimeEqual(a, Array(a.prefix(31))), "different lengths never match")
        XCTAssertTrue(APIToken.constantTimeEqual([], []))
    }

    /// The secret comparison goes through CRYPTO_memcmp, never `==` on the hashes.
    func testTheSecretComparisonIsOpenSSLConstantTime() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/Shared")
        let crypto = try String(contentsOf: sources.appendingPathComponent("Crypto/Crypto.swift").standardizedFileURL, encoding: .utf8)
        XCTAssertTrue(crypto.contains("CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0"))
        let token = try String(contentsOf: sources.appendingPathComponent("Routing/APIToken.swift").standardizedFileURL, encoding: .utf8)
        XCTAssertTrue(token.contains("Crypto.constantTimeEqual(a, b)"), "APIToken.constantTimeEqual is libcrypto's")
        let text = try String(contentsOf: sources.appendingPathComponent("Routing/Auth.swift").standardizedFileURL, encoding: .utf8)
        let authenticate = try XCTUnwrap(text.range(of: "public func authenticate(")).upperBound
        let body = text[authenticate...].prefix(1_500)
        XCTAssertTrue(body.contains("APIToken.constantTimeEqual(presented,"), "authenticate must compare with constantTimeEqual")
        XCTAssertFalse(body.contains("secretHash =="), "no == on hashes")
        XCTAssertFalse(body.contains("== presented"), "no == on hashes")
    }

    func testParseRefusesMalformedTokens() {
        let good = Self.text
        XCTAssertNotNil(TokenText.parse(good))
        let bad = [
            "", "byoc_", "byoc__", good + "A", String(good.dropLast()),
            good.replacingOccurrences(of: "byoc_", with: "BYOC_"),
            "byoc_0123456789AB_\(Self.secret)",           // uppercase id
            "byoc_0123456789ag_\(Self.secret)",           // not hex
            "byoc_0123456789ab-\(Self.secret)",           // separator
            "byoc_0123456789ab_" + String(Self.secret.dropLast()) + "+",   // base64, not base64url
            "byoc_0123456789ab_" + String(Self.secret.dropLast()) + "=",   // padding
            "byoc_0123456789ab_" + String(Self.secret.dropLast()) + "é",
            " " + good, good + " ",
        ]
        for text in bad { XCTAssertNil(TokenText.parse(text), text) }
        XCTAssertTrue(TokenText.isValidID("0123456789ab"))
        XCTAssertFalse(TokenText.isValidID("0123456789a"))
        XCTAssertFalse(TokenText.isValidID("0123456789aB"))
    }

    func testBearerHeaderParsing() {
        XCTAssertEqual(APIToken.bearer("Bearer abc"), "abc")
        XCTAssertEqual(APIToken.bearer("bearer abc"), "abc")
        XCTAssertEqual(APIToken.bearer("BEARER   abc  "), "abc")
        XCTAssertEqual(APIToken.bearer("  Bearer\tabc"), "abc")
        XCTAssertNil(APIToken.bearer("Bearer"))
        XCTAssertNil(APIToken.bearer("Bearer "))
        XCTAssertNil(APIToken.bearer("Bearer    "))
        XCTAssertNil(APIToken.bearer("Bearerabc"))
        XCTAssertNil(APIToken.bearer("Basic YWxhZGRpbjpvcGVuc2VzYW1l"))
        XCTAssertNil(APIToken.bearer("abc"))
    }

    // MARK: AuthTable

    func testValidTokensAuthenticate() {
        let t = table([entry()])
        XCTAssertEqual(try t.authenticate(authorization: "Bearer \(Self.text)", nowUnixMs: 1).get().id, Self.id)
        XCTAssertEqual(try t.authorizeAdmin(authorization: "bearer \(Self.text)", nowUnixMs: 1).get().id, Self.id)
        XCTAssertEqual(try t.authorizePredict(authorization: "Bearer \(Self.text)", model: "any", nowUnixMs: 1).get().id, Self.id,
                       "an admin token may call every model")
    }

    func testMissingMalformedUnknownAndWrongAreUnauthenticated() {
        let t = table([entry()])
        let wrongSecret = "byoc_\(Self.id)_" + String(Self.secret.dropLast()) + "1"
        let unknownID = "byoc_ffffffffffff_\(Self.secret)"
        let headers: [String?] = [nil, "", "Bearer", "Bearer ", "Basic abc", Self.text, "Bearer nope",
                                  "Bearer \(Self.text)x", "Bearer \(wrongSecret)", "Bearer \(unknownID)",
                                  "Token \(Self.text)"]
        for header in headers {
            let result = failure(t.authenticate(authorization: header, nowUnixMs: 1))
            guard case .unauthenticated(let message)? = result else {
                XCTFail("\(header ?? "nil"): \(String(describing: result))")
                continue
            }
            XCTAssertEqual(result?.status.code, .unauthenticated)
            XCTAssertFalse(message.contains(Self.secret), "the message must not contain the secret: \(message)")
            XCTAssertFalse(message.contains("_" + String(Self.secret.prefix(10))), message)
        }
        // Unknown id and wrong secret give the same answer.
        XCTAssertEqual(failure(t.authenticate(authorization: "Bearer \(wrongSecret)", nowUnixMs: 1)),
                       failure(t.authenticate(authorization: "Bearer \(unknownID)", nowUnixMs: 1)))
    }

    func testExpiry() {
        let t = table([entry(expires: 1_000)])
        let header = "Bearer \(Self.text)"
        XCTAssertNotNil(try? t.authenticate(authorization: header, nowUnixMs: 999).get())
        XCTAssertEqual(failure(t.authenticate(authorization: header, nowUnixMs: 1_000)),
                       .unauthenticated("API token \(Self.id) has expired"))
        XCTAssertEqual(failure(t.authorizePredict(authorization: header, model: "m", nowUnixMs: 5_000))?.status.code, .unauthenticated)
        // The default clock is the wall clock: an expiry in the past fails now.
        XCTAssertEqual(failure(t.authenticate(authorization: header))?.status.code, .unauthenticated)
        let future = table([entry(expires: AuthClock.unixMillis() + 60_000)])
        XCTAssertNotNil(try? future.authenticate(authorization: header).get())
    }

    func testRevokedTokensFailButOnlyWithTheRightSecret() {
        let t = table([entry(revoked: 5)])
        XCTAssertEqual(failure(t.authenticate(authorization: "Bearer \(Self.text)", nowUnixMs: 1)),
                       .unauthenticated("API token \(Self.id) has been revoked"))
        let wrong = "Bearer byoc_\(Self.id)_" + String(repeating: "A", count: 43)
        XCTAssertEqual(failure(t.authenticate(authorization: wrong, nowUnixMs: 1)), .unauthenticated("invalid API token"))
    }

    func testScopes() {
        let predictAll = entry("aaaaaaaaaaaa", scope: .predict(models: []))
        let predictIris = entry("bbbbbbbbbbbb", scope: .predict(models: ["iris", "wine"]))
        let t = table([predictAll, predictIris])
        let all = "Bearer byoc_aaaaaaaaaaaa_\(Self.secret)"
        let iris = "Bearer byoc_bbbbbbbbbbbb_\(Self.secret)"

        for header in [all, iris] {
            let denied = failure(t.authorizeAdmin(authorization: header, nowUnixMs: 1))
            XCTAssertEqual(denied?.status.code, .permissionDenied, "predict tokens may not call the Admin API")
        }
        XCTAssertNotNil(try? t.authorizePredict(authorization: all, model: "anything", nowUnixMs: 1).get())
        XCTAssertNotNil(try? t.authorizePredict(authorization: iris, model: "iris", nowUnixMs: 1).get())
        XCTAssertNotNil(try? t.authorizePredict(authorization: iris, model: "wine", nowUnixMs: 1).get())
        XCTAssertEqual(failure(t.authorizePredict(authorization: iris, model: "other", nowUnixMs: 1)),
                       .permissionDenied("API token bbbbbbbbbbbb may not call model \"other\""))
        XCTAssertEqual(AuthFailure.permissionDenied("x").status.code.rawValue, 7)
        XCTAssertEqual(AuthFailure.unauthenticated("x").status.code.rawValue, 16)
    }

    func testWorkerInstallsNewerTablesOnlyWhenAuthIsOn() throws {
        let open = RouterWorker(loop: try EventLoop(name: "unit"), config: RouterConfig(), routeTable: .empty, admin: nil, seed: 1)
        open.install(table([entry()], generation: 9))
        XCTAssertNil(open.authTable, "a worker started without auth never turns it on")

        var config = RouterConfig()
        config.auth = table([], generation: 3)
        let worker = RouterWorker(loop: try EventLoop(name: "unit"), config: config, routeTable: .empty, admin: nil, seed: 1)
        XCTAssertEqual(worker.authTable?.generation, 3)
        worker.install(table([entry()], generation: 4))
        XCTAssertEqual(worker.authTable?.generation, 4)
        let token = "byoc_\(AuthTableTests.id)_\(AuthTableTests.secret)"
        XCTAssertNotNil(try? worker.authTable?.authenticate(authorization: "Bearer \(token)").get(), "the new table is in use")
        worker.install(table([], generation: 2))
        XCTAssertEqual(worker.authTable?.generation, 4, "an older table is ignored")
    }
}

/// Auth on a running gateway worker: statuses, and tokens never forwarded to a model.
final class AuthEndToEndTests: XCTestCase {
    private var model: FakeModel?
    private var gateway: GRPCServer?
    private var client: TestClient?

    override func tearDown() {
        client?.shutdown()
        gateway?.shutdown()
        model?.stop()
        super.tearDown()
    }

    func testStatusesAndTheTokenStaysInTheGateway() throws {
        let model = try FakeModel(name: "A")
        self.model = model
        let admin = try APIToken.generate(), iris = try APIToken.generate(), expired = try APIToken.generate()
        var config = RouterConfig()
        config.auth = AuthTable(generation: 1, entries: [
            AuthEntry(id: admin.id, secretHash: APIToken.hash(secret: admin.secret), scope: .admin),
            AuthEntry(id: iris.id, secretHash: APIToken.hash(secret: iris.secret), scope: .predict(models: ["iris"])),
            AuthEntry(id: expired.id, secretHash: APIToken.hash(secret: expired.secret), scope: .admin, expiresUnixMs: 1),
        ])
        let table = RouteTable(generation: 1, models: [
            "iris": ModelRoutes(defaultVersion: "1", versions: ["1": [model.endpoint]]),
            "wine": ModelRoutes(defaultVersion: "1", versions: ["1": [model.endpoint]]),
        ])
        let adminHandler: AdminHandler = { _, _ in ListModelsResponse().serializedBytes() }
        let (gateway, port) = try startServer { _, loop in
            RouterWorker(loop: loop, config: config, routeTable: table, admin: adminHandler, seed: 1)
        }
        self.gateway = gateway
        let client = try TestClient(port: port)
        self.client = client

        func predict(_ model: String, _ token: String?) -> CallRecorder {
            let extra = token.map { [HeaderField("authorization", "Bearer \($0)")] } ?? []
            return client.unary("/byoc.v1.Inference/Predict", PredictRequest(model: model).serializedBytes(), extra: extra)
        }
        func adminCall(_ token: String?) -> CallRecorder {
            let extra = token.map { [HeaderField("authorization", "Bearer \($0)")] } ?? []
            return client.unary("/byoc.v1.Admin/ListModels", [], extra: extra)
        }

        XCTAssertEqual(predict("iris", nil).grpcStatus, 16)
        XCTAssertEqual(predict("iris", "byoc_000000000000_" + String(repeating: "A", count: 43)).grpcStatus, 16)
        XCTAssertEqual(predict("iris", expired.text).grpcStatus, 16)
        XCTAssertEqual(predict("wine", iris.text).grpcStatus, 7)
        XCTAssertEqual(predict("ghost", iris.text).grpcStatus, 7, "model scope is checked before existence")
        XCTAssertEqual(predict("iris", iris.text).grpcStatus, 0)
        XCTAssertEqual(predict("wine", admin.text).grpcStatus, 0)
        XCTAssertEqual(predict("ghost", admin.text).grpcStatus, 5)
        // By header routing, too.
        let byHeader = client.unary("/custom.Service/Echo", [1], extra: [HeaderField("byoc-model", "wine"),
                                                                         HeaderField("authorization", "Bearer \(iris.text)")])
        XCTAssertEqual(byHeader.grpcStatus, 7)

        XCTAssertEqual(adminCall(nil).grpcStatus, 16)
        XCTAssertEqual(adminCall(iris.text).grpcStatus, 7)
        XCTAssertEqual(adminCall(expired.text).grpcStatus, 16)
        XCTAssertEqual(adminCall(admin.text).grpcStatus, 0)

        // Health stays open.
        let health = client.unary("/grpc.health.v1.Health/Check", HealthCheckRequest(service: "").serializedBytes())
        XCTAssertEqual(health.grpcStatus, 0)

        let forwarded = model.requests.current
        XCTAssertEqual(forwarded.count, 2)
        for headers in forwarded {
            XCTAssertNil(headers[field: "authorization"], "the platform's token must not reach the model")
        }
    }
}

import Admin
import Foundation
import GRPC
import Messages
import Registry
import Routing
import XCTest

/// The registry's tokens table and the Admin API's token RPCs.
final class TokenRegistryTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.cleanUp() }

    private func record(_ id: String, _ scope: TokenScopeName = .predict, models: [String] = [], expires: Int64 = 0,
                        secret: String = "s") -> TokenRecord {
        TokenRecord(id: id, secretSHA256: APIToken.hash(secret: secret), scope: scope, models: models,
                    expiresUnixMs: expires, description: "test \(id)")
    }

    func testCreateListRevokeAndReopen() async throws {
        let path = directory.file("tokens.db")
        let registry = try Registry(path: path)
        let a = try await registry.createToken(record("aaaaaaaaaaaa", .admin))
        XCTAssertGreaterThan(a.createdUnixMs, 1_600_000_000_000)
        XCTAssertEqual(a.revokedUnixMs, 0)
        _ = try await registry.createToken(record("bbbbbbbbbbbb", models: ["iris", "wine"], expires: 9_999_999_999_999))
        let listed = try await registry.tokens()
        XCTAssertEqual(listed.map(\.id), ["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
        XCTAssertEqual(listed[1].models, ["iris", "wine"])
        XCTAssertEqual(listed[1].expiresUnixMs, 9_999_999_999_999)
        XCTAssertEqual(listed[1].secretSHA256, APIToken.hash(secret: "s"))
        XCTAssertEqual(listed[0].scope, .admin)

        let revoked = try await registry.revokeToken("bbbbbbbbbbbb")
        XCTAssertGreaterThan(revoked.revokedUnixMs, 0)
        let again = try await registry.revokeToken("bbbbbbbbbbbb")
        XCTAssertEqual(again.revokedUnixMs, revoked.revokedUnixMs, "revoking twice changes nothing")
        XCTAssertFalse(revoked.isUsable(atUnixMs: 0))
        XCTAssertTrue(listed[0].isUsable(atUnixMs: .max))
        XCTAssertFalse(record("x", expires: 5).isUsable(atUnixMs: 5))
        await registry.close()

        let reopened = try Registry(path: path)
        let tokens = try await reopened.tokens()
        XCTAssertEqual(tokens.map(\.id), ["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
        XCTAssertEqual(tokens[1].revokedUnixMs, revoked.revokedUnixMs)
    }

    func testErrors() async throws {
        let registry = try Registry(path: directory.file("e.db"))
        _ = try await registry.createToken(record("aaaaaaaaaaaa"))
        do {
            _ = try await registry.createToken(record("aaaaaaaaaaaa", secret: "other"))
            XCTFail("duplicate id")
        } catch let error as RegistryError { XCTAssertEqual(error.code, .alreadyExists) }
        do {
            _ = try await registry.revokeToken("cccccccccccc")
            XCTFail("unknown id")
        } catch let error as RegistryError { XCTAssertEqual(error.code, .notFound) }
        do {
            _ = try await registry.createToken(TokenRecord(id: "short", secretSHA256: APIToken.hash(secret: "s"), scope: .admin))
            XCTFail("the id CHECK")
        } catch let error as RegistryError { XCTAssertEqual(error.code, .internal) }
        do {
            _ = try await registry.createToken(TokenRecord(id: "dddddddddddd", secretSHA256: [1, 2], scope: .admin))
            XCTFail("a hash is 32 bytes")
        } catch let error as RegistryError { XCTAssertEqual(error.code, .internal) }
    }

    func testEventsNameTheTokenButNeverItsSecretAndSnapshotsGrow() async throws {
        let registry = try Registry(path: directory.file("ev.db"))
        let empty = try await registry.tokenSnapshot()
        XCTAssertEqual(empty.tokens, [])
        _ = try await registry.createToken(record("aaaaaaaaaaaa", models: ["iris"], secret: "the-secret"))
        let first = try await registry.tokenSnapshot()
        _ = try await registry.revokeToken("aaaaaaaaaaaa")
        let second = try await registry.tokenSnapshot()
        XCTAssertGreaterThan(first.version, empty.version)
        XCTAssertGreaterThan(second.version, first.version)
        XCTAssertEqual(second.tokens.first?.revokedUnixMs != 0, true)

        let events = try await registry.events()
        XCTAssertEqual(events.map(\.kind), [.tokenCreated, .tokenRevoked])
        XCTAssertEqual(events[0].detail, "token aaaaaaaaaaaa scope predict on iris")
        let hash = APIToken.hash(secret: "the-secret").map { String(format: "%02x", $0) }.joined()
        for event in events {
            XCTAssertFalse(event.detail.contains("the-secret"))
            XCTAssertFalse(event.detail.contains(hash))
            XCTAssertEqual(event.model, "")
        }
    }
}

final class AdminTokenTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var registry: Registry!
    private var admin: AdminService!
    private var published: PublishedSnapshots!

    final class PublishedSnapshots: @unchecked Sendable {
        private let lock = NSLock()
        private var value: [TokenSnapshot] = []
        func add(_ snapshot: TokenSnapshot) { lock.withLock { value.append(snapshot) } }
        var all: [TokenSnapshot] { lock.withLock { value } }
    }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        registry = try Registry(path: directory.file("admin-tokens.db"))
        let published = PublishedSnapshots()
        self.published = published
        admin = AdminService(registry: registry, changed: {}, tokensChanged: { published.add($0) })
    }

    override func tearDown() { directory.cleanUp() }

    private func call<Response: ProtoMessage>(_ method: String, _ request: some ProtoMessage,
                                              as: Response.Type = Response.self) async throws -> Response {
        try Response(serializedBytes: try await admin.call(method: method, request: request.serializedBytes()))
    }

    private func expectInvalid(_ request: CreateTokenRequest, _ text: String,
                               file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await call("CreateToken", request, as: CreateTokenResponse.self)
            XCTFail("expected INVALID_ARGUMENT", file: file, line: line)
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .invalidArgument, "\(status)", file: file, line: line)
            XCTAssertTrue(status.message.contains(text), "\"\(status.message)\" lacks \"\(text)\"", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testCreateReturnsTheSecretOnceAndStoresOnlyItsHash() async throws {
        let expires = AuthClock.unixMillis() + 3_600_000
        let created = try await call("CreateToken", CreateTokenRequest(scope: "predict", models: ["iris", "iris", "not-yet"],
                                                                       expiresUnixMs: expires, description: "ci"),
                                     as: CreateTokenResponse.self)
        let token = try XCTUnwrap(created.token)
        let parsed = try XCTUnwrap(TokenText.parse(created.secret))
        XCTAssertEqual(parsed.id, token.id)
        XCTAssertEqual(token.scope, "predict")
        XCTAssertEqual(token.models, ["iris", "not-yet"], "deduplicated; unregistered names are fine")
        XCTAssertEqual(token.expiresUnixMs, expires)
        XCTAssertEqual(token.description, "ci")

        let stored = try await registry.token(token.id)
        XCTAssertEqual(stored.secretSHA256, APIToken.hash(secret: parsed.secret))

        let list = try await call("ListTokens", ListTokensRequest(), as: ListTokensResponse.self)
        XCTAssertEqual(list.tokens, [token])
        XCTAssertFalse(list.serializedBytes().contains(subsequence: Array(parsed.secret.utf8)), "ListTokens never carries a secret")

        // The new table was published before the call answered, and it authenticates the token.
        let snapshot = try XCTUnwrap(published.all.last)
        let table = AuthTable(snapshot)
        XCTAssertNotNil(try? table.authorizePredict(authorization: "Bearer \(created.secret)", model: "iris").get())

        let revoked = try await call("RevokeToken", RevokeTokenRequest(id: token.id), as: Token.self)
        XCTAssertGreaterThan(revoked.revokedUnixMs, 0)
        XCTAssertEqual(published.all.count, 2)
        let after = AuthTable(try XCTUnwrap(published.all.last))
        // Exactly the revocation failure, not any error (a wrong-secret or parse failure would
        // also make `try?` nil).
        let afterRevoke: AuthFailure?
        if case .failure(let failure) = after.authenticate(authorization: "Bearer \(created.secret)") { afterRevoke = failure } else { afterRevoke = nil }
        XCTAssertEqual(afterRevoke, .unauthenticated("API token \(token.id) has been revoked"))
        XCTAssertGreaterThan(after.generation, table.generation)
    }

    func testValidation() async throws {
        await expectInvalid(CreateTokenRequest(), "scope is required")
        await expectInvalid(CreateTokenRequest(scope: "root"), "scope must be admin or predict")
        await expectInvalid(CreateTokenRequest(scope: "admin", models: ["iris"]), "predict tokens only")
        await expectInvalid(CreateTokenRequest(scope: "predict", models: ["Iris"]), "models \"Iris\"")
        await expectInvalid(CreateTokenRequest(scope: "predict", models: [""]), "models is required")
        await expectInvalid(CreateTokenRequest(scope: "predict", expiresUnixMs: 1), "in the future")
        await expectInvalid(CreateTokenRequest(scope: "predict", expiresUnixMs: -5), "must not be negative")
        await expectInvalid(CreateTokenRequest(scope: "admin", description: String(repeating: "x", count: 201)), "too long")
        await expectInvalid(CreateTokenRequest(scope: "admin", description: "a\nb"), "control characters")
        XCTAssertEqual(published.all.count, 0)

        for (id, code) in [("", GRPCStatusCode.invalidArgument), ("xyz", .invalidArgument), ("0123456789AB", .invalidArgument),
                           ("0123456789ab", .notFound)] {
            do {
                _ = try await call("RevokeToken", RevokeTokenRequest(id: id), as: Token.self)
                XCTFail("revoke \(id)")
            } catch let status as GRPCStatus {
                XCTAssertEqual(status.code, code, "\(id): \(status)")
            }
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, count >= subsequence.count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<($0 + subsequence.count)]) == subsequence }
    }
}

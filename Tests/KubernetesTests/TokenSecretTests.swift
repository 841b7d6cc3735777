import Foundation
import Registry
import XCTest
@testable import Kubernetes

final class TokenSecretTests: XCTestCase {
    func testTheSecretHoldsHashesAndReadsBack() throws {
        let hash = (0..<32).map { UInt8($0 * 7 % 256) }
        let snapshot = TokenSnapshot(version: 42, tokens: [
            TokenRecord(id: "0123456789ab", secretSHA256: hash, scope: .predict, models: ["iris"], expiresUnixMs: 99,
                        createdUnixMs: 5, revokedUnixMs: 0, description: "not published"),
            TokenRecord(id: "000000000001", secretSHA256: hash.reversed(), scope: .admin, revokedUnixMs: 7),
        ])
        let secret = TokenSecret.secret(name: "byoc-gateway-tokens", namespace: "byoc", snapshot: snapshot)
        XCTAssertEqual(secret["kind"], "Secret")
        XCTAssertEqual(secret["type"], "Opaque")
        XCTAssertEqual(secret[path: "metadata", "labels", "byoc.dev/role"], "tokens")
        let encoded = try XCTUnwrap(secret[path: "data", "tokens.json"]?.string)
        let text = String(decoding: try XCTUnwrap(Data(base64Encoded: encoded)), as: UTF8.self)
        XCTAssertTrue(text.contains("\"sha256\":\"00070e15"), text)
        XCTAssertFalse(text.contains("not published"), "descriptions stay in the registry")
        var expected = snapshot
        expected.tokens = snapshot.tokens.sorted { $0.id < $1.id }.map { token in
            var copy = token
            copy.description = ""
            return copy
        }
        XCTAssertEqual(TokenSecret.snapshot(secret), expected)
    }

    func testABrokenSecretReadsAsNoTable() {
        XCTAssertNil(TokenSecret.snapshot(["data": ["tokens.json": "not base64!"]]))
        let bad = Data(#"{"version": 1, "tokens": [{"id": "x", "sha256": "zz", "scope": "admin"}]}"#.utf8).base64EncodedString()
        XCTAssertNil(TokenSecret.snapshot(["data": ["tokens.json": .string(bad)]]))
        let wrongScope = Data(#"{"version": 1, "tokens": [{"id": "x", "sha256": "\#(String(repeating: "ab", count: 32))", "scope": "root"}]}"#.utf8)
            .base64EncodedString()
        XCTAssertNil(TokenSecret.snapshot(["data": ["tokens.json": .string(wrongScope)]]))
    }
}

import XCTest
@testable import Messages

/// byoc.v1 token messages (CreateToken, ListTokens, RevokeToken) through protobuf-c.
final class TokenMessagesTests: XCTestCase {
    static let token = Token(id: "0123456789ab", scope: "predict", models: ["iris", "wine"],
                             expiresUnixMs: 1_900_000_000_000, createdUnixMs: 1_732_990_000_123,
                             revokedUnixMs: 1_733_000_000_000, description: "ci " + unicodeText)

    func testEmptyTokenMessagesEncodeToZeroBytes() {
        XCTAssertEqual(Token().serializedBytes(), [])
        XCTAssertEqual(CreateTokenRequest().serializedBytes(), [])
        XCTAssertEqual(CreateTokenResponse().serializedBytes(), [])
        XCTAssertEqual(ListTokensRequest().serializedBytes(), [])
        XCTAssertEqual(ListTokensResponse().serializedBytes(), [])
        XCTAssertEqual(RevokeTokenRequest().serializedBytes(), [])
    }

    func testRoundTripEveryTokenMessage() {
        let t = Self.token
        assertRoundTrip(t)
        assertRoundTrip(Token(id: "ffffffffffff", scope: "admin", expiresUnixMs: .min, createdUnixMs: .max))
        assertRoundTrip(CreateTokenRequest(scope: "predict", models: ["iris", "", "a-b"], expiresUnixMs: 1,
                                           description: unicodeText))
        assertRoundTrip(CreateTokenRequest(scope: "admin"))
        assertRoundTrip(CreateTokenResponse(token: t, secret: "byoc_0123456789ab_" + String(repeating: "A", count: 43)))
        assertRoundTrip(CreateTokenResponse(token: Token(), secret: ""))
        assertRoundTrip(ListTokensRequest())
        assertRoundTrip(ListTokensResponse(tokens: [t, Token(id: "x"), Token()]))
        assertRoundTrip(RevokeTokenRequest(id: "0123456789ab"))
    }

    func testGoldenTokenFieldNumbers() {
        // id = field 1 ("a"), revoked_unix_ms = field 6 varint 1, description = field 7.
        XCTAssertEqual(Token(id: "a", revokedUnixMs: 1, description: "d").serializedBytes(),
                       [0x0a, 0x01, 0x61, 0x30, 0x01, 0x3a, 0x01, 0x64])
        // CreateTokenResponse: token = field 1 (empty message present), secret = field 2.
        XCTAssertEqual(CreateTokenResponse(token: Token(), secret: "s").serializedBytes(), [0x0a, 0x00, 0x12, 0x01, 0x73])
        XCTAssertNil(try CreateTokenResponse(serializedBytes: CreateTokenResponse(secret: "s").serializedBytes()).token)
    }

    func testJSONObjectHasNoSecret() {
        let object = Self.token.jsonObject()
        XCTAssertEqual(object["id"] as? String, "0123456789ab")
        XCTAssertEqual(object["models"] as? [String], ["iris", "wine"])
        XCTAssertNil(object["secret"])
    }

    func testGarbageIsRefused() {
        assertDecodeFails(Token.self, [0x0a, 0x05, 0x61])
        assertDecodeFails(CreateTokenRequest.self, [0x0a, 0x02, 0x61, 0x00])  // NUL in scope
    }
}

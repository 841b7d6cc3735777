import XCTest
@testable import Messages

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    private func failure(_ text: String) -> JSONParseError? {
        do { _ = try parse(text); return nil } catch { return error }
    }

    func testValuesOfEveryKind() throws {
        XCTAssertEqual(try parse(#" {"a": [1, -2, 3.5, 1e3, -0, 9223372036854775807, 9223372036854775808], "b": true,"#
                                 + #" "c": false, "d": null, "e": "x", "f": {}, "g": []} "#),
                       .object(["a": .array([.number(1, exact: 1), .number(-2, exact: -2), .number(3.5, exact: nil),
                                             .number(1000, exact: nil), .number(0, exact: 0),
                                             .number(9223372036854775807, exact: Int64.max),
                                             .number(9223372036854775808, exact: nil)]),
                                "b": .bool(true), "c": .bool(false), "d": .null, "e": .string("x"),
                                "f": .object([:]), "g": .array([])]))
        XCTAssertEqual(try parse("7"), .number(7, exact: 7))
        XCTAssertEqual(try parse(#"{"k": 1, "k": 2}"#), .object(["k": .number(2, exact: 2)]), "the last duplicate wins")
    }

    func testStringEscapesAndUnicode() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\b\f\n\r\t""#), .string("a\"b\\c/d\u{8}\u{c}\n\r\t"))
        XCTAssertEqual(try parse(#""\u00e9\u20AC\ud83d\ude00 é""#), .string("é€😀 é"))
    }

    func testMalformedTextNamesWhatAndWhere() {
        XCTAssertEqual(failure("{not json"), JSONParseError(message: "expected a string key", offset: 1))
        XCTAssertEqual(failure("[1, 2"), JSONParseError(message: "unexpected end of the JSON text", offset: 5))
        XCTAssertEqual(failure("[1 2]"), JSONParseError(message: "expected ',' or ']'", offset: 3))
        XCTAssertEqual(failure("{} x"), JSONParseError(message: "unexpected text after the JSON value", offset: 3))
        XCTAssertEqual(failure("01"), JSONParseError(message: "unexpected text after the JSON value", offset: 1))
        XCTAssertEqual(failure("1."), JSONParseError(message: "expected a digit after '.'", offset: 2))
        XCTAssertEqual(failure("-"), JSONParseError(message: "expected a digit", offset: 1))
        XCTAssertEqual(failure("1e999"), JSONParseError(message: "number out of range", offset: 0))
        XCTAssertEqual(failure("tru"), JSONParseError(message: "unexpected character", offset: 0))
        XCTAssertEqual(failure("\"a\u{1}\""), JSONParseError(message: "control character in a string", offset: 2))
        XCTAssertEqual(failure(#""\x""#), JSONParseError(message: "invalid escape in a string", offset: 2))
        XCTAssertEqual(failure(#""\ud83d""#), JSONParseError(message: "a lone surrogate in a string", offset: 7))
        XCTAssertEqual(failure(#""\u12""#)?.message, "a \\u escape needs four hex digits")
        XCTAssertEqual(failure("\"abc"), JSONParseError(message: "unterminated string", offset: 4))
        XCTAssertEqual(failure(""), JSONParseError(message: "unexpected end of the JSON text", offset: 0))
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xFF, 0x22])) { error in
            XCTAssertEqual((error as? JSONParseError)?.message, "a string is not valid UTF-8")
        }
        XCTAssertEqual(failure("[1]").map { $0.description }, nil)
        XCTAssertThrowsError(try JSONValue.parseObject(Array("[1]".utf8)))
    }

    /// Nesting is bounded (the JSON fuzzer found deep nesting costly), and linear: 100,000
    /// nested arrays are refused at the limit without recursing further.
    func testNestingDeeperThanTheLimitIsRefused() throws {
        let limit = JSONValue.maxDepth
        XCTAssertNoThrow(try parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit)))
        let deep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        XCTAssertEqual(failure(deep), JSONParseError(message: "nested deeper than \(limit) levels", offset: limit))
        XCTAssertEqual(failure(String(repeating: #"{"a":"#, count: 100_000))?.message, "nested deeper than \(limit) levels")
    }
}

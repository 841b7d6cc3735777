import TestSupport
import XCTest
import GRPC

final class PercentEncodingTests: XCTestCase {
    func testPrintableASCIIPassesThrough() {
        let printable = String((0x20...0x7E).filter { $0 != 0x25 }.map { Character(UnicodeScalar(UInt8($0))) })
        XCTAssertEqual(PercentEncoding.encode(printable), printable)
        XCTAssertEqual(PercentEncoding.encode(""), "")
    }

    func testPercentAndControlCharacters() {
        XCTAssertEqual(PercentEncoding.encode("%"), "%25")
        XCTAssertEqual(PercentEncoding.encode("100%"), "100%25")
        XCTAssertEqual(PercentEncoding.encode("a\nb"), "a%0Ab")
        XCTAssertEqual(PercentEncoding.encode("\t\r\0"), "%09%0D%00")
        XCTAssertEqual(PercentEncoding.encode("\u{7F}"), "%7F")
        XCTAssertEqual(PercentEncoding.encode("\u{1F}"), "%1F")
    }

    func testNonASCIIIsEncodedAsUTF8Bytes() {
        XCTAssertEqual(PercentEncoding.encode("é"), "%C3%A9")
        XCTAssertEqual(PercentEncoding.encode("モデル"), "%E3%83%A2%E3%83%87%E3%83%AB")
        XCTAssertEqual(PercentEncoding.encode("😀"), "%F0%9F%98%80")
        XCTAssertEqual(PercentEncoding.encode("modèle 100% absent\n"), "mod%C3%A8le 100%25 absent%0A")
    }

    func testDecode() {
        XCTAssertEqual(PercentEncoding.decode("mod%C3%A8le 100%25 absent%0A"), "modèle 100% absent\n")
        XCTAssertEqual(PercentEncoding.decode("%e3%83%a2"), "モ", "lower-case hex decodes too")
        XCTAssertEqual(PercentEncoding.decode("plain"), "plain")
        XCTAssertEqual(PercentEncoding.decode(""), "")
        XCTAssertEqual(PercentEncoding.decode("%41%42%43"), "ABC")
    }

    func testMalformedSequencesDecodeAsIs() {
        XCTAssertEqual(PercentEncoding.decode("%"), "%")
        XCTAssertEqual(PercentEncoding.decode("%4"), "%4")
        XCTAssertEqual(PercentEncoding.decode("abc%"), "abc%")
        XCTAssertEqual(PercentEncoding.decode("abc%2"), "abc%2")
        XCTAssertEqual(PercentEncoding.decode("%zz"), "%zz")
        XCTAssertEqual(PercentEncoding.decode("%G1"), "%G1")
        XCTAssertEqual(PercentEncoding.decode("%1G"), "%1G")
        XCTAssertEqual(PercentEncoding.decode("100%"), "100%")
        XCTAssertEqual(PercentEncoding.decode("%%41"), "%A", "a lone % is kept, the next sequence still decodes")
        XCTAssertEqual(PercentEncoding.decode("%41%"), "A%")
    }

    func testDecodeAtTheVeryEnd() {
        // A complete sequence in the last three bytes must decode.
        XCTAssertEqual(PercentEncoding.decode("x%20"), "x ")
        XCTAssertEqual(PercentEncoding.decode("%20"), " ")
    }

    func testRoundTrip() {
        let samples = ["", "ok", "100%", "a\u{0}b", "line1\nline2\r\n", "Ünïcödé ✓ 😀", "%25 literally", String(repeating: "é%", count: 500)]
        for sample in samples {
            let encoded = PercentEncoding.encode(sample)
            XCTAssertTrue(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }, encoded)
            XCTAssertEqual(PercentEncoding.decode(encoded), sample)
        }
    }
}

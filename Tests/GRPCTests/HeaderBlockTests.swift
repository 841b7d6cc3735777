import XCTest
import HTTP2

final class HeaderBlockTests: XCTestCase {
    func testFieldsRoundTripAndLookups() {
        let fields = [HeaderField(":path", "/byoc.v1.Inference/Predict"), HeaderField("x-bin", "a\u{0}b"),
                      HeaderField("empty", ""), HeaderField("dup", "1"), HeaderField("dup", "2")]
        let block = HeaderBlock(fields)
        XCTAssertEqual(block.count, 5)
        XCTAssertEqual(block.fields, fields)
        XCTAssertEqual(Array(block), fields)
        XCTAssertEqual(block[field: "dup"], "1", "the first of a name")
        XCTAssertEqual(block[field: "empty"], "")
        XCTAssertNil(block[field: "missing"])
        XCTAssertEqual(block[literal: "dup"], "1")
        XCTAssertEqual(block[literal: ":path"], "/byoc.v1.Inference/Predict")
        XCTAssertNil(block[literal: "du"])
        XCTAssertEqual(block[field: "x-bin"], "a\u{0}b")
        XCTAssertNil(block[field: "x-bi"])
        XCTAssertEqual(HeaderBlock(), HeaderBlock([]))
        XCTAssertTrue(HeaderBlock().isEmpty)
        XCTAssertNotEqual(block, HeaderBlock(Array(fields.dropLast())))
        XCTAssertNotEqual(block, HeaderBlock(Array(fields.dropLast()) + [HeaderField("dup", "3")]))
    }

    func testGrowsAndCopiesOnWrite() {
        var block = HeaderBlock()
        var expected: [HeaderField] = []
        for index in 0..<200 {  // past several reallocations
            let field = HeaderField("x-\(index)", String(repeating: "v", count: index % 50))
            block.append(field.name, field.value)
            expected.append(field)
        }
        let copy = block
        block.append("last", "1")
        XCTAssertEqual(copy.fields, expected, "a copy does not see later appends")
        XCTAssertEqual(block.fields, expected + [HeaderField("last", "1")])
    }
}

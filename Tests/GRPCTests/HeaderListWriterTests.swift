import CNGHTTP2
import XCTest
@testable import HTTP2

final class HeaderListWriterTests: XCTestCase {
    /// The pairs `withNameValues` hands to nghttp2, as fields.
    private func pairs(_ writer: HeaderListWriter) -> [HeaderField] {
        writer.withNameValues { nva, count in
            (0..<count).map { index in
                HeaderField(String(decoding: UnsafeBufferPointer(start: nva[index].name, count: nva[index].namelen), as: UTF8.self),
                            String(decoding: UnsafeBufferPointer(start: nva[index].value, count: nva[index].valuelen), as: UTF8.self))
            }
        }
    }

    private func withScratch(extraBytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        let size = HeaderListWriter.maxFields * MemoryLayout<nghttp2_nv>.stride + extraBytes
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { scratch.deallocate() }
        body(scratch)
    }

    func testFieldsInOrderInTheScratchBuffer() {
        withScratch(extraBytes: 1024) { scratch in
            var writer = HeaderListWriter(scratch: scratch)
            let headers = [HeaderField(":method", "POST"), HeaderField(":path", "/a/b"), HeaderField("x-é", "ü"),
                           HeaderField("empty", ""), HeaderField("long-value-name", String(repeating: "v", count: 40))]
            writer.append(contentsOf: headers)
            XCTAssertEqual(writer.fields, headers)
            XCTAssertEqual(pairs(writer), headers)
        }
    }

    func testAListLargerThanTheBufferSpillsWithoutLosingFields() {
        // 64 bytes of room: the third field does not fit, so all of them move to an array.
        withScratch(extraBytes: 64) { scratch in
            var writer = HeaderListWriter(scratch: scratch)
            let headers = [HeaderField("a", "1"), HeaderField("b", String(repeating: "2", count: 40)),
                           HeaderField("c", String(repeating: "3", count: 40)), HeaderField("d", "4")]
            writer.append(contentsOf: headers)
            XCTAssertEqual(writer.fields, headers)
            XCTAssertEqual(pairs(writer), headers)
        }
        // More fields than pairs reserved.
        withScratch(extraBytes: 64 * 1024) { scratch in
            var writer = HeaderListWriter(scratch: scratch)
            let headers = (0..<(HeaderListWriter.maxFields + 10)).map { HeaderField("x-\($0)", "\($0)") }
            writer.append(contentsOf: headers)
            XCTAssertEqual(pairs(writer), headers)
        }
    }

    func testABlockIsReferencedAndSurvivesASpill() {
        let block = HeaderBlock([HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                                 HeaderField("x-empty", "")])
        withScratch(extraBytes: 32) { scratch in
            var writer = HeaderListWriter(scratch: scratch)
            writer.append(contentsOf: block)
            XCTAssertEqual(pairs(writer), block.fields)
            // The scratch bytes are still free (the block was not copied); these do not fit them.
            let more = [HeaderField("x-a", String(repeating: "a", count: 20)), HeaderField("x-b", String(repeating: "b", count: 20))]
            writer.append(contentsOf: more)
            XCTAssertEqual(pairs(writer), block.fields + more)
        }
    }
}

import XCTest
@testable import HTTP2

final class HeaderInternerTests: XCTestCase {
    private func intern(_ table: HeaderInterner.Table, _ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { table.string($0) }
    }

    func testEveryCandidateComesBackEqual() {
        for name in [":method", ":path", "te", "content-type", "grpc-timeout", "grpc-message", "grpc-accept-encoding",
                     "byoc-served-by", "content-length"] {
            XCTAssertEqual(intern(HeaderInterner.names, name), name)
        }
        for value in ["0", "200", "POST", "application/grpc", "application/grpc+proto", "/byoc.v1.Inference/Predict",
                      "/inference.GRPCInferenceService/ModelMetadata", "identity,deflate,gzip"] {
            XCTAssertEqual(intern(HeaderInterner.values, value), value)
        }
    }

    func testOtherBytesAreDecodedAsTheyAre() {
        // Same length and same first 8 bytes as a candidate, different after them.
        XCTAssertEqual(intern(HeaderInterner.names, "grpc-messagx"), "grpc-messagx")
        XCTAssertEqual(intern(HeaderInterner.values, "application/grpX"), "application/grpX")
        // Same length, different first bytes; shorter than 8; empty; longer than every candidate.
        XCTAssertEqual(intern(HeaderInterner.names, ":pathx"), ":pathx")
        XCTAssertEqual(intern(HeaderInterner.names, "tf"), "tf")
        XCTAssertEqual(intern(HeaderInterner.values, ""), "")
        let long = String(repeating: "x", count: 300)
        XCTAssertEqual(intern(HeaderInterner.values, long), long)
        // Not UTF-8: decoded with replacement characters, never trapped on.
        XCTAssertEqual([UInt8]([0x61, 0xff]).withUnsafeBytes { HeaderInterner.values.string($0) }, "a\u{FFFD}")
    }
}

@testable import GRPC
import XCTest

/// `grpc-message` stays small enough for any client's header list limit.
final class GRPCStatusTrailerTests: XCTestCase {
    func testShortMessagesAreSentAsTheyAre() {
        XCTAssertEqual(GRPCResponses.truncated("model \"x\" not found"), "model \"x\" not found")
    }

    func testLongMessagesAreCutAtACharacterBoundaryAndSaySo() {
        let message = "model \"" + String(repeating: "✓", count: 100_000) + "\" is too long"
        let cut = GRPCResponses.truncated(message)
        XCTAssertLessThanOrEqual(cut.utf8.count, GRPCResponses.maxMessageBytes)
        XCTAssertTrue(cut.hasPrefix("model \"✓✓"), cut)
        XCTAssertTrue(cut.hasSuffix(" ... (\(message.utf8.count) bytes, truncated)"), cut)
        let trailer = GRPCResponses.trailers(GRPCStatus(.invalidArgument, message))[1]
        XCTAssertEqual(trailer.name, "grpc-message")
        XCTAssertEqual(PercentEncoding.decode(trailer.value), cut)
    }
}

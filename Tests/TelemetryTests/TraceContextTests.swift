import Telemetry
import XCTest

extension TraceContext {
    /// The trace id as 32 hex digits (as the access log writes it).
    var traceID: String {
        let out = RecordBuffer()
        out.hex(traceHigh)
        out.hex(traceLow)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// The `traceparent` a callee receives when `span` is its parent (as the proxy writes it).
    func traceparent(parent span: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: TraceContext.traceparentLength)
        bytes.withUnsafeMutableBufferPointer { writeTraceparent(parent: span, into: $0.baseAddress!) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

final class TraceContextTests: XCTestCase {
    func testAValidTraceparentIsParsed() throws {
        let context = try XCTUnwrap(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        XCTAssertEqual(context.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(context.spanID, 0x00f0_67aa_0ba9_02b7)
        XCTAssertTrue(context.sampled)
        XCTAssertFalse(try XCTUnwrap(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")).sampled)
        // Only bit 0 of the flags is the sampled flag.
        XCTAssertFalse(try XCTUnwrap(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")).sampled)
    }

    func testInvalidTraceparentsAreRefused() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  // no flags
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // version 00 with more
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // wrong separator
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // not hex
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // later version, no dash after flags
        ] {
            XCTAssertNil(TraceContext(traceparent: value), value)
        }
    }

    func testALaterVersionIsReadForItsVersion00Fields() throws {
        let context = try XCTUnwrap(TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"))
        XCTAssertEqual(context.traceID, "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    func testTheCalleesTraceparentKeepsTheTraceAndNamesTheNewParent() throws {
        let context = try XCTUnwrap(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        let child = context.traceparent(parent: 0x1234)
        XCTAssertEqual(child, "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000001234-01")
        XCTAssertEqual(TraceContext(traceparent: child)?.spanID, 0x1234)
        var unsampled = context
        unsampled.sampled = false
        XCTAssertTrue(unsampled.traceparent(parent: 1).hasSuffix("-00"))
    }
}

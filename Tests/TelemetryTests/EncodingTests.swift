import Foundation
import Telemetry
import XCTest

final class EncodingTests: XCTestCase {
    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    /// A span object's attributes as key: value (string or int, as text).
    private func attributes(_ span: [String: Any]) throws -> [String: String] {
        var values: [String: String] = [:]
        for attribute in try XCTUnwrap(span["attributes"] as? [[String: Any]]) {
            let value = try XCTUnwrap(attribute["value"] as? [String: String])
            values[attribute["key"] as! String] = value["stringValue"] ?? value["intValue"]
        }
        return values
    }

    func testAnAccessLogEntryIsOneJSONLineWithTheContractsFields() throws {
        var entry = AccessLogEntry()
        entry.startUnixNanos = 1_796_655_742_123_456_789  // 2026-12-07T15:02:22.123Z
        entry.durationNanos = 12_345_678
        entry.method = "/byoc.v1.Inference/Predict"
        entry.model = "iris \"quoted\"\n\u{1}"
        entry.version = "2"
        entry.grpcStatus = 5
        entry.requestBytes = 17
        entry.responseBytes = 0
        entry.peer = "127.0.0.1:50000"
        entry.upstream = "127.0.0.1:9001"
        entry.attempts = 2
        entry.trace = TraceContext(traceHigh: 0x4bf9_2f35_77b3_4da6, traceLow: 0xa3ce_929d_0e0e_4736, spanID: 1, sampled: false)
        let out = RecordBuffer()
        entry.encode(into: out)
        XCTAssertEqual(out.bytes.last, UInt8(ascii: "\n"))
        XCTAssertEqual(out.bytes.filter { $0 == UInt8(ascii: "\n") }.count, 1, "one line, newlines escaped")
        let line = try object(out.bytes)
        XCTAssertEqual(line["time"] as? String, "2026-12-07T15:02:22.123Z")
        XCTAssertEqual(line["method"] as? String, "/byoc.v1.Inference/Predict")
        XCTAssertEqual(line["model"] as? String, "iris \"quoted\"\n\u{1}")
        XCTAssertEqual(line["version"] as? String, "2")
        XCTAssertEqual(line["grpc_status"] as? Int, 5)
        XCTAssertEqual(line["grpc_code"] as? String, "NOT_FOUND")
        XCTAssertEqual(line["http_status"] as? Int, 200)
        XCTAssertEqual(try XCTUnwrap(line["duration_ms"] as? Double), 12.345, accuracy: 1e-9)
        XCTAssertEqual(line["request_bytes"] as? Int, 17)
        XCTAssertEqual(line["response_bytes"] as? Int, 0)
        XCTAssertEqual(line["peer"] as? String, "127.0.0.1:50000")
        XCTAssertEqual(line["upstream"] as? String, "127.0.0.1:9001")
        XCTAssertEqual(line["attempts"] as? Int, 2)
        XCTAssertEqual(line["trace_id"] as? String, "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    func testRepeatedFieldsAreCopiedFromTheirFragmentOnlyWhileTheyRepeat() throws {
        let out = RecordBuffer()
        var lines: [[String: Any]] = []
        for (model, peer) in [("a", "p1"), ("a", "p1"), ("b\"", "p1"), ("a", "p2")] {
            var entry = AccessLogEntry()
            entry.method = "/s/m"
            entry.model = model
            entry.peer = peer
            out.reset()
            entry.encode(into: out)
            lines.append(try object(out.bytes))
        }
        XCTAssertEqual(lines.map { $0["model"] as? String }, ["a", "a", "b\"", "a"])
        XCTAssertEqual(lines.map { $0["peer"] as? String }, ["p1", "p1", "p1", "p2"])
        let trace = TraceContext(traceHigh: 1, traceLow: 2, spanID: 0, sampled: true)
        var names: [String] = []
        for path in ["/a.S/M", "/a.S/M", "/b.T/N"] {
            var span = SpanRecord(trace: trace, spanID: 3)
            span.path = path
            out.reset()
            span.encode(into: out)
            names.append(try object(out.bytes)["name"] as! String)
        }
        XCTAssertEqual(names, ["a.S/M", "a.S/M", "b.T/N"])
        var http = SpanRecord(trace: trace, spanID: 4)
        http.path = "/v2/models/x"
        http.httpMethod = "GET"
        out.reset()
        http.encode(into: out)
        XCTAssertEqual(try object(out.bytes)["name"] as? String, "GET /v2/models/x", "an HTTP span after a gRPC one")
    }

    func testAPlainHTTPRequestsMethodIsWrittenBeforeItsPath() throws {
        var entry = AccessLogEntry()
        entry.httpMethod = "GET"
        entry.method = "/metrics"
        entry.httpStatus = 404
        let out = RecordBuffer()
        entry.encode(into: out)
        let line = try object(out.bytes)
        XCTAssertEqual(line["method"] as? String, "GET /metrics")
        XCTAssertEqual(line["http_status"] as? Int, 404)
        XCTAssertEqual(line["trace_id"] as? String, "", "no trace: an empty trace id")
    }

    func testACallWithoutAStatusHasNullStatus() throws {
        let out = RecordBuffer()
        AccessLogEntry().encode(into: out)
        let line = try object(out.bytes)
        XCTAssertTrue(line["grpc_status"] is NSNull)
        XCTAssertTrue(line["grpc_code"] is NSNull)
        XCTAssertEqual(line["time"] as? String, "1970-01-01T00:00:00.000Z")
    }

    func testNumbersAndMillis() {
        let out = RecordBuffer()
        out.int(-12)
        out.raw(" ")
        out.int(Int.min)
        out.raw(" ")
        out.unsigned(UInt64.max)
        out.raw(" ")
        out.unsigned(0)
        out.raw(" ")
        out.unsigned(7)
        out.raw(" ")
        out.unsigned(10)
        out.raw(" ")
        out.unsigned(1_796_655_742_123_456_789)
        out.raw(" ")
        out.millis(nanos: 5_000)
        out.raw(" ")
        out.millis(nanos: 1_234_000_000)
        XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self),
                       "-12 -9223372036854775808 18446744073709551615 0 7 10 1796655742123456789 0.005 1234.000")
    }

    func testASpanIsAnOTLPJSONSpanObject() throws {
        let trace = TraceContext(traceHigh: 0x4bf9_2f35_77b3_4da6, traceLow: 0xa3ce_929d_0e0e_4736, spanID: 0, sampled: true)
        var span = SpanRecord(trace: trace, spanID: 0x00f0_67aa_0ba9_02b7)
        span.parentSpanID = 0x1
        span.traceState = "vendor=x"
        span.path = "/byoc.v1.Inference/Predict"
        span.kind = .client
        span.startUnixNanos = 1_000
        span.endUnixNanos = 3_000
        span.model = "iris"
        span.version = "1"
        span.grpcStatus = 14
        span.serverHost = "127.0.0.1"
        span.serverPort = 9001
        span.attempt = 2
        let out = RecordBuffer()
        span.encode(into: out)
        let object = try object(out.bytes)
        XCTAssertEqual(object["traceId"] as? String, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertEqual(object["spanId"] as? String, "00f067aa0ba902b7")
        XCTAssertEqual(object["parentSpanId"] as? String, "0000000000000001")
        XCTAssertEqual(object["traceState"] as? String, "vendor=x")
        XCTAssertEqual(object["name"] as? String, "byoc.v1.Inference/Predict", "the path without its leading /")
        XCTAssertEqual(object["kind"] as? Int, 3)
        XCTAssertEqual(object["startTimeUnixNano"] as? String, "1000")
        XCTAssertEqual(object["endTimeUnixNano"] as? String, "3000")
        let values = try attributes(object)
        XCTAssertEqual(values["rpc.system"], "grpc")
        XCTAssertEqual(values["rpc.service"], "byoc.v1.Inference")
        XCTAssertEqual(values["rpc.method"], "Predict")
        XCTAssertEqual(values["rpc.grpc.status_code"], "14")
        XCTAssertEqual(values["server.address"], "127.0.0.1")
        XCTAssertEqual(values["server.port"], "9001")
        XCTAssertEqual(values["byoc.attempt"], "2")
        XCTAssertEqual((object["status"] as? [String: Any])?["code"] as? Int, 2, "a failing grpc-status fails the span")

        var root = SpanRecord(trace: trace, spanID: 7)
        root.grpcStatus = 0
        out.reset()
        root.encode(into: out)
        let rootObject = try self.object(out.bytes)
        XCTAssertNil(rootObject["parentSpanId"], "a root span names no parent")
        XCTAssertNil(rootObject["status"], "an OK span leaves the status unset")
    }

    func testAServerSpanWithAChildEncodesTheAttemptAsItsClientSpan() throws {
        let trace = TraceContext(traceHigh: 1, traceLow: 2, spanID: 0, sampled: true)
        var server = SpanRecord(trace: trace, spanID: 10)
        server.path = "/s.S/M"
        server.model = "m"
        server.grpcStatus = 0
        server.child = SpanRecord.Child(spanID: 11, startUnixNanos: 5, endUnixNanos: 7, grpcStatus: 14, error: "reset",
                                        number: 1, serverHost: "10.0.0.1", serverPort: 9000)
        XCTAssertEqual(server.spanCount, 2)
        let out = RecordBuffer()
        out.raw("[")
        server.encode(into: out)
        out.raw("]")
        let spans = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.bytes)) as? [[String: Any]])
        XCTAssertEqual(spans.map { $0["spanId"] as? String }, ["000000000000000a", "000000000000000b"])
        XCTAssertEqual(spans[1]["parentSpanId"] as? String, "000000000000000a")
        XCTAssertEqual(spans[1]["kind"] as? Int, 3)
        XCTAssertEqual(spans[1]["startTimeUnixNano"] as? String, "5")
        XCTAssertEqual((spans[1]["status"] as? [String: Any])?["message"] as? String, "reset")
        XCTAssertNil(spans[0]["status"])
        out.reset()
        server.encodeProtobuf(into: out)
        XCTAssertEqual(out.bytes.filter { _ in true }.first, 2 << 3 | 2)
        let first = Int(out.bytes[1] & 0x7f) | Int(out.bytes[2] & 0x7f) << 7 | Int(out.bytes[3]) << 14
        XCTAssertEqual(out.bytes[4 + first], 2 << 3 | 2, "a second ScopeSpans.spans field follows")
    }

    func testAPlainHTTPSpanHasHTTPAttributesAndA5xxFailsIt() throws {
        let trace = TraceContext(traceHigh: 1, traceLow: 2, spanID: 0, sampled: true)
        var span = SpanRecord(trace: trace, spanID: 3)
        span.path = "/v2/models/iris/infer"
        span.httpMethod = "POST"
        span.httpStatus = 503
        let out = RecordBuffer()
        span.encode(into: out)
        let object = try object(out.bytes)
        XCTAssertEqual(object["name"] as? String, "POST /v2/models/iris/infer")
        let values = try attributes(object)
        XCTAssertEqual(values, ["http.request.method": "POST", "url.path": "/v2/models/iris/infer",
                                "http.response.status_code": "503"])
        XCTAssertEqual((object["status"] as? [String: Any])?["code"] as? Int, 2)
    }

    func testProtobufVarintsAndReservedLengths() {
        let out = RecordBuffer()
        out.varint(1)
        out.varint(300)
        out.varint(UInt64.max)
        XCTAssertEqual(out.bytes, [0x01, 0xac, 0x02] + [UInt8](repeating: 0xff, count: 9) + [0x01])
        XCTAssertEqual(RecordBuffer.varintSize(300), 2)
        XCTAssertEqual(RecordBuffer.varintSize(UInt64.max), 10)
        out.reset()
        let start = out.beginLength()
        out.raw("abcde")
        out.endLength(start)
        // 5 as a 3-byte (padded) varint, then the bytes.
        XCTAssertEqual(out.bytes, [0x85, 0x80, 0x00] + Array("abcde".utf8))
    }

    func testASpanInProtobufIsOneScopeSpansField() {
        let trace = TraceContext(traceHigh: 0x0102_0304_0506_0708, traceLow: 0x090a_0b0c_0d0e_0f10, spanID: 0, sampled: true)
        var span = SpanRecord(trace: trace, spanID: 0x1112_1314_1516_1718)
        span.path = "/s/m"
        let out = RecordBuffer()
        span.encodeProtobuf(into: out)
        let bytes = out.bytes
        XCTAssertEqual(bytes[0], 2 << 3 | 2, "field 2 (ScopeSpans.spans), length-delimited")
        let length = Int(bytes[1] & 0x7f) | Int(bytes[2] & 0x7f) << 7 | Int(bytes[3]) << 14
        XCTAssertEqual(length, bytes.count - 4)
        XCTAssertEqual(Array(bytes[4..<22]), [1 << 3 | 2, 16] + (1...16).map { UInt8($0) }, "trace_id: 16 bytes, big-endian")
        XCTAssertEqual(Array(bytes[22..<32]), [2 << 3 | 2, 8] + (0x11...0x18).map { UInt8($0) }, "span_id")
        XCTAssertEqual(Array(bytes[32..<37]), [5 << 3 | 2, 3] + Array("s/m".utf8), "name (no parent, no tracestate)")
    }

    func testTheOTLPEndpointURL() throws {
        let plain = try OTLPExporter(endpoint: "http://127.0.0.1:4318", serviceName: "s", serviceVersion: "1")
        XCTAssertEqual(plain.host, "127.0.0.1")
        XCTAssertEqual(plain.port, 4318)
        XCTAssertEqual(plain.path, "/v1/traces")
        XCTAssertEqual(try OTLPExporter(endpoint: "http://collector:4318/", serviceName: "s", serviceVersion: "1").path, "/v1/traces")
        XCTAssertEqual(try OTLPExporter(endpoint: "http://[::1]:4318/otlp/v1/traces", serviceName: "s", serviceVersion: "1").host, "::1")
        XCTAssertEqual(try OTLPExporter(endpoint: "http://[::1]:4318/otlp/v1/traces", serviceName: "s", serviceVersion: "1").path,
                       "/otlp/v1/traces")
        for bad in ["https://collector:4318", "collector:4318", "http://collector", "http://:4318", "http://c:0", "http://c:x"] {
            XCTAssertThrowsError(try OTLPExporter(endpoint: bad, serviceName: "s", serviceVersion: "1"), bad)
        }
    }
}

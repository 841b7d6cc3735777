import TestSupport
import XCTest
import HTTP2
@testable import Router
import Telemetry

final class ProxyHeadersTests: XCTestCase {
    /// What `writeUpstreamRequest` writes, read back from the writer.
    private func upstreamRequest(from client: [HeaderField], path: String, authority: String,
                                 remainingNanos: UInt64?, dropAuthorization: Bool = false,
                                 traceparent: (trace: TraceContext, parent: UInt64)? = nil, keepTraceState: Bool = true) -> [HeaderField] {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 16)
        defer { scratch.deallocate() }
        var writer = HeaderListWriter(scratch: scratch)
        ProxyHeaders.writeUpstreamRequest(into: &writer, from: HeaderBlock(client), path: path, authority: authority,
                                          remainingNanos: remainingNanos, dropAuthorization: dropAuthorization,
                                          traceparent: traceparent, keepTraceState: keepTraceState)
        return writer.fields
    }

    func testHopByHopNames() {
        for name in ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host", "grpc-timeout"] {
            XCTAssertTrue(Array(name.utf8).withUnsafeBytes { ProxyHeaders.isHopByHop($0) }, name)
        }
        for name in ["content-type", "user-agent", "byoc-model", "grpc-encoding", "grpc-accept-encoding", "authorization",
                     "x-request-id", ":path", "grpc-status"] {
            XCTAssertFalse(Array(name.utf8).withUnsafeBytes { ProxyHeaders.isHopByHop($0) }, name)
        }
    }

    func testUpstreamRequestRebuildsPseudoHeadersAndDropsHopByHop() {
        let client = [
            HeaderField(":method", "POST"), HeaderField(":scheme", "https"), HeaderField(":authority", "gateway.example"),
            HeaderField(":path", "/client/path"), HeaderField("content-type", "application/grpc"),
            HeaderField("te", "trailers"), HeaderField("grpc-timeout", "10S"), HeaderField("connection", "keep-alive"),
            HeaderField("keep-alive", "timeout=5"), HeaderField("host", "gateway.example"), HeaderField("upgrade", "h2c"),
            HeaderField("transfer-encoding", "chunked"), HeaderField("proxy-connection", "close"),
            HeaderField("x-custom", "abc"), HeaderField("byoc-model", "iris"), HeaderField("x-custom", "second"),
        ]
        let upstream = upstreamRequest(from: client, path: "/byoc.v1.Inference/Predict",
                                                    authority: "10.0.0.1:9000", remainingNanos: 2_500_000_000)
        XCTAssertEqual(upstream, [
            HeaderField(":method", "POST"), HeaderField(":scheme", "http"), HeaderField(":authority", "10.0.0.1:9000"),
            HeaderField(":path", "/byoc.v1.Inference/Predict"), HeaderField("te", "trailers"),
            HeaderField("grpc-timeout", "2500000u"),
            HeaderField("content-type", "application/grpc"), HeaderField("x-custom", "abc"),
            HeaderField("byoc-model", "iris"), HeaderField("x-custom", "second"),
        ])
        // Pseudo-headers come first (HTTP/2 requires it) and appear once each.
        let pseudo = upstream.prefix { $0.name.hasPrefix(":") }
        XCTAssertEqual(pseudo.map(\.name), [":method", ":scheme", ":authority", ":path"])
        XCTAssertFalse(upstream.dropFirst(4).contains { $0.name.hasPrefix(":") })
        XCTAssertEqual(upstream.filter { $0.name == "te" }.count, 1)
        XCTAssertEqual(upstream.filter { $0.name == "grpc-timeout" }.count, 1)
    }

    func testTheGatewaysTraceparentReplacesTheClientsAndTracestateFollowsTheTrace() {
        let client = [HeaderField("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                      HeaderField("tracestate", "vendor=1"), HeaderField("x-other", "1")]
        let untraced = upstreamRequest(from: client, path: "/a/b", authority: "h:1", remainingNanos: nil)
        XCTAssertEqual(untraced.filter { !$0.name.hasPrefix(":") && $0.name != "te" }, client, "not tracing: passed through")
        let ours = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000001234-01"
        let trace = TraceContext(traceHigh: 0x4bf9_2f35_77b3_4da6, traceLow: 0xa3ce_929d_0e0e_4736, spanID: 0x00f0_67aa_0ba9_02b7, sampled: true)
        let kept = upstreamRequest(from: client, path: "/a/b", authority: "h:1", remainingNanos: nil, traceparent: (trace, 0x1234))
        XCTAssertEqual(kept.filter { $0.name == "traceparent" }.map(\.value), [ours], "one traceparent: the gateway's")
        XCTAssertEqual(kept[field: "tracestate"], "vendor=1")
        XCTAssertEqual(kept[field: "x-other"], "1")
        let restarted = upstreamRequest(from: client, path: "/a/b", authority: "h:1", remainingNanos: nil, traceparent: (trace, 0x1234),
                                        keepTraceState: false)
        XCTAssertNil(restarted[field: "tracestate"], "a new trace does not carry the old tracestate")
        XCTAssertEqual(restarted[field: "traceparent"], ours)
    }

    func testTimeoutHandling() {
        let none = upstreamRequest(from: [HeaderField("grpc-timeout", "1S")], path: "/a/b", authority: "h:1", remainingNanos: nil)
        XCTAssertNil(none[field: "grpc-timeout"], "no deadline: the client's grpc-timeout is not forwarded as is")
        let zero = upstreamRequest(from: [], path: "/a/b", authority: "h:1", remainingNanos: 0)
        XCTAssertEqual(zero[field: "grpc-timeout"], "1000n", "an expired deadline still sends a positive timeout")
        let tiny = upstreamRequest(from: [], path: "/a/b", authority: "h:1", remainingNanos: 999)
        XCTAssertEqual(tiny[field: "grpc-timeout"], "1000n")
        let minute = upstreamRequest(from: [], path: "/a/b", authority: "h:1", remainingNanos: 60_000_000_000)
        XCTAssertEqual(minute[field: "grpc-timeout"], "60000000u")
        XCTAssertEqual(minute[field: "te"], "trailers")
    }

    func testDownstreamDropsHopByHop() {
        let upstream = [
            HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"), HeaderField("connection", "close"),
            HeaderField("keep-alive", "x"), HeaderField("transfer-encoding", "chunked"), HeaderField("te", "trailers"),
            HeaderField("host", "pod"), HeaderField("upgrade", "x"), HeaderField("proxy-connection", "x"),
            HeaderField("x-served-by", "pod-1"), HeaderField("grpc-status", "0"), HeaderField("grpc-message", "ok"),
        ]
        let downstream = ProxyHeaders.downstream(HeaderBlock(upstream)).fields
        XCTAssertEqual(downstream, [
            HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
            HeaderField("x-served-by", "pod-1"), HeaderField("grpc-status", "0"), HeaderField("grpc-message", "ok"),
        ])
    }

    func testDownstreamPassesACleanBlockOnAsItIs() {
        let upstream = HeaderBlock([HeaderField(":status", "200"), HeaderField("content-type", "application/grpc"),
                                    HeaderField("grpc-timeout", "1S"), HeaderField("x-a", "1")])
        XCTAssertEqual(ProxyHeaders.downstream(upstream), upstream)
    }
}

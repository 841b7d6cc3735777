import GRPC
import Messages
import XCTest
@testable import Router

/// StreamInferGuard driven directly: request bytes split into forward/drop runs however they
/// arrive, the gateway's answers queued for refused requests, response boundaries found.
final class StreamInferGuardTests: XCTestCase {
    private func request(_ model: String, _ version: String, payload: Int = 3) -> [UInt8] {
        GRPCFraming.frame(ModelInferRequest(modelName: model, modelVersion: version, id: "x",
                                            rawInputContents: [[UInt8](repeating: 7, count: payload)]).serializedBytes())
    }

    private func guardFor(model: String = "iris", named: String = "", served: String = "2") -> StreamInferGuard {
        StreamInferGuard(model: model, namedVersion: named, servedVersion: served, maxScanBytes: 64)
    }

    /// Feeds `bytes` in chunks of `chunk`; returns the forwarded bytes and the dropped count.
    private func feed(_ g: inout StreamInferGuard, _ bytes: [UInt8], chunk: Int) -> (forwarded: [UInt8], dropped: Int) {
        var forwarded: [UInt8] = []
        var dropped = 0
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            bytes[offset..<end].withUnsafeBytes { part in
                g.request(part) { segment in
                    switch segment {
                    case .forward(let run): forwarded.append(contentsOf: run)
                    case .drop(let n): dropped += n
                    }
                }
            }
            offset = end
        }
        return (forwarded, dropped)
    }

    func testForwardsTheBoundModelAndDropsOthersWhateverTheChunking() throws {
        let ok1 = request("iris", ""), ok2 = request("iris", "2", payload: 300), ok3 = request("iris", "")
        let other = request("wine", "", payload: 200), version = request("iris", "1")
        let stream = ok1 + other + ok2 + version + ok3
        for chunk in [1, 2, 5, 7, 64, 1000] {
            var g = guardFor()
            let (forwarded, dropped) = feed(&g, stream, chunk: chunk)
            XCTAssertEqual(forwarded, ok1 + ok2 + ok3, "chunk \(chunk)")
            XCTAssertEqual(dropped, other.count + version.count, "chunk \(chunk)")
            XCTAssertEqual(g.heldBytes, 0)
            let answers = g.takeAnswers().map { try? ModelStreamInferResponse(serializedBytes: Array($0.dropFirst(5))) }
            XCTAssertEqual(answers.count, 2)
            XCTAssertTrue(answers[0]!.errorMessage.contains("a request for model \"wine\" version \"\""), "\(answers[0]!)")
            XCTAssertTrue(answers[1]!.errorMessage.contains("model \"iris\" version \"1\""))
            XCTAssertTrue(g.takeAnswers().isEmpty)
        }
    }

    func testTheNamedAndServedVersionsAreBothAccepted() {
        var g = guardFor(named: "stable", served: "2")
        let stream = request("iris", "stable") + request("iris", "2") + request("iris", "")
        XCTAssertEqual(feed(&g, stream, chunk: 3).forwarded, stream)
    }

    func testARequestNamingNoModelIsForTheHeaderModel() {
        var byHeader = StreamInferGuard(model: "iris", namedVersion: "", servedVersion: "2", routedByHeader: true, maxScanBytes: 64)
        let stream = request("", "") + request("iris", "2") + request("", "2")
        XCTAssertEqual(feed(&byHeader, stream, chunk: 4).forwarded, stream)
        var byFields = guardFor()
        XCTAssertEqual(feed(&byFields, request("", ""), chunk: 4).dropped, request("", "").count)
    }

    func testCompressedMessagesPassAndUnreadableOnesAreRefused() {
        var g = guardFor()
        let compressed: [UInt8] = [1, 0, 0, 0, 2, 0xaa, 0xbb]
        let unreadable = GRPCFraming.frame([0x08, 0x01])
        let empty = GRPCFraming.frame([])
        let (forwarded, dropped) = feed(&g, compressed + unreadable + empty, chunk: 1)
        XCTAssertEqual(forwarded, compressed)
        XCTAssertEqual(dropped, unreadable.count + empty.count)
        XCTAssertEqual(g.takeAnswers().count, 2)
    }

    func testFieldsBeyondTheScanLimitAreRefusedWithoutHoldingMore() {
        var g = guardFor()
        let long = request(String(repeating: "m", count: 200), "")
        let (forwarded, dropped) = feed(&g, long + request("iris", ""), chunk: 10)
        XCTAssertEqual(forwarded, request("iris", ""))
        XCTAssertEqual(dropped, long.count)
        let answer = try? ModelStreamInferResponse(serializedBytes: Array(g.takeAnswers()[0].dropFirst(5)))
        XCTAssertTrue(answer!.errorMessage.contains("longer than 64 bytes"))
    }

    func testHeldBytesOfAnUndecidedMessage() {
        var g = guardFor()
        XCTAssertEqual(feed(&g, Array(request("iris", "").prefix(4)), chunk: 4).forwarded, [])
        XCTAssertEqual(g.heldBytes, 4)
    }

    func testResponseBoundariesAndDrainAccounting() {
        var g = guardFor()
        let a = GRPCFraming.frame([1, 2, 3]), b = GRPCFraming.frame([]), c = GRPCFraming.frame([9])
        let all = a + b + c
        var ends: [Int] = []
        var base = 0
        for piece in [Array(all[0..<2]), Array(all[2..<9]), Array(all[9...])] {
            ends += piece.withUnsafeBytes { g.responseBoundaries($0) }.map { $0 + base }
            base += piece.count
        }
        XCTAssertEqual(ends, [a.count, a.count + b.count, all.count])
        XCTAssertTrue(g.responseAtBoundary)
        XCTAssertEqual(g.drained(5), 5)
        XCTAssertEqual(g.drained(100), all.count - 5, "never more than the model sent")
        XCTAssertEqual(g.drained(10), 0, "the gateway's own answers are not the model's")
    }

    /// Seeded random streams of accepted, refused, compressed and garbage messages, fed in random
    /// chunks: every byte is forwarded or dropped exactly once, the forwarded bytes are exactly
    /// the accepted messages in order, and each refused one has one answer.
    func testRandomStreamsInRandomChunks() {
        var rng = SplitMix(seed: 15)
        for _ in 0..<300 {
            var stream: [UInt8] = [], expected: [UInt8] = [], refused = 0
            for _ in 0..<Int(rng.next() % 8) {
                let message: [UInt8]
                var accepted = false
                switch rng.next() % 5 {
                case 0: message = request("iris", ["", "2"][Int(rng.next() % 2)], payload: Int(rng.next() % 300)); accepted = true
                case 1: message = request(["wine", "iris"][Int(rng.next() % 2)], "7", payload: Int(rng.next() % 300))
                case 2:
                    let body = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    message = [1] + GRPCFraming.frame(body).dropFirst(); accepted = true  // compressed: unchecked
                case 3: message = GRPCFraming.frame((0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                    accepted = message.withUnsafeBytes {
                        if case .found("iris", let v) = RouteFieldScanner.scan(UnsafeRawBufferPointer(rebasing: $0[5...]),
                                                                              messageLength: message.count - 5) {
                            return v.isEmpty || v == "2"
                        }
                        return false
                    }
                default: message = request(String(repeating: "x", count: 100), "")  // fields beyond the 64-byte scan
                }
                stream += message
                if accepted { expected += message } else { refused += 1 }
            }
            var g = guardFor()
            let (forwarded, dropped) = feed(&g, stream, chunk: 1 + Int(rng.next() % 50))
            XCTAssertEqual(forwarded, expected)
            XCTAssertEqual(forwarded.count + dropped + g.heldBytes, stream.count)
            XCTAssertEqual(g.heldBytes, 0, "every message was whole")
            XCTAssertEqual(g.takeAnswers().count, refused)
        }
    }
}

/// A small seeded generator (SplitMix64), so the random test is the same on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import TestSupport
import XCTest
import GRPC

final class GRPCFramingTests: XCTestCase {
    func testFrameAndPrefix() {
        XCTAssertEqual(GRPCFraming.frame([]), [0, 0, 0, 0, 0])
        XCTAssertEqual(GRPCFraming.frame([0xAA, 0xBB]), [0, 0, 0, 0, 2, 0xAA, 0xBB])
        var out: [UInt8] = []
        GRPCFraming.appendPrefix(to: &out, length: 0x0102_0304, compressed: true)
        XCTAssertEqual(out, [1, 1, 2, 3, 4])
        out = []
        GRPCFraming.appendPrefix(to: &out, length: 300, compressed: false)
        XCTAssertEqual(out, [0, 0, 0, 1, 44])
        XCTAssertEqual(GRPCFraming.frame([UInt8](repeating: 7, count: 70_000)).prefix(5), [0, 0, 1, 0x11, 0x70])
    }

    func testFramingErrorStatuses() {
        XCTAssertEqual(GRPCFramingError.invalidFlag(2).status.code, .invalidArgument)
        XCTAssertEqual(GRPCFramingError.invalidFlag(2).status.message, "invalid gRPC message: compressed flag 2 is neither 0 nor 1")
        XCTAssertEqual(GRPCFramingError.compressedWithoutEncoding.status.code, .invalidArgument)
        XCTAssertEqual(GRPCFramingError.messageTooLarge(length: 11, limit: 10).status,
                       GRPCStatus(.resourceExhausted, "message of 11 bytes is larger than the limit of 10 bytes"))
        XCTAssertEqual(GRPCFramingError.truncated.status.code, .invalidArgument)
    }
}

final class GRPCFrameTrackerTests: XCTestCase {
    private func advance(_ tracker: inout GRPCFrameTracker, _ bytes: [UInt8]) throws(GRPCFramingError) {
        var failure: GRPCFramingError?
        bytes.withUnsafeBytes { raw in
            do { try tracker.advance(over: raw) } catch { failure = error as? GRPCFramingError }
        }
        if let failure { throw failure }
    }

    private func expectError(_ expected: GRPCFramingError, limit: Int = 100, compression: Bool = false, _ bytes: [UInt8],
                             file: StaticString = #filePath, line: UInt = #line) {
        var tracker = GRPCFrameTracker(maxMessageBytes: limit, compressionAllowed: compression)
        do {
            try advance(&tracker, bytes)
            XCTFail("expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error, expected, file: file, line: line)
        }
    }

    func testStartsAtBoundary() {
        let tracker = GRPCFrameTracker(maxMessageBytes: 10, compressionAllowed: false)
        XCTAssertTrue(tracker.atMessageBoundary)
        XCTAssertEqual(tracker.messagesStarted, 0)
    }

    func testPrefixSplitByteByByte() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 100, compressionAllowed: false)
        let framed = GRPCFraming.frame([1, 2, 3]) + GRPCFraming.frame([]) + GRPCFraming.frame([9])
        var boundaries: [Bool] = []
        for byte in framed {
            try advance(&tracker, [byte])
            boundaries.append(tracker.atMessageBoundary)
        }
        // After each byte: 4 prefix bytes pending, prefix done (3 body left), 2 body bytes, the last body byte;
        // then the empty message (boundary right after its prefix); then the [9] message.
        XCTAssertEqual(boundaries, [false, false, false, false, false, false, false, true,
                                    false, false, false, false, true,
                                    false, false, false, false, false, true])
        XCTAssertEqual(tracker.messagesStarted, 3)
    }

    func testManyMessagesInOneCall() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 10, compressionAllowed: false)
        var bytes: [UInt8] = []
        for size in 0...10 { bytes += GRPCFraming.frame([UInt8](repeating: 1, count: size)) }
        try advance(&tracker, bytes)
        XCTAssertEqual(tracker.messagesStarted, 11)
        XCTAssertTrue(tracker.atMessageBoundary)
    }

    func testExactlyTheLimitPassesAndOneMoreThrows() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 1024, compressionAllowed: false)
        try advance(&tracker, GRPCFraming.frame([UInt8](repeating: 0, count: 1024)))
        XCTAssertTrue(tracker.atMessageBoundary)
        expectError(.messageTooLarge(length: 1025, limit: 1024), limit: 1024, [0, 0, 0, 4, 1])
        // The check happens on the prefix alone: no body byte needed.
        expectError(.messageTooLarge(length: Int(UInt32.max), limit: 1024), limit: 1024, [0, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    func testLimitZeroAllowsOnlyEmptyMessages() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 0, compressionAllowed: false)
        try advance(&tracker, [0, 0, 0, 0, 0])
        expectError(.messageTooLarge(length: 1, limit: 0), limit: 0, [0, 0, 0, 0, 1])
    }

    func testFlagValues() throws {
        expectError(.invalidFlag(2), [2, 0, 0, 0, 0])
        expectError(.invalidFlag(0xFF), [0xFF, 0, 0, 0, 0])
        expectError(.compressedWithoutEncoding, [1, 0, 0, 0, 1, 0])
        var tracker = GRPCFrameTracker(maxMessageBytes: 10, compressionAllowed: true)
        try advance(&tracker, [1, 0, 0, 0, 1, 0xAB])
        XCTAssertTrue(tracker.atMessageBoundary)
        // An invalid flag in the second message is caught too.
        expectError(.invalidFlag(3), compression: true, [1, 0, 0, 0, 1, 0xAB, 3, 0, 0, 0, 0])
    }

    func testErrorOnlyAfterTheWholePrefix() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 10, compressionAllowed: false)
        // Flag 2 alone is not yet judged: the prefix is incomplete.
        try advance(&tracker, [2, 0, 0, 0])
        XCTAssertFalse(tracker.atMessageBoundary)
        XCTAssertThrowsError(try advance(&tracker, [0]))
    }

    func testBodySplitAcrossCallsKeepsCounting() throws {
        var tracker = GRPCFrameTracker(maxMessageBytes: 1 << 20, compressionAllowed: false)
        let framed = GRPCFraming.frame(randomBytes(100_000))
        var offset = 0
        var generator = SystemRandomNumberGenerator()
        while offset < framed.count {
            let n = min(framed.count - offset, Int.random(in: 1...9_000, using: &generator))
            try advance(&tracker, Array(framed[offset..<(offset + n)]))
            offset += n
            XCTAssertEqual(tracker.atMessageBoundary, offset == framed.count)
        }
        XCTAssertEqual(tracker.messagesStarted, 1)
    }
}

final class GRPCMessageReaderTests: XCTestCase {
    private func append(_ reader: inout GRPCMessageReader, _ bytes: ArraySlice<UInt8>) throws(GRPCFramingError) {
        var failure: GRPCFramingError?
        Array(bytes).withUnsafeBytes { raw in
            do { try reader.append(raw) } catch { failure = error as? GRPCFramingError }
        }
        if let failure { throw failure }
    }

    func testReassemblesAtEveryPossibleSplit() throws {
        let messages: [[UInt8]] = [[1, 2, 3, 4, 5, 6, 7], [], [0xFF], Array(0..<40)]
        let stream = messages.flatMap(GRPCFraming.frame)
        for split in 0...stream.count {
            var reader = GRPCMessageReader(maxMessageBytes: 100)
            var got: [[UInt8]] = []
            try append(&reader, stream[0..<split])
            got += reader.takeMessages()
            try append(&reader, stream[split...])
            got += reader.takeMessages()
            XCTAssertEqual(got, messages, "split at \(split)")
            XCTAssertTrue(reader.isEmpty)
        }
    }

    func testReassemblesAtEveryPairOfSplits() throws {
        let messages: [[UInt8]] = [[10, 20, 30], [40], []]
        let stream = messages.flatMap(GRPCFraming.frame)
        for first in 0...stream.count {
            for second in first...stream.count {
                var reader = GRPCMessageReader(maxMessageBytes: 100)
                var got: [[UInt8]] = []
                for piece in [stream[0..<first], stream[first..<second], stream[second...]] {
                    try append(&reader, piece)
                    got += reader.takeMessages()
                }
                XCTAssertEqual(got, messages, "splits at \(first), \(second)")
            }
        }
    }

    func testByteByByte() throws {
        let message = randomBytes(3_000)
        let stream = GRPCFraming.frame(message)
        var reader = GRPCMessageReader(maxMessageBytes: 3_000)
        for (index, byte) in stream.enumerated() {
            try append(&reader, [byte])
            let taken = reader.takeMessages()
            if index == stream.count - 1 {
                XCTAssertEqual(taken, [message])
            } else {
                XCTAssertEqual(taken, [])
                XCTAssertFalse(reader.isEmpty)
            }
        }
        XCTAssertTrue(reader.isEmpty)
    }

    func testPartialMessageIsNotReturned() throws {
        var reader = GRPCMessageReader(maxMessageBytes: 100)
        try append(&reader, [0, 0, 0, 0, 3, 1, 2])
        XCTAssertEqual(reader.takeMessages(), [])
        XCTAssertFalse(reader.isEmpty)
        try append(&reader, [3])
        XCTAssertEqual(reader.takeMessages(), [[1, 2, 3]])
    }

    func testErrorsPropagate() {
        var reader = GRPCMessageReader(maxMessageBytes: 4)
        XCTAssertThrowsError(try append(&reader, [0, 0, 0, 0, 5])) { error in
            XCTAssertEqual(error as? GRPCFramingError, .messageTooLarge(length: 5, limit: 4))
        }
        var strict = GRPCMessageReader(maxMessageBytes: 4)
        XCTAssertThrowsError(try append(&strict, [1, 0, 0, 0, 1, 9])) { error in
            XCTAssertEqual(error as? GRPCFramingError, .compressedWithoutEncoding)
        }
        var lenient = GRPCMessageReader(maxMessageBytes: 4, compressionAllowed: true)
        XCTAssertNoThrow(try append(&lenient, [1, 0, 0, 0, 1, 9]))
        XCTAssertEqual(lenient.takeMessages(), [[9]])
    }
}

/// A side that does not decompress names the declared encoding instead of claiming there was none.
final class UnsupportedEncodingTests: XCTestCase {
    func testCompressedMessageWithADeclaredEncodingIsUnimplemented() {
        var reader = GRPCMessageReader(maxMessageBytes: 1024, encoding: "gzip")
        let frame: [UInt8] = [1, 0, 0, 0, 1, 0xff]
        XCTAssertThrowsError(try frame.withUnsafeBytes { try reader.append($0) }) { error in
            XCTAssertEqual(error as? GRPCFramingError, .unsupportedEncoding("gzip"))
            XCTAssertEqual((error as? GRPCFramingError)?.status.code, .unimplemented)
        }
        var bare = GRPCMessageReader(maxMessageBytes: 1024)
        XCTAssertThrowsError(try frame.withUnsafeBytes { try bare.append($0) }) { error in
            XCTAssertEqual(error as? GRPCFramingError, .compressedWithoutEncoding)
        }
    }
}

import TestSupport
import XCTest
import HTTP2

final class ByteQueueTests: XCTestCase {
    private func drain(_ queue: inout ByteQueue, readSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: readSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { queue.read(into: $0) }
            if n == 0 { break }
            XCTAssertLessThanOrEqual(n, readSize)
            out += buffer[0..<n]
        }
        return out
    }

    func testEmptyQueue() {
        var queue = ByteQueue()
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.count, 0)
        var buffer = [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0) }, 0)
        queue.append([])
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0) }, 0)
    }

    func testReadIntoAnEmptyDestinationReadsNothing() {
        var queue = ByteQueue()
        queue.append([1, 2, 3])
        var empty: [UInt8] = []
        XCTAssertEqual(empty.withUnsafeMutableBytes { queue.read(into: $0) }, 0)
        XCTAssertEqual(queue.count, 3)
    }

    func testSizesAroundTheChunkBoundary() {
        let chunk = 64 * 1024
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 1 << 20] {
            let data = randomBytes(size)
            for readSize in [1, 7, chunk - 1, chunk, chunk + 1, 1 << 20] where size <= 70_000 || readSize >= 7 {
                var queue = ByteQueue()
                queue.append(data)
                XCTAssertEqual(queue.count, size)
                XCTAssertEqual(queue.isEmpty, size == 0)
                let out = drain(&queue, readSize: readSize)
                XCTAssertEqual(out.count, size, "size \(size), reads of \(readSize)")
                XCTAssertTrue(out == data, "size \(size), reads of \(readSize): bytes differ")
                XCTAssertEqual(queue.count, 0)
                XCTAssertTrue(queue.isEmpty)
            }
        }
    }

    func testManySmallAppendsThenOneRead() {
        // Appends of every size 0...600 fill the tail chunk, cross into new chunks, and keep order.
        var queue = ByteQueue()
        var expected: [UInt8] = []
        for size in 0...600 {
            let piece = randomBytes(size)
            queue.append(piece)
            expected += piece
            XCTAssertEqual(queue.count, expected.count)
        }
        XCTAssertGreaterThan(expected.count, 64 * 1024 * 2)
        let out = drain(&queue, readSize: 1 << 20)
        XCTAssertTrue(out == expected)
    }

    func testInterleavedAppendsAndReadsPreserveOrder() {
        var generator = SystemRandomNumberGenerator()
        var queue = ByteQueue()
        var expected: [UInt8] = []
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 200_000)
        var total = 0
        while total < (1 << 20) {
            let size = Int.random(in: 0...150_000, using: &generator)
            let piece = randomBytes(size)
            queue.append(piece)
            expected += piece
            total += size
            let want = Int.random(in: 0...buffer.count, using: &generator)
            let n = buffer.withUnsafeMutableBytes { queue.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            XCTAssertEqual(n, min(want, expected.count - received.count))
            received += buffer[0..<n]
            XCTAssertEqual(queue.count, expected.count - received.count)
        }
        received += drain(&queue, readSize: 4096)
        XCTAssertEqual(received.count, expected.count)
        XCTAssertTrue(received == expected)
    }

    /// More than 16 consumed chunks triggers the compaction of consumed chunks.
    func testCompactionAfterManyConsumedChunks() {
        var queue = ByteQueue()
        let data = randomBytes(40 * 64 * 1024 + 123)
        queue.append(data)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024 - 3)
        for _ in 0..<20 {
            let n = buffer.withUnsafeMutableBytes { queue.read(into: $0) }
            out += buffer[0..<n]
        }
        // Appending after compaction must go to the end.
        let tail = randomBytes(70_000)
        queue.append(tail)
        out += drain(&queue, readSize: 10_000)
        XCTAssertTrue(out == data + tail)
    }

    func testRemoveAll() {
        var queue = ByteQueue()
        queue.append(randomBytes(100_000))
        var buffer = [UInt8](repeating: 0, count: 10)
        _ = buffer.withUnsafeMutableBytes { queue.read(into: $0) }
        queue.removeAll()
        XCTAssertEqual(queue.count, 0)
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { queue.read(into: $0) }, 0)
        queue.append([5, 6])
        XCTAssertEqual(drain(&queue, readSize: 10), [5, 6])
    }
}

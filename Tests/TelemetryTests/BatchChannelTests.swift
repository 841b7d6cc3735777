import Foundation
import Telemetry
import XCTest

final class BatchChannelTests: XCTestCase {
    /// Collects what a channel delivers.
    final class Sink: @unchecked Sendable {
        let lock = NSLock()
        var records: [String] = []
        var calls = 0
        func take(_ batches: [[String]]) {
            lock.withLock {
                calls += 1
                for batch in batches { records += batch }
            }
        }
    }

    func testBatchesFromManyThreadsAreDeliveredInOrderPerThreadAndCloseDrains() {
        let sink = Sink()
        let channel = BatchChannel<String>(name: "test", maxPendingBytes: 1 << 30) { batches in
            sink.take(batches)
            return 0
        }
        channel.start()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<500 {
                XCTAssertTrue(channel.submit(["\(thread):\(index)"], count: 1, bytes: 10))
            }
        }
        channel.close()
        XCTAssertEqual(channel.deliveredRecords, 2_000)
        XCTAssertEqual(channel.droppedRecords, 0)
        XCTAssertEqual(sink.records.count, 2_000)
        var last = [Int](repeating: -1, count: 4)
        for record in sink.records {
            let parts = record.split(separator: ":").map { Int($0)! }
            XCTAssertEqual(parts[1], last[parts[0]] + 1, "each thread's batches arrive in order")
            last[parts[0]] = parts[1]
        }
    }

    func testWhenTheWriterFallsBehindBatchesAreDroppedAndCounted() {
        let delivering = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let sink = Sink()
        let channel = BatchChannel<String>(name: "test", maxPendingBytes: 1_000) { batches in
            delivering.signal()
            gate.wait()
            sink.take(batches)
            return 0
        }
        channel.start()
        // The thread takes the first batch and blocks delivering it.
        XCTAssertTrue(channel.submit(["first"], count: 1, bytes: 1_000))
        XCTAssertEqual(delivering.wait(timeout: .now() + 30), .success)
        // Now batches queue up to the bound: ten of 100 bytes, then one is refused.
        var accepted = 0
        while channel.submit(["a", "b", "c"], count: 3, bytes: 100) {
            accepted += 1
            if accepted > 10 { break }
        }
        XCTAssertEqual(accepted, 10, "1,000 bytes may wait")
        XCTAssertEqual(channel.droppedRecords, 3, "the refused batch's records are counted")
        XCTAssertFalse(channel.submit(["d", "e"], count: 2, bytes: 1), "still full")
        XCTAssertEqual(channel.droppedRecords, 5)
        for _ in 0..<20 { gate.signal() }
        channel.close()
        XCTAssertEqual(channel.deliveredRecords, 1 + accepted * 3)
        XCTAssertEqual(sink.records.count, 1 + accepted * 3)
        XCTAssertFalse(channel.submit(["late"], count: 1, bytes: 1), "a closed channel takes nothing")
    }

    func testRecordsTheDeliveryCouldNotWriteAreCountedAsDropped() {
        let channel = BatchChannel<Int>(name: "test", maxPendingBytes: 1 << 20) { batches in
            batches.reduce(0) { $0 + $1.count }
        }
        channel.start()
        channel.submit([1, 2, 3, 4, 5], count: 5, bytes: 5)
        channel.close()
        XCTAssertEqual(channel.droppedRecords, 5)
        XCTAssertEqual(channel.deliveredRecords, 0)
    }
}

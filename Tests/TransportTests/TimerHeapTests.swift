import TestSupport
import XCTest
@testable import Transport

final class TimerHeapTests: XCTestCase {
    /// Schedules `deadlines` and returns the heap and a log the callbacks append their deadline to.
    private func makeHeap(_ deadlines: [UInt64]) -> (TimerHeap, Locked<[UInt64]>, [UInt64]) {
        var heap = TimerHeap()
        let log = Locked<[UInt64]>([])
        var ids: [UInt64] = []
        for deadline in deadlines {
            ids.append(heap.schedule(deadline: deadline) { log.withLock { $0.append(deadline) } })
        }
        return (heap, log, ids)
    }

    func testEmptyHeap() {
        var heap = TimerHeap()
        XCTAssertEqual(heap.count, 0)
        XCTAssertNil(heap.nextDeadline())
        XCTAssertTrue(heap.popDue(now: .max).isEmpty)
    }

    func testIdsAreUniqueAndIncreasing() {
        var heap = TimerHeap()
        let ids = (0..<100).map { _ in heap.schedule(deadline: 5) {} }
        XCTAssertEqual(ids, Array(1...100).map(UInt64.init))
        XCTAssertEqual(heap.count, 100)
    }

    func testPopDueReturnsCallbacksInDeadlineOrder() {
        var (heap, log, _) = makeHeap([50, 10, 40, 20, 30, 0, 60])
        XCTAssertEqual(heap.nextDeadline(), 0)
        for callback in heap.popDue(now: 1_000) { callback() }
        XCTAssertEqual(log.current, [0, 10, 20, 30, 40, 50, 60])
        XCTAssertEqual(heap.count, 0)
        XCTAssertNil(heap.nextDeadline())
    }

    func testPopDueBoundaryIsInclusive() {
        var (heap, log, _) = makeHeap([100, 99, 101])
        let due = heap.popDue(now: 100)
        XCTAssertEqual(due.count, 2, "deadlines 99 and 100 are due at 100, 101 is not")
        due.forEach { $0() }
        XCTAssertEqual(log.current, [99, 100])
        XCTAssertEqual(heap.count, 1)
        XCTAssertEqual(heap.nextDeadline(), 101)
        XCTAssertTrue(heap.popDue(now: 100).isEmpty, "popping twice at the same time yields nothing new")
        heap.popDue(now: 101).forEach { $0() }
        XCTAssertEqual(log.current, [99, 100, 101])
    }

    func testPopDueBeforeEveryDeadlineReturnsNothing() {
        var (heap, _, _) = makeHeap([10, 20])
        XCTAssertTrue(heap.popDue(now: 9).isEmpty)
        XCTAssertEqual(heap.count, 2)
    }

    func testCancelledTimerNeverFires() {
        var (heap, log, ids) = makeHeap([10, 20, 30])
        heap.cancel(ids[1])
        XCTAssertEqual(heap.count, 2)
        heap.popDue(now: 100).forEach { $0() }
        XCTAssertEqual(log.current, [10, 30])
    }

    func testNextDeadlineSkipsCancelledTop() {
        var (heap, _, ids) = makeHeap([10, 20, 30])
        heap.cancel(ids[0])
        XCTAssertEqual(heap.nextDeadline(), 20)
        heap.cancel(ids[1])
        heap.cancel(ids[2])
        XCTAssertNil(heap.nextDeadline())
        XCTAssertEqual(heap.count, 0)
    }

    func testCancelAfterFiringAndUnknownIdsAreNoOps() {
        var (heap, log, ids) = makeHeap([10, 20])
        heap.popDue(now: 10).forEach { $0() }
        heap.cancel(ids[0])       // already fired
        heap.cancel(12345)        // never existed
        XCTAssertEqual(heap.count, 1)
        heap.popDue(now: 20).forEach { $0() }
        XCTAssertEqual(log.current, [10, 20])
    }

    func testEqualDeadlinesAllFire() {
        var (heap, log, _) = makeHeap(Array(repeating: 7, count: 25))
        let due = heap.popDue(now: 7)
        XCTAssertEqual(due.count, 25)
        due.forEach { $0() }
        XCTAssertEqual(log.current.count, 25)
    }

    /// A thousand random timers with random cancellations against a sorted reference.
    func testRandomScheduleAndCancelMatchesReference() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            var heap = TimerHeap()
            let log = Locked<[UInt64]>([])
            var live: [UInt64: UInt64] = [:]   // id -> deadline
            for _ in 0..<1_000 {
                let deadline = UInt64.random(in: 0..<10_000, using: &generator)
                let id = heap.schedule(deadline: deadline) { log.withLock { $0.append(deadline) } }
                live[id] = deadline
                if Bool.random(using: &generator), let victim = live.keys.randomElement(using: &generator) {
                    heap.cancel(victim)
                    live[victim] = nil
                }
            }
            XCTAssertEqual(heap.count, live.count)
            XCTAssertEqual(heap.nextDeadline(), live.values.min())
            // Pop in three rounds; each round yields exactly the live deadlines <= now, in order.
            var expected = live.values.sorted()
            for now in [UInt64(2_500), 6_000, 10_000] {
                let before = log.current.count
                heap.popDue(now: now).forEach { $0() }
                let fired = Array(log.current[before...])
                let due = expected.prefix { $0 <= now }
                XCTAssertEqual(fired, Array(due))
                expected.removeFirst(due.count)
            }
            XCTAssertEqual(heap.count, 0)
        }
    }
}

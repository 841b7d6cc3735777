import Reconciler
import XCTest

/// The pure work queue: every event with explicit instants, no workers, no clock.
final class WorkQueueTests: XCTestCase {
    private let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
    private let start = ContinuousClock.now

    func testAKeyQueuedTwiceIsHandedOutOnce() {
        var queue = WorkQueue<String>(backoff: backoff)
        XCTAssertTrue(queue.add("a"))
        XCTAssertFalse(queue.add("a"), "already queued")
        XCTAssertTrue(queue.add("b"))
        XCTAssertEqual(queue.readyCount, 2)
        XCTAssertEqual(queue.get(), "a")
        XCTAssertEqual(queue.get(), "b")
        XCTAssertNil(queue.get())
    }

    func testAKeyReAddedWhileProcessingIsHandedOutAgainOnlyAfterDone() {
        var queue = WorkQueue<String>(backoff: backoff)
        queue.add("a")
        XCTAssertEqual(queue.get(), "a")
        XCTAssertTrue(queue.isProcessing("a"))
        XCTAssertFalse(queue.add("a"), "not ready while a worker holds it")
        XCTAssertFalse(queue.add("a"))
        XCTAssertNil(queue.get(), "never handed to a second worker")
        XCTAssertTrue(queue.done("a"), "re-added meanwhile: ready again")
        XCTAssertEqual(queue.get(), "a")
        XCTAssertFalse(queue.done("a"), "not re-added: finished")
        XCTAssertNil(queue.get())
    }

    func testRateLimitedRequeueBacksOffExponentiallyAndResetsOnForget() {
        var queue = WorkQueue<String>(backoff: backoff)
        queue.add("a")
        var delays: [Duration] = []
        var now = start
        for _ in 0..<5 {
            XCTAssertEqual(queue.get(), "a")
            let delay = queue.addRateLimited("a", now: now)
            delays.append(delay)
            queue.done("a")
            XCTAssertTrue(queue.isBackingOff("a"))
            XCTAssertEqual(queue.nextDeadline, now + delay)
            XCTAssertEqual(queue.promoteDue(now: now + delay - .milliseconds(1)), 0, "not before its deadline")
            XCTAssertNil(queue.get())
            now = now + delay
            XCTAssertEqual(queue.promoteDue(now: now), 1)
        }
        XCTAssertEqual(delays, [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1)])
        XCTAssertEqual(queue.failureCount("a"), 5)
        XCTAssertEqual(queue.get(), "a")
        queue.forget("a")
        queue.done("a")
        XCTAssertEqual(queue.failureCount("a"), 0)
        XCTAssertFalse(queue.isBackingOff("a"))
        XCTAssertEqual(queue.nextRetryDelay("a"), .milliseconds(100), "a success starts the backoff over")
    }

    func testAddAfterParksUntilTheEarliestDeadline() {
        var queue = WorkQueue<String>(backoff: backoff)
        queue.addAfter("a", .seconds(5), now: start)
        queue.addAfter("a", .seconds(2), now: start)
        queue.addAfter("a", .seconds(9), now: start)
        XCTAssertEqual(queue.nextDeadline, start + .seconds(2), "the earliest deadline wins")
        XCTAssertNil(queue.get())
        XCTAssertFalse(queue.isBackingOff("a"), "parked, but not after a failure")
        XCTAssertEqual(queue.promoteDue(now: start + .seconds(2)), 1)
        XCTAssertNil(queue.nextDeadline)
        XCTAssertEqual(queue.get(), "a")

        XCTAssertTrue(queue.addAfter("b", .zero, now: start), "no delay: ready at once")
        XCTAssertEqual(queue.get(), "b")
    }

    func testAParkedKeyAddedMeanwhileIsHandedOutOnce() {
        var queue = WorkQueue<String>(backoff: backoff)
        queue.addAfter("a", .seconds(1), now: start)
        queue.add("a")
        XCTAssertEqual(queue.promoteDue(now: start + .seconds(1)), 0, "already queued")
        XCTAssertEqual(queue.get(), "a")
        XCTAssertNil(queue.get())
    }

    func testShutDownDropsQueuedAndParkedKeysAndRefusesNewOnes() {
        var queue = WorkQueue<String>(backoff: backoff)
        queue.add("a")
        queue.add("b")
        queue.addAfter("c", .seconds(1), now: start)
        XCTAssertEqual(queue.get(), "a")
        queue.add("a")
        queue.shutDown()
        XCTAssertTrue(queue.isShutDown)
        XCTAssertNil(queue.get())
        XCTAssertFalse(queue.done("a"), "a key held at shutdown is not handed out again")
        XCTAssertFalse(queue.add("d"))
        XCTAssertNil(queue.nextDeadline)
        XCTAssertEqual(queue.promoteDue(now: start + .seconds(2)), 0)
        XCTAssertNil(queue.get())
    }
}

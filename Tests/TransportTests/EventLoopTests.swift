#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import XCTest
@testable import Transport

private final class FlushCounter: Flushable {
    var isMarkedDirty = false
    var flushes = 0
    var onFlush: (() -> Void)?
    func flush() {
        flushes += 1
        onFlush?()
    }
}

private final class ReadableHandler: EventHandler {
    let fd: Int32
    var received: [UInt8] = []
    var calls = 0
    let gotData = DispatchSemaphore(value: 0)
    init(fd: Int32) { self.fd = fd }
    func handleEvents(_ events: UInt32) {
        calls += 1
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        if n > 0 {
            received += buffer[0..<n]
            gotData.signal()
        }
    }
}

final class EventLoopTests: XCTestCase {
    func testStopReturnsRunFromAnotherThread() throws {
        let thread = try LoopThread()
        // The loop is idle in epoll_wait with no timers: stop() must wake it.
        usleep(20_000)
        XCTAssertTrue(thread.stop(timeout: 2), "run() did not return after stop()")
    }

    func testStopBeforeRunMakesRunReturnImmediately() throws {
        let loop = try EventLoop(name: "early-stop")
        loop.stop()
        let start = monotonicNanos()
        loop.run()
        XCTAssertLessThan(monotonicNanos() - start, 1_000_000_000)
    }

    func testTimersFireInDeadlineOrderOnTheLoopThread() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let fired = Locked<[Int]>([])
        let wrongThread = Locked(0)
        let done = DispatchSemaphore(value: 0)
        let start = monotonicNanos()
        let elapsed = Locked<[Int: UInt64]>([:])
        thread.loop.execute {
            for ms in [40, 10, 30, 0, 20] {
                thread.loop.schedule(afterNanos: UInt64(ms) * 1_000_000) {
                    if !thread.isOnLoopThread { wrongThread.withLock { $0 += 1 } }
                    elapsed.withLock { $0[ms] = monotonicNanos() - start }
                    fired.withLock { $0.append(ms) }
                    if ms == 40 { done.signal() }
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(fired.current, [0, 10, 20, 30, 40])
        XCTAssertEqual(wrongThread.current, 0)
        for (ms, nanos) in elapsed.current {
            XCTAssertGreaterThanOrEqual(nanos, UInt64(ms) * 1_000_000, "timer \(ms) ms fired early")
        }
    }

    func testCancelTimerPreventsFiring() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let cancelledFired = Locked(false)
        let done = DispatchSemaphore(value: 0)
        thread.loop.execute {
            let id = thread.loop.schedule(afterNanos: 10_000_000) { cancelledFired.withLock { $0 = true } }
            thread.loop.schedule(afterNanos: 60_000_000) { done.signal() }
            thread.loop.cancelTimer(id)
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertFalse(cancelledFired.current)
    }

    /// A timer cancelled by another timer's callback must not fire, even when both became due
    /// in the same loop iteration (e.g. a deadline timer cancelled by a connect-timeout timer).
    func testTimerCancelledByAnEarlierTimerInTheSameIterationDoesNotFire() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let secondFired = Locked(false)
        let done = DispatchSemaphore(value: 0)
        thread.loop.execute {
            var second: UInt64 = 0
            // Both deadlines pass while this task still runs, so one popDue returns both.
            thread.loop.schedule(afterNanos: 1_000) { thread.loop.cancelTimer(second) }
            second = thread.loop.schedule(afterNanos: 2_000) { secondFired.withLock { $0 = true } }
            usleep(5_000)
            thread.loop.schedule(afterNanos: 30_000_000) { done.signal() }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertFalse(secondFired.current, "cancelTimer() from a timer callback did not stop a timer due in the same iteration")
    }

    /// `schedule(afterNanos:)` with a huge delay (e.g. from grpc-timeout "99999999H", which parses
    /// to UInt64.max) must mean "never", not wrap around to a deadline in the past.
    func testHugeDelayDoesNotWrapAroundAndFireImmediately() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let fired = Locked<[String]>([])
        let done = DispatchSemaphore(value: 0)
        thread.loop.execute {
            thread.loop.schedule(afterNanos: .max) { fired.withLock { $0.append("max") } }
            thread.loop.schedule(afterNanos: .max - monotonicNanos() / 2) { fired.withLock { $0.append("max-now/2") } }
            thread.loop.schedule(afterNanos: 50_000_000) { done.signal() }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(fired.current, [], "timers with (near) UInt64.max delays fired within 50 ms")
    }

    func testExecuteFromFourThreadsRunsEveryTaskExactlyOnceOnTheLoop() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let perThread = 2_500
        final class Tally: @unchecked Sendable {   // touched only on the loop thread
            var counts = [Int](repeating: 0, count: 10_000)
            var offLoop = 0
        }
        let tally = Tally()
        let group = DispatchGroup()
        for t in 0..<4 {
            group.enter()
            Thread {
                for i in 0..<perThread {
                    let index = t * perThread + i
                    thread.loop.execute {
                        if !thread.isOnLoopThread { tally.offLoop += 1 }
                        tally.counts[index] += 1
                    }
                }
                group.leave()
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        // Everything submitted before this task has run once this task runs (FIFO queue).
        let snapshot = thread.sync { (tally.counts, tally.offLoop) }
        XCTAssertEqual(snapshot.1, 0)
        XCTAssertEqual(snapshot.0.count, 10_000)
        XCTAssertEqual(snapshot.0.filter { $0 == 1 }.count, 10_000, "some task ran zero or several times")
    }

    func testExecutePreservesSubmissionOrderFromOneThread() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        var order: [Int] = []
        for i in 0..<1_000 { thread.loop.execute { order.append(i) } }
        XCTAssertEqual(thread.sync { order }, Array(0..<1_000))
    }

    func testTasksQueuedBeforeStopStillRun() throws {
        let loop = try EventLoop(name: "drain")
        var ran = 0
        for _ in 0..<100 { loop.execute { ran += 1 } }
        loop.stop()
        loop.run()
        XCTAssertEqual(ran, 100)
    }

    func testMarkDirtyCoalescesFlushesWithinOneIteration() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let counter = FlushCounter()
        let other = FlushCounter()
        thread.sync {
            for _ in 0..<5 { thread.loop.markDirty(counter) }
            thread.loop.markDirty(other)
        }
        // The flush happens at the end of the iteration that ran the task.
        XCTAssertEqual(thread.sync { counter.flushes }, 1)
        XCTAssertEqual(thread.sync { other.flushes }, 1)
        thread.sync { thread.loop.markDirty(counter) }
        XCTAssertEqual(thread.sync { counter.flushes }, 2)
        XCTAssertEqual(thread.sync { other.flushes }, 1, "an object not marked again is not flushed again")
    }

    func testMarkDirtyDuringFlushFlushesAgainInTheSameIteration() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let counter = FlushCounter()
        counter.onFlush = { [unowned counter] in
            if counter.flushes < 3 { thread.loop.markDirty(counter) }
        }
        thread.sync { thread.loop.markDirty(counter) }
        XCTAssertEqual(thread.sync { counter.flushes }, 3)
    }

    func testNowIsMonotonicAndCloseToTheClock() throws {
        let thread = try LoopThread()
        defer { thread.stop() }
        let first = thread.sync { thread.loop.now }
        usleep(10_000)
        let (second, clock) = thread.sync { (thread.loop.now, monotonicNanos()) }
        XCTAssertGreaterThanOrEqual(second - first, 10_000_000)
        XCTAssertLessThanOrEqual(second, clock)
        XCTAssertLessThan(clock - second, 1_000_000_000)
    }

    func testRegisteredHandlerIsCalledOnReadabilityAndNotAfterUnregister() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let flags = fcntl(fds[0], F_GETFL)
        _ = fcntl(fds[0], F_SETFL, flags | O_NONBLOCK)
        let thread = try LoopThread()
        defer { thread.stop() }
        let handler = ReadableHandler(fd: fds[0])
        XCTAssertNoThrow(try thread.sync { Result { try thread.loop.register(fd: fds[0], events: IOEvents.readable, handler: handler) } }.get())
        var bytes: [UInt8] = [1, 2, 3]
        XCTAssertEqual(write(fds[1], &bytes, 3), 3)
        XCTAssertEqual(handler.gotData.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(thread.sync { handler.received }, [1, 2, 3])
        thread.sync { thread.loop.unregister(fd: fds[0]) }
        let callsBefore = thread.sync { handler.calls }
        XCTAssertEqual(write(fds[1], &bytes, 3), 3)
        usleep(50_000)
        XCTAssertEqual(thread.sync { handler.calls }, callsBefore)
    }

    func testRegisteringTheSameFDTwiceThrows() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let loop = try EventLoop(name: "twice")
        let handler = ReadableHandler(fd: fds[0])
        try loop.register(fd: fds[0], events: IOEvents.readable, handler: handler)
        XCTAssertThrowsError(try loop.register(fd: fds[0], events: IOEvents.readable, handler: handler)) { error in
            XCTAssertEqual((error as? SystemError)?.code, EEXIST)
        }
        loop.unregister(fd: fds[0])
    }

    /// A failed second `register` of an fd (EEXIST) must not drop the handler of the first one.
    func testFailedDuplicateRegisterKeepsTheExistingHandler() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let thread = try LoopThread()
        defer { thread.stop() }
        let first = ReadableHandler(fd: fds[0])
        let second = ReadableHandler(fd: fds[0])
        let secondFailed = thread.sync { () -> Bool in
            _ = try? thread.loop.register(fd: fds[0], events: IOEvents.readable, handler: first)
            do { try thread.loop.register(fd: fds[0], events: IOEvents.readable, handler: second) } catch { return true }
            return false
        }
        XCTAssertTrue(secondFailed)
        var bytes: [UInt8] = [9]
        XCTAssertEqual(write(fds[1], &bytes, 1), 1)
        XCTAssertEqual(first.gotData.wait(timeout: .now() + 1), .success,
                       "the first handler no longer hears its fd after a failed duplicate register")
        thread.sync { thread.loop.unregister(fd: fds[0]) }
    }

    /// Two readable pipes in one `epoll_wait` batch: whichever handler runs first closes the
    /// other's fd and registers a fresh, never-written pipe under the same number. The other
    /// event of the batch is stale: it must reach neither the fresh handler (bare-fd keys would
    /// deliver it there) nor the unregistered one.
    func testStaleEventForAReusedFDReachesNobody() throws {
        let loop = try EventLoop(name: "reuse")
        let fresh = CountingHandler()
        let pipes = try (0..<2).map { _ in try makePipe() }
        defer { for p in pipes { close(p.write) } }
        let handlers = pipes.map { FDSwapper(fd: $0.read) }
        var swapped = false
        for (index, handler) in handlers.enumerated() {
            let other = handlers[1 - index]
            handler.onEvent = {
                guard !swapped else { return }
                swapped = true
                loop.unregister(fd: other.fd)
                close(other.fd)
                // A new socket under the closed number, as accept() would hand out next.
                guard let replacement = try? makePipe() else { return XCTFail("pipe") }
                if replacement.read != other.fd {
                    XCTAssertEqual(dup2(replacement.read, other.fd), other.fd)
                    close(replacement.read)
                }
                other.replacementWrite = replacement.write
                do { try loop.register(fd: other.fd, events: IOEvents.readable, handler: fresh) } catch {
                    XCTFail("register: \(error)")
                }
                loop.stop()
            }
            try loop.register(fd: handler.fd, events: IOEvents.readable, handler: handler)
        }
        var byte: UInt8 = 1
        for p in pipes { XCTAssertEqual(write(p.write, &byte, 1), 1) }
        loop.run()
        XCTAssertTrue(swapped)
        XCTAssertEqual(handlers.map(\.calls).reduce(0, +), 1, "only the first event of the batch is live")
        XCTAssertEqual(fresh.calls, 0, "the stale event reached the fd's new handler")
        for handler in handlers {
            loop.unregister(fd: handler.fd)
            close(handler.fd)
            if let w = handler.replacementWrite { close(w) }
        }
    }

    func testRegistrationTokenRoundTripsAndOnlyTheCurrentOneDispatches() throws {
        let loop = try EventLoop(name: "tokens")
        let handler = CountingHandler()
        let p = try makePipe()
        defer { close(p.read); close(p.write) }
        let first = try loop.register(fd: p.read, events: IOEvents.readable, handler: handler)
        XCTAssertEqual(EventRegistration(token: first.token), first)
        loop.unregister(fd: p.read)
        let second = try loop.register(fd: p.read, events: IOEvents.readable, handler: handler)
        XCTAssertEqual(second.fd, first.fd)
        XCTAssertNotEqual(second.id, first.id)
        XCTAssertEqual(loop.registration(of: p.read), second)
        XCTAssertFalse(loop.dispatch(token: first.token, events: IOEvents.readable))
        XCTAssertEqual(handler.calls, 0)
        XCTAssertTrue(loop.dispatch(token: second.token, events: IOEvents.readable))
        XCTAssertEqual(handler.calls, 1)
        // Unregistering a replaced registration leaves the current one alone.
        loop.unregister(first)
        XCTAssertEqual(loop.registration(of: p.read), second)
        loop.unregister(second)
        XCTAssertNil(loop.registration(of: p.read))
    }
}

private final class CountingHandler: EventHandler {
    var calls = 0
    func handleEvents(_ events: UInt32) { calls += 1 }
}

/// Reads nothing: the test only counts which handler each event reaches.
private final class FDSwapper: EventHandler {
    let fd: Int32
    var calls = 0
    var onEvent: (() -> Void)?
    var replacementWrite: Int32?
    init(fd: Int32) { self.fd = fd }
    func handleEvents(_ events: UInt32) {
        calls += 1
        onEvent?()
    }
}

private func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw SystemError("pipe", code: errno) }
    return (fds[0], fds[1])
}

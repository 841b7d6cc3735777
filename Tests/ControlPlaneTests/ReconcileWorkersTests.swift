import Foundation
import Reconciler
import XCTest

/// The workers over the queue, with a scripted handler: gates instead of sleeps.
final class ReconcileWorkersTests: XCTestCase {
    private let backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))

    func testAKeyIsNeverHandledByTwoWorkersAndAReAddIsHandledAfter() async {
        let script = HandlerScript()
        await script.closeGate("a")
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 3) { key in await script.handle(key) }
        await workers.add(["a"])
        await eventually("a is being handled") { await script.waiting("a") == 1 }
        // Re-added (twice) while held: no second worker takes it; another key is not held up.
        await workers.add(["a"])
        await workers.add(["a"])
        await workers.process(["b"])
        let handledB = await script.count("b")
        XCTAssertEqual(handledB, 1, "b is handled while a is held")
        let waitingA = await script.waiting("a")
        XCTAssertEqual(waitingA, 1, "a is not handed to a second worker")
        await script.openGate("a")
        await eventually("a handled again after the re-add") { await script.count("a") == 2 }
        await workers.process(["c"])
        let handledA = await script.count("a")
        let most = await script.maxConcurrent("a")
        XCTAssertEqual(handledA, 2, "the re-adds while held coalesce into one more run")
        XCTAssertEqual(most, 1)
        await workers.shutDown()
    }

    func testAKeyQueuedTwiceBeforeAWorkerTakesItIsHandledOnce() async {
        let script = HandlerScript()
        await script.closeGate("block")
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 1) { key in await script.handle(key) }
        await workers.add(["block"])
        await eventually("the only worker is busy") { await script.waiting("block") == 1 }
        await workers.add(["a", "a", "b", "a"])
        await script.openGate("block")
        await workers.process(["b"])
        let handledA = await script.count("a")
        XCTAssertEqual(handledA, 1)
        await workers.shutDown()
    }

    func testRetryableErrorsBackOffPerKeyAndASuccessResetsTheCount() async {
        let script = HandlerScript()
        await script.setOutcomes("a", Array(repeating: .error(ReconcileError(.runtimeUnavailable, "down")), count: 3) + [.done])
        await script.closeGate("a")
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 2) { key in await script.handle(key) }
        await workers.add(["a"])
        var delays: [Duration] = []
        for run in 1...3 {
            await eventually("run \(run) waits at the gate") { await script.waiting("a") == 1 }
            delays.append(await workers.nextRetryDelay("a"))
            await script.releaseOne("a")
            // The failed run parks the key for its backoff; the timer brings it back to the gate.
            await eventually("run \(run + 1) after the backoff") {
                let waiting = await script.waiting("a")
                let count = await script.count("a")
                return waiting == 1 && count == run
            }
            let failures = await workers.failureCount("a")
            XCTAssertEqual(failures, run)
        }
        XCTAssertEqual(delays, [.milliseconds(20), .milliseconds(40), .milliseconds(80)], "each failure waits twice as long")
        await script.openGate("a")
        await eventually("the success forgets the failures") { await workers.failureCount("a") == 0 }
        let delay = await workers.nextRetryDelay("a")
        let count = await script.count("a")
        XCTAssertEqual(delay, .milliseconds(20))
        XCTAssertEqual(count, 4)
        await workers.shutDown()
    }

    func testTerminalErrorIsNotRetried() async {
        let script = HandlerScript()
        await script.setOutcomes("a", [.error(ReconcileError(.invalidSpec, "no image"))])
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 2) { key in await script.handle(key) }
        await workers.process(["a"])
        let failures = await workers.failureCount("a")
        let parked = await workers.nextDeadline
        XCTAssertEqual(failures, 0)
        XCTAssertNil(parked, "nothing parked for a retry")
        await workers.shutDown()
        let count = await script.count("a")
        XCTAssertEqual(count, 1)
    }

    func testRequeueAfterRunsTheKeyAgainWithoutCountingAFailure() async {
        let script = HandlerScript()
        await script.setOutcomes("a", [.requeue(after: .milliseconds(30)), .done])
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 2) { key in await script.handle(key) }
        await workers.process(["a"])
        let parked = await workers.nextDeadline
        let failures = await workers.failureCount("a")
        XCTAssertNotNil(parked, "parked until the requeue delay passes")
        XCTAssertEqual(failures, 0)
        await eventually("handled again after the delay") { await script.count("a") == 2 }
        await eventually("nothing parked after done") { await workers.nextDeadline == nil }
        await workers.shutDown()
    }

    func testShutDownWaitsForHeldKeysDropsQueuedOnesAndReleasesWaiters() async {
        let script = HandlerScript()
        await script.closeGate("a")
        let workers = ReconcileWorkers<String>(backoff: backoff)
        await workers.start(workers: 1) { key in await script.handle(key) }
        await workers.add(["a"])
        await eventually("a is held") { await script.waiting("a") == 1 }
        let released = FinishedProbe()
        Task {
            await workers.process(["b"])
            released.mark()
        }
        await eventually("b is queued behind a") { await workers.readyCount == 1 }
        let shutDown = Task { await workers.shutDown() }
        await eventually("shutdown releases the waiter of a queued key") { released.isMarked }
        let held = await script.waiting("a")
        XCTAssertEqual(held, 1, "shutdown waits for the held key")
        await script.openGate("a")
        await shutDown.value
        await workers.process(["c"])
        await workers.add(["d"])
        let handled = await script.handledKeys
        XCTAssertEqual(handled, ["a"], "queued keys are dropped; nothing runs after shutdown")
    }
}

/// Flags set by one task and read by another.
private final class FinishedProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var marked = false

    func mark() { lock.withLock { marked = true } }

    var isMarked: Bool { lock.withLock { marked } }
}

/// A scripted reconcile handler: per-key outcomes, gates that hold a key, and counts.
private actor HandlerScript {
    private var outcomes: [String: [ReconcileOutcome]] = [:]
    private var gates: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var running: [String: Int] = [:]
    private var most: [String: Int] = [:]
    private(set) var handledKeys: [String] = []

    func setOutcomes(_ key: String, _ list: [ReconcileOutcome]) { outcomes[key] = list }

    func closeGate(_ key: String) { gates.insert(key) }

    func openGate(_ key: String) {
        gates.remove(key)
        for waiter in waiters.removeValue(forKey: key) ?? [] { waiter.resume() }
    }

    /// Lets the runs of `key` waiting now go on; the gate stays closed for later runs.
    func releaseOne(_ key: String) {
        for waiter in waiters.removeValue(forKey: key) ?? [] { waiter.resume() }
    }

    func waiting(_ key: String) -> Int { waiters[key]?.count ?? 0 }

    func count(_ key: String) -> Int { handledKeys.filter { $0 == key }.count }

    func maxConcurrent(_ key: String) -> Int { most[key] ?? 0 }

    func handle(_ key: String) async -> ReconcileOutcome {
        running[key, default: 0] += 1
        most[key] = max(most[key] ?? 0, running[key]!)
        if gates.contains(key) {
            await withCheckedContinuation { waiters[key, default: []].append($0) }
        }
        running[key]! -= 1
        handledKeys.append(key)
        guard var list = outcomes[key], !list.isEmpty else { return .done }
        let outcome = list.removeFirst()
        outcomes[key] = list
        return outcome
    }
}

/// A fixed number of workers taking keys from a `WorkQueue` and reconciling them
/// (controller-runtime's controller: `processNextWorkItem` + `reconcileHandler`).
///
/// Each worker takes a key, awaits the handler, then requeues the key as the outcome asks:
/// `done` forgets its failures, `requeue(after:)` forgets them and parks the key, a retryable
/// error parks it for its backoff, a terminal one forgets it. One timer, re-armed after every
/// change, queues parked keys when their deadline passes. A key is never handled by two
/// workers at once, so a slow key holds one worker, never the others' keys.
public actor ReconcileWorkers<Key: Hashable & Sendable> {
    public typealias Handler = @Sendable (Key) async -> ReconcileOutcome

    private var queue: WorkQueue<Key>
    private var handler: Handler?
    private var workers: [Task<Void, Never>] = []
    /// Workers waiting for a key.
    private var idle: [CheckedContinuation<Key?, Never>] = []
    /// `process` callers, by the keys they wait for: `waiting` until a worker takes the key,
    /// then `taken` until it finishes.
    private var waiting: [Key: [Waiter]] = [:]
    private var taken: [Key: [Waiter]] = [:]
    private var timer: Task<Void, Never>?
    private var timerDeadline: ContinuousClock.Instant?

    /// Keys handled so far (every outcome).
    public private(set) var handledCount = 0

    public init(backoff: Backoff) {
        queue = WorkQueue(backoff: backoff)
    }

    /// Starts `count` workers running `handler` (once; later calls do nothing).
    public func start(workers count: Int, handler: @escaping Handler) {
        guard workers.isEmpty, !queue.isShutDown else { return }
        self.handler = handler
        workers = (0..<max(1, count)).map { _ in Task { await self.runWorker() } }
    }

    /// Queues `keys` (each once, however often it is added).
    public func add(_ keys: [Key]) {
        for key in keys { queue.add(key) }
        wakeIdle()
    }

    /// The keys of `keys` not waiting out a failure backoff (what a resync queues: level-triggered,
    /// without hurrying a failing key's retries).
    public func notBackingOff(_ keys: [Key]) -> [Key] {
        keys.filter { !queue.isBackingOff($0) }
    }

    /// Queues `key` after `delay`.
    public func add(_ key: Key, after delay: Duration) {
        queue.addAfter(key, delay, now: .now)
        wakeIdle()
        armTimer()
    }

    /// Queues `keys` and returns once a worker has handled each of them after this call (or
    /// the workers shut down).
    public func process(_ keys: [Key]) async {
        guard !queue.isShutDown, !keys.isEmpty else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiter = Waiter(remaining: Set(keys).count, continuation: continuation)
            for key in Set(keys) {
                waiting[key, default: []].append(waiter)
                queue.add(key)
            }
            wakeIdle()
        }
    }

    /// The delay a failure of `key` now would be retried after (for status messages).
    public func nextRetryDelay(_ key: Key) -> Duration { queue.nextRetryDelay(key) }

    /// Consecutive failures of `key`.
    public func failureCount(_ key: Key) -> Int { queue.failureCount(key) }

    /// Keys queued and not yet taken by a worker.
    public var readyCount: Int { queue.readyCount }

    /// When the earliest parked key (a retry or a requeue) becomes due.
    public var nextDeadline: ContinuousClock.Instant? { queue.nextDeadline }

    /// Stops: queued keys are dropped, workers finish the key they hold, then this returns.
    public func shutDown() async {
        queue.shutDown()
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        for worker in idle { worker.resume(returning: nil) }
        idle.removeAll()
        for waiter in waiting.values.joined() { waiter.resume() }
        waiting.removeAll()
        let running = workers
        for worker in running { await worker.value }
        for waiter in taken.values.joined() { waiter.resume() }
        taken.removeAll()
        handler = nil
    }

    // MARK: - Workers

    private func runWorker() async {
        while let key = await nextKey() {
            let outcome = await handler?(key) ?? .done
            finish(key, outcome)
        }
    }

    private func nextKey() async -> Key? {
        if let key = take() { return key }
        if queue.isShutDown { return nil }
        return await withCheckedContinuation { idle.append($0) }
    }

    /// Hands out the next ready key, moving its waiters from `waiting` to `taken`.
    private func take() -> Key? {
        guard let key = queue.get() else { return nil }
        if let waiters = waiting.removeValue(forKey: key) { taken[key, default: []] += waiters }
        return key
    }

    private func finish(_ key: Key, _ outcome: ReconcileOutcome) {
        handledCount += 1
        let now = ContinuousClock.now
        switch outcome {
        case .done:
            queue.forget(key)
        case .requeue(let delay):
            queue.forget(key)
            queue.addAfter(key, delay, now: now)
        case .error(let error) where error.isTerminal:
            queue.forget(key)
        case .error:
            queue.addRateLimited(key, now: now)
        }
        queue.done(key)
        for waiter in taken.removeValue(forKey: key) ?? [] { waiter.keyHandled() }
        wakeIdle()
        armTimer()
    }

    private func wakeIdle() {
        while !idle.isEmpty, let key = take() {
            idle.removeFirst().resume(returning: key)
        }
    }

    // MARK: - Timer

    /// Keeps one timer for the earliest parked key.
    private func armTimer() {
        let deadline = queue.nextDeadline
        guard deadline != timerDeadline else { return }
        timer?.cancel()
        timer = nil
        timerDeadline = deadline
        guard let deadline, !queue.isShutDown else { return }
        timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            if !Task.isCancelled { self.timerFired() }
        }
    }

    private func timerFired() {
        timerDeadline = nil
        timer = nil
        queue.promoteDue(now: .now)
        wakeIdle()
        armTimer()
    }
}

/// One `process` call: resumed when every key it waits for was handled (or at shutdown).
private final class Waiter {
    private var remaining: Int
    private var continuation: CheckedContinuation<Void, Never>?

    init(remaining: Int, continuation: CheckedContinuation<Void, Never>) {
        self.remaining = remaining
        self.continuation = continuation
    }

    func keyHandled() {
        remaining -= 1
        if remaining <= 0 { resume() }
    }

    /// Resumes the caller (once).
    func resume() {
        continuation?.resume()
        continuation = nil
    }
}

/// The keys waiting to be reconciled (client-go's rate-limited delaying work queue, as a pure
/// state machine: the caller passes the time and runs the workers and the timer).
///
/// - A key queued twice is handed out once (`dirty` holds every key that needs processing).
/// - A key is handed out to one worker at a time: re-added while `processing`, it is handed out
///   again only after `done`.
/// - `addAfter` parks a key until a deadline (the earliest wins when parked twice);
///   `promoteDue` queues the keys whose deadline passed and `nextDeadline` says when to call it.
/// - `addRateLimited` parks a key for `backoff.delay(afterFailures:)` of its consecutive
///   failures; `forget` resets the count (after a success).
/// - After `shutDown` nothing is handed out or added.
public struct WorkQueue<Key: Hashable & Sendable>: Sendable {
    public let backoff: Backoff
    /// Keys ready to hand out, oldest first (never one that is processing).
    private var order: [Key] = []
    /// Keys that need processing: those in `order` plus those re-added while processing.
    private var dirty: Set<Key> = []
    private var processing: Set<Key> = []
    private var parked: [Key: ContinuousClock.Instant] = [:]
    private var failures: [Key: Int] = [:]
    public private(set) var isShutDown = false

    public init(backoff: Backoff) {
        self.backoff = backoff
    }

    /// Keys ready to hand out now.
    public var readyCount: Int { order.count }

    /// True while a worker holds `key` (between `get` and `done`).
    public func isProcessing(_ key: Key) -> Bool { processing.contains(key) }

    /// Consecutive failures of `key` since it was last forgotten.
    public func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }

    /// The delay `addRateLimited(key)` would park `key` for now.
    public func nextRetryDelay(_ key: Key) -> Duration {
        backoff.delay(afterFailures: failureCount(key) + 1)
    }

    /// True when `key` failed and waits out its backoff (a resync does not hurry it).
    public func isBackingOff(_ key: Key) -> Bool {
        failureCount(key) > 0 && parked[key] != nil
    }

    /// The earliest deadline of a parked key.
    public var nextDeadline: ContinuousClock.Instant? { parked.values.min() }

    /// Event: `key` needs processing. Returns true when it became ready to hand out.
    @discardableResult
    public mutating func add(_ key: Key) -> Bool {
        guard !isShutDown, !dirty.contains(key) else { return false }
        dirty.insert(key)
        guard !processing.contains(key) else { return false }
        order.append(key)
        return true
    }

    /// Event: a worker asks for a key. Returns the oldest ready key, now processing, or nil.
    public mutating func get() -> Key? {
        guard !isShutDown, !order.isEmpty else { return nil }
        let key = order.removeFirst()
        dirty.remove(key)
        processing.insert(key)
        return key
    }

    /// Event: the worker holding `key` finished. Returns true when `key` was re-added meanwhile
    /// and is ready to hand out again.
    @discardableResult
    public mutating func done(_ key: Key) -> Bool {
        guard processing.remove(key) != nil, !isShutDown, dirty.contains(key) else { return false }
        order.append(key)
        return true
    }

    /// Event: `key` needs processing after `delay` (at once when the delay is not positive).
    /// Returns true when it became ready to hand out now.
    @discardableResult
    public mutating func addAfter(_ key: Key, _ delay: Duration, now: ContinuousClock.Instant) -> Bool {
        guard !isShutDown else { return false }
        guard delay > .zero else { return add(key) }
        let deadline = now + delay
        if let existing = parked[key], existing <= deadline { return false }
        parked[key] = deadline
        return false
    }

    /// Event: processing `key` failed and is retried after its backoff. Returns the delay.
    @discardableResult
    public mutating func addRateLimited(_ key: Key, now: ContinuousClock.Instant) -> Duration {
        let delay = nextRetryDelay(key)
        guard !isShutDown else { return delay }
        failures[key] = failureCount(key) + 1
        addAfter(key, delay, now: now)
        return delay
    }

    /// Event: `key` succeeded (or failed for good): its next failure backs off from the start.
    public mutating func forget(_ key: Key) {
        failures[key] = nil
    }

    /// Event: time passed. Queues every parked key whose deadline is not after `now`; returns
    /// how many became ready to hand out.
    @discardableResult
    public mutating func promoteDue(now: ContinuousClock.Instant) -> Int {
        let due = parked.filter { $0.value <= now }.sorted { $0.value < $1.value }.map(\.key)
        var ready = 0
        for key in due {
            parked[key] = nil
            if add(key) { ready += 1 }
        }
        return ready
    }

    /// Event: stop. Drops every queued and parked key; keys being processed finish, but are
    /// not handed out again.
    public mutating func shutDown() {
        isShutDown = true
        order.removeAll()
        dirty.removeAll()
        parked.removeAll()
        failures.removeAll()
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Batches of records (access-log entries, spans) handed from worker loops to one background
/// thread that formats them and does the I/O (writes the access log, exports spans). A worker
/// hands over a whole batch at a time: one lock and one semaphore signal per batch, none per
/// record. After a delivery the thread lets batches gather for `gatherNanos` before it takes
/// the next ones (one write or export request per period under load, not one per batch).
/// When batches of more than `maxPendingBytes` (their encoded size, as the submitter
/// estimates it) wait, a batch is refused and its records counted as dropped: a slow disk or
/// collector never holds up a call, and what waits is bounded.
public final class BatchChannel<Record>: @unchecked Sendable {
    /// Delivers batches (oldest first) off the workers; returns how many records (as
    /// `submit` counted them) it could not deliver (counted as dropped).
    public typealias Deliver = ([[Record]]) -> Int

    public let name: String
    public let maxPendingBytes: Int
    /// The least time between two deliveries' starts (while not closing).
    public let gatherNanos: UInt64
    private let deliver: Deliver
    /// Guards `queue`, `pendingBytes`, `closing` and the counters.
    private let lock = NSLock()
    private var queue: [[Record]] = []
    private var pendingBytes = 0
    private var pendingCount = 0
    private var closing = false
    /// Signalled once per accepted batch and by `close`.
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    /// Counters, written under `lock` and read without it (a counter read racing a write is
    /// at worst one batch behind).
    private var droppedCount = 0
    private var deliveredCount = 0

    /// Records refused (the thread fell behind) or not delivered (I/O failed).
    public var droppedRecords: Int { lock.withLock { droppedCount } }
    /// Records delivered.
    public var deliveredRecords: Int { lock.withLock { deliveredCount } }

    public init(name: String, maxPendingBytes: Int, gatherNanos: UInt64 = 50_000_000, deliver: @escaping Deliver) {
        self.name = name
        self.maxPendingBytes = maxPendingBytes
        self.gatherNanos = gatherNanos
        self.deliver = deliver
    }

    /// Starts the background thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        started = true
        thread.start()
    }

    /// Hands `batch` (`count` records as the counters count them, about `bytes` bytes once
    /// encoded) to the thread (any thread may call); false when it was dropped because too
    /// many bytes wait already (or the channel closed).
    @discardableResult
    public func submit(_ batch: [Record], count: Int, bytes: Int) -> Bool {
        guard !batch.isEmpty else { return true }
        let accepted: Bool = lock.withLock {
            guard !closing, pendingBytes + bytes <= maxPendingBytes else {
                droppedCount += count
                return false
            }
            queue.append(batch)
            pendingCount += count
            pendingBytes += bytes
            return true
        }
        if accepted { wake.signal() }
        return accepted
    }

    /// Delivers what was submitted before the call, then stops the thread (blocks until it did).
    public func close() {
        guard started else { return }
        started = false
        lock.withLock { closing = true }
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wake.wait()
            let (batches, records, stop): ([[Record]], Int, Bool) = lock.withLock {
                let taken = (queue, pendingCount, closing)
                queue = []
                pendingBytes = 0
                pendingCount = 0
                return taken
            }
            if !batches.isEmpty {
                let started = DispatchTime.now().uptimeNanoseconds
                let failed = deliver(batches)
                lock.withLock {
                    droppedCount += failed
                    deliveredCount += records - failed
                }
                let elapsed = DispatchTime.now().uptimeNanoseconds - started
                if !stop && elapsed < gatherNanos && !lock.withLock({ closing }) {
                    usleep(useconds_t((gatherNanos - elapsed) / 1_000))
                }
            }
            if stop { break }
        }
        finished.signal()
    }
}

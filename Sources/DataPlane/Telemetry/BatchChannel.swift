#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Byte batches handed from worker loops to one background thread that does the I/O (writes
/// the access log, exports spans). Handing a batch over takes no lock and no system call:
/// batches go onto a lock-free stack that the thread takes whole every `pollNanos` while there
/// is work; only the first batch after the thread went idle (parked) wakes it. When more than
/// `maxPendingBytes` wait, a batch is refused and its records counted as dropped: a slow disk
/// or collector never holds up a call.
public final class BatchChannel: @unchecked Sendable {
    /// Encoded records (JSON lines, span objects) and how many there are.
    public struct Batch: Sendable {
        public var bytes: [UInt8]
        public var records: Int

        public init(bytes: [UInt8], records: Int) {
            self.bytes = bytes
            self.records = records
        }
    }

    /// Delivers batches (oldest first) off the workers; returns how many records it could not
    /// deliver (counted as dropped).
    public typealias Deliver = ([Batch]) -> Int

    /// A pushed batch; the stack owns each node through one retain, linked by address.
    private final class Node {
        let batch: Batch
        var next: UInt = 0

        init(_ batch: Batch) { self.batch = batch }
    }

    public let name: String
    public let maxPendingBytes: Int
    /// How long the thread waits after a delivery before it takes the next batches.
    public let pollNanos: UInt64
    private let deliver: Deliver
    /// The top node's address (0: empty).
    private let top = Atomic<UInt>(0)
    private let pendingBytes = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let delivered = Atomic<Int>(0)
    private let closing = Atomic<Bool>(false)
    /// The thread found nothing to do and waits for `wake`.
    private let parked = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?

    /// Records refused (the thread fell behind) or not delivered (I/O failed).
    public var droppedRecords: Int { dropped.load(ordering: .relaxed) }
    /// Records delivered.
    public var deliveredRecords: Int { delivered.load(ordering: .relaxed) }

    public init(name: String, maxPendingBytes: Int, pollNanos: UInt64 = 50_000_000, deliver: @escaping Deliver) {
        self.name = name
        self.maxPendingBytes = maxPendingBytes
        self.pollNanos = pollNanos
        self.deliver = deliver
    }

    /// Starts the background thread.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    /// Hands `batch` to the thread (any thread may call); false when it was dropped because
    /// too many bytes wait already.
    @discardableResult
    public func submit(_ batch: Batch) -> Bool {
        let size = batch.bytes.count
        if pendingBytes.add(size, ordering: .relaxed).newValue > maxPendingBytes {
            pendingBytes.subtract(size, ordering: .relaxed)
            dropped.add(batch.records, ordering: .relaxed)
            return false
        }
        let node = Unmanaged.passRetained(Node(batch))
        let address = UInt(bitPattern: node.toOpaque())
        var current = top.load(ordering: .relaxed)
        while true {
            node.takeUnretainedValue().next = current
            let (exchanged, original) = top.compareExchange(expected: current, desired: address,
                                                            successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
            if exchanged { break }
            current = original
        }
        // A parked thread is woken (once); a running one takes the batch at its next poll.
        // (Both sides order "publish, then look at the other's flag" sequentially consistently.)
        if parked.load(ordering: .sequentiallyConsistent) && parked.exchange(false, ordering: .sequentiallyConsistent) {
            wake.signal()
        }
        return true
    }

    /// Delivers what was submitted before the call, then stops the thread (blocks until it did).
    public func close() {
        guard thread != nil else { return }
        thread = nil
        closing.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            let batches = takeAll()
            if !batches.isEmpty {
                let records = batches.reduce(0) { $0 + $1.records }
                let failed = deliver(batches)
                dropped.add(failed, ordering: .relaxed)
                delivered.add(records - failed, ordering: .relaxed)
                // Let the next batches gather (no wake-ups are sent while not parked).
                if !closing.load(ordering: .relaxed) { usleep(useconds_t(pollNanos / 1_000)) }
                continue
            }
            if closing.load(ordering: .sequentiallyConsistent) { break }
            parked.store(true, ordering: .sequentiallyConsistent)
            if top.load(ordering: .sequentiallyConsistent) != 0 || closing.load(ordering: .sequentiallyConsistent) {
                // Work arrived meanwhile (a wake-up it sent is absorbed by a later wait).
                parked.store(false, ordering: .sequentiallyConsistent)
                continue
            }
            wake.wait()
        }
        // Whatever was submitted before `close` is taken by the loop above before it ends.
        finished.signal()
    }

    /// Takes the whole stack, oldest batch first.
    private func takeAll() -> [Batch] {
        var address = top.exchange(0, ordering: .acquiring)
        var batches: [Batch] = []
        var bytes = 0
        while address != 0 {
            let node = Unmanaged<Node>.fromOpaque(UnsafeRawPointer(bitPattern: address)!).takeRetainedValue()
            batches.append(node.batch)
            bytes += node.batch.bytes.count
            address = node.next
        }
        pendingBytes.subtract(bytes, ordering: .relaxed)
        batches.reverse()
        return batches
    }
}

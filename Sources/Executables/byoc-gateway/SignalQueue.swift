import Foundation

/// Hands signals from the signal thread to the main thread, in order.
final class SignalQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var signals: [Int32] = []

    func post(_ signal: Int32) {
        condition.lock()
        signals.append(signal)
        condition.signal()
        condition.unlock()
    }

    /// Blocks until a signal arrives.
    func next() -> Int32 {
        condition.lock()
        defer { condition.unlock() }
        while signals.isEmpty { condition.wait() }
        return signals.removeFirst()
    }
}

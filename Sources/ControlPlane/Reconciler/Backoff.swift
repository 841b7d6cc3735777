/// Exponential backoff: `initial` doubling per consecutive failure, capped at `maximum`.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay after the `failures`-th consecutive failure (1 = first failure).
    public func delay(afterFailures failures: Int) -> Duration {
        guard failures > 1 else { return min(initial, maximum) }
        var delay = initial
        for _ in 1..<min(failures, 64) {
            delay = delay * 2
            if delay >= maximum { return maximum }
        }
        return delay
    }
}

extension Duration {
    /// A short human form: "500ms", "2s", "1.5s".
    public var shortDescription: String {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        let tenths = (milliseconds + 50) / 100
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}

import Synchronization

/// `--hold-max-calls` for the whole gateway: how many calls its workers hold for each model
/// version at once (0: none, holding is off). Shared by every worker; touched only when a call
/// is held or leaves the hold (a cold path: such a call waits for a model to start), never by a
/// call that has an endpoint.
public final class HoldBudget: Sendable {
    /// Calls held per version at most.
    public let limit: Int
    private let held = Mutex<[StatsKey: Int]>([:])

    public init(limit: Int) {
        self.limit = limit
    }

    /// One more held call for `key`: false (nothing taken) when `limit` are held.
    func take(_ key: StatsKey) -> Bool {
        held.withLock { counts in
            let now = counts[key, default: 0]
            guard now < limit else { return false }
            counts[key] = now + 1
            return true
        }
    }

    /// `count` held calls of `key` left the hold.
    func give(_ key: StatsKey, count: Int = 1) {
        guard count > 0 else { return }
        held.withLock { counts in
            let left = counts[key, default: 0] - count
            counts[key] = left > 0 ? left : nil
        }
    }

    /// Calls held now for `key` on every worker.
    func count(_ key: StatsKey) -> Int {
        held.withLock { $0[key, default: 0] }
    }
}

import Synchronization

/// `--hold-max-calls` for the whole gateway: how many calls its workers hold for each model
/// version at once. Shared by every worker; touched only when a call is held or leaves the hold
/// (a cold path: such a call waits for a model to start), never by a call that has an endpoint.
public final class HoldBudget: Sendable {
    /// Calls held per version at most.
    public let limit: Int
    private let held = Mutex<[HoldKey: Int]>([:])

    public init(limit: Int) {
        self.limit = limit
    }

    /// One more held call for `model`/`version`: false (nothing taken) when `limit` are held.
    func take(model: String, version: String) -> Bool {
        held.withLock { counts in
            let key = HoldKey(model: model, version: version)
            let now = counts[key, default: 0]
            guard now < limit else { return false }
            counts[key] = now + 1
            return true
        }
    }

    /// `count` held calls of `model`/`version` left the hold.
    func give(model: String, version: String, count: Int = 1) {
        guard count > 0 else { return }
        held.withLock { counts in
            let key = HoldKey(model: model, version: version)
            let left = counts[key, default: 0] - count
            counts[key] = left > 0 ? left : nil
        }
    }

    /// Calls held now for `model`/`version` on every worker.
    func count(model: String, version: String) -> Int {
        held.withLock { $0[HoldKey(model: model, version: version), default: 0] }
    }

    private struct HoldKey: Hashable {
        var model: String
        var version: String
    }
}

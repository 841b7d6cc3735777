import Foundation
import Registry

/// The versions a wake is being sent for: every worker that starts holding calls for a
/// version asks for a wake, and a burst reaches all workers at once; while one wake of a
/// version is on its way, the others are dropped (the lifecycle loop's wake is idempotent).
final class WakesInFlight: @unchecked Sendable {
    private let lock = NSLock()
    private var keys = Set<VersionKey>()

    /// True when no wake of `key` was on its way (the caller sends it, then calls `finished`).
    func begin(_ key: VersionKey) -> Bool {
        lock.withLock { keys.insert(key).inserted }
    }

    func finished(_ key: VersionKey) {
        _ = lock.withLock { keys.remove(key) }
    }
}

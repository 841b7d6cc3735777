import Foundation
import Registry
import Routing

/// On a Kubernetes follower: once a second, tells the leader which versions that scale to zero
/// had calls here (in flight, or since the last report), one `WakeModelVersion` each. The
/// leader's lifecycle loop counts only its own workers' calls; a report restarts the version's
/// idle period there (and cancels a stop on its way), so a version busy on followers alone is
/// not taken to IDLE under them.
final class ActivityReporter: @unchecked Sendable {
    private let interval: Duration
    private let isLeader: @Sendable () -> Bool
    private let sample: @Sendable () async -> ActivitySample
    private let send: @Sendable (VersionKey, String?) async -> Void
    private var task: Task<Void, Never>?

    /// - Parameters:
    ///   - sample: every worker's activity.
    ///   - send: one report: the version and the credentials of a call to it (auth on).
    init(interval: Duration = .seconds(1), isLeader: @escaping @Sendable () -> Bool,
         sample: @escaping @Sendable () async -> ActivitySample, send: @escaping @Sendable (VersionKey, String?) async -> Void) {
        self.interval = interval
        self.isLeader = isLeader
        self.sample = sample
        self.send = send
    }

    func start() {
        guard task == nil else { return }
        let (interval, isLeader, sample, send) = (interval, isLeader, sample, send)
        task = Task {
            var reported: [VersionKey: UInt64] = [:]
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, !isLeader() else { continue }
                var active: [VersionKey: String?] = [:]
                for entry in await sample().versions where entry.wakeable {
                    let key = VersionKey(model: entry.model, version: entry.version)
                    if entry.inFlight > 0 || entry.lastCalledNanos > (reported[key] ?? 0) {
                        active[key] = entry.authorization ?? active[key] ?? nil
                        reported[key] = max(reported[key] ?? 0, entry.lastCalledNanos)
                    }
                }
                for (key, authorization) in active { await send(key, authorization) }
            }
        }
    }

    func stop() {
        task?.cancel()
        task = nil
    }
}

import Foundation
import Messages
import Registry
import Routing

/// On a Kubernetes follower: once a second, reports this replica's calls to the leader, one
/// `WakeModelVersion` with an `ActivityReport` per version that has news (`FollowerReports`:
/// calls in flight, calls since the previous report, or a drop to 0), sent together, each with
/// the credentials of a call to that version when auth is on. The leader adds the counts to its
/// own for the concurrency autoscaler, keeps the newest call for last-called times and garbage
/// collection, and keeps a version that scales to zero awake (or wakes it).
final class ActivityReporter: @unchecked Sendable {
    private let interval: Duration
    private let reporter: String
    private let isLeader: @Sendable () -> Bool
    private let sample: @Sendable () async -> ActivitySample
    private let send: @Sendable (VersionKey, ActivityReport, String?) async -> Void
    private var task: Task<Void, Never>?

    /// - Parameters:
    ///   - reporter: this replica's identity (the leader keeps one report per replica).
    ///   - sample: every worker's activity.
    ///   - send: one report: the version, the report and the credentials of a call to it (auth on).
    init(interval: Duration = .seconds(1), reporter: String, isLeader: @escaping @Sendable () -> Bool,
         sample: @escaping @Sendable () async -> ActivitySample,
         send: @escaping @Sendable (VersionKey, ActivityReport, String?) async -> Void) {
        self.interval = interval
        self.reporter = reporter
        self.isLeader = isLeader
        self.sample = sample
        self.send = send
    }

    func start() {
        guard task == nil else { return }
        let (interval, reporter, isLeader, sample, send) = (interval, reporter, isLeader, sample, send)
        task = Task {
            var reports = FollowerReports(reporter: reporter)
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled else { return }
                guard !isLeader() else {
                    // A new term starts afresh: the next leader has none of these reports.
                    reports = FollowerReports(reporter: reporter)
                    continue
                }
                let due = reports.next(await sample())
                await withTaskGroup(of: Void.self) { group in
                    for report in due {
                        let message = ActivityReport(reporter: reporter, inFlight: Int32(clamping: report.activity.inFlight),
                                                     lastCalledMsAgo: report.activity.lastCalledAgoMs ?? -1)
                        group.addTask {
                            await send(VersionKey(model: report.model, version: report.version), message, report.authorization)
                        }
                    }
                }
            }
        }
    }

    func stop() {
        task?.cancel()
        task = nil
    }
}

/// One model version's activity on one gateway worker, sampled off the request path: what the
/// concurrency autoscaler and the last-called notes read.
public struct VersionActivity: Sendable, Equatable {
    public var model: String
    /// The concrete version the calls were routed to.
    public var version: String
    /// Calls routed to it and not finished yet (shadow copies included).
    public var inFlight: Int
    /// `monotonicNanos()` of the last call's arrival; 0 = never called on this worker.
    public var lastCalledNanos: UInt64
    /// With auth on, the `authorization` metadata of the last call to the version (a follower
    /// reports the activity to the leader with it).
    public var authorization: String?

    public init(model: String, version: String, inFlight: Int, lastCalledNanos: UInt64, authorization: String? = nil) {
        self.model = model
        self.version = version
        self.inFlight = inFlight
        self.lastCalledNanos = lastCalledNanos
        self.authorization = authorization
    }
}

/// Every worker's `VersionActivity`, taken at one time on both clocks (so a last call's
/// monotonic time converts to wall clock).
public struct ActivitySample: Sendable, Equatable {
    /// `monotonicNanos()` when the sample was taken.
    public var nanos: UInt64
    /// Wall clock when the sample was taken.
    public var unixMs: Int64
    /// One entry per worker and version (not summed).
    public var versions: [VersionActivity]

    public init(nanos: UInt64, unixMs: Int64, versions: [VersionActivity]) {
        self.nanos = nanos
        self.unixMs = unixMs
        self.versions = versions
    }
}

/// A follower gateway replica's calls to one version, reported to the leader (`ActivityReport`
/// on the wire): what the leader's lifecycle loop adds to its own workers' activity.
public struct FollowerActivity: Sendable, Equatable {
    /// The reporting replica (its pod name): its newest report replaces its previous one.
    public var reporter: String
    /// Its calls to the version in flight when it reported.
    public var inFlight: Int
    /// How long before the report its newest call to the version arrived; nil = no call since
    /// its previous report.
    public var lastCalledAgoMs: Int64?

    public init(reporter: String, inFlight: Int, lastCalledAgoMs: Int64?) {
        self.reporter = reporter
        self.inFlight = inFlight
        self.lastCalledAgoMs = lastCalledAgoMs
    }
}

/// What a follower replica reports to the leader, sample by sample: one `FollowerActivity` per
/// version that has calls in flight (every sample, so the leader's copy stays fresh), had calls
/// since the previous report, or had calls in flight at the previous report (so a drop to 0 is
/// reported once). Versions with nothing new send nothing.
public struct FollowerReports: Sendable {
    /// One report to send: the version, the activity, and (auth on) the credentials of a call to
    /// the version to send it with.
    public struct Report: Sendable, Equatable {
        public var model: String
        public var version: String
        public var activity: FollowerActivity
        public var authorization: String?

        public init(model: String, version: String, activity: FollowerActivity, authorization: String?) {
            self.model = model
            self.version = version
            self.activity = activity
            self.authorization = authorization
        }
    }

    private struct Key: Hashable {
        var model: String
        var version: String
    }

    private struct Sent {
        var lastCalledNanos: UInt64
        var inFlight: Int
    }

    private let reporter: String
    private var sent: [Key: Sent] = [:]

    /// - Parameter reporter: this replica's identity (its pod name).
    public init(reporter: String) {
        self.reporter = reporter
    }

    /// The reports `sample` calls for (its entries summed per version over the workers).
    public mutating func next(_ sample: ActivitySample) -> [Report] {
        var totals: [Key: (inFlight: Int, lastCalled: UInt64, authorization: String?)] = [:]
        for entry in sample.versions {
            let key = Key(model: entry.model, version: entry.version)
            var total = totals[key] ?? (inFlight: 0, lastCalled: 0, authorization: nil)
            total.inFlight += entry.inFlight
            if entry.lastCalledNanos >= total.lastCalled {
                total.lastCalled = entry.lastCalledNanos
                total.authorization = entry.authorization ?? total.authorization
            } else if total.authorization == nil {
                total.authorization = entry.authorization
            }
            totals[key] = total
        }
        var reports: [Report] = []
        for (key, total) in totals.sorted(by: { ($0.key.model, $0.key.version) < ($1.key.model, $1.key.version) }) {
            let previous = sent[key]
            let called = total.lastCalled > (previous?.lastCalledNanos ?? 0)
            guard total.inFlight > 0 || called || (previous?.inFlight ?? 0) > 0 else { continue }
            var ago: Int64?
            if called { ago = sample.nanos > total.lastCalled ? Int64((sample.nanos - total.lastCalled) / 1_000_000) : 0 }
            reports.append(Report(model: key.model, version: key.version,
                                  activity: FollowerActivity(reporter: reporter, inFlight: total.inFlight, lastCalledAgoMs: ago),
                                  authorization: total.authorization))
            sent[key] = Sent(lastCalledNanos: max(total.lastCalled, previous?.lastCalledNanos ?? 0), inFlight: total.inFlight)
        }
        let current = Set(totals.keys)
        sent = sent.filter { current.contains($0.key) }
        return reports
    }
}

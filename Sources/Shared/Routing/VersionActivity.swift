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
    /// The version scales to zero (calls to it are held while it wakes).
    public var wakeable: Bool
    /// With auth on, the `authorization` metadata of the last call to a wakeable version (a
    /// follower reports the activity to the leader with it).
    public var authorization: String?

    public init(model: String, version: String, inFlight: Int, lastCalledNanos: UInt64, wakeable: Bool = false,
                authorization: String? = nil) {
        self.model = model
        self.version = version
        self.inFlight = inFlight
        self.lastCalledNanos = lastCalledNanos
        self.wakeable = wakeable
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

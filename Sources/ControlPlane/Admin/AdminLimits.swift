/// Configured ceilings for Admin input.
public struct AdminLimits: Sendable, Equatable {
    /// The most replicas (min or max) a version may ask for.
    public var maxReplicas: Int32
    /// Whether this gateway runs the concurrency autoscaler for its runtime: without it a
    /// nonzero `target_concurrency` is refused rather than stored and ignored.
    public var concurrencyAutoscaling: Bool
    /// `--gc-unused-after` in seconds (0: garbage collection is off); CollectUnused uses it.
    public var gcUnusedAfterSeconds: Int64
    /// `--gc-unused-after` as given (`90s`, `36h`, `7d`), for reasons and messages.
    public var gcUnusedAfterText: String

    public init(maxReplicas: Int32 = 16, concurrencyAutoscaling: Bool = true, gcUnusedAfterSeconds: Int64 = 0,
                gcUnusedAfterText: String = "") {
        self.maxReplicas = maxReplicas
        self.concurrencyAutoscaling = concurrencyAutoscaling
        self.gcUnusedAfterSeconds = gcUnusedAfterSeconds
        self.gcUnusedAfterText = gcUnusedAfterText
    }
}

/// Configured ceilings for Admin input.
public struct AdminLimits: Sendable, Equatable {
    /// The most replicas (min or max) a version may ask for.
    public var maxReplicas: Int32
    /// `--gc-unused-after` in seconds (0: garbage collection is off); CollectUnused uses it.
    public var gcUnusedAfterSeconds: Int64
    /// `--gc-unused-after` as given (`90s`, `36h`, `7d`), for reasons and messages.
    public var gcUnusedAfterText: String

    public init(maxReplicas: Int32 = 16, gcUnusedAfterSeconds: Int64 = 0,
                gcUnusedAfterText: String = "") {
        self.maxReplicas = maxReplicas
        self.gcUnusedAfterSeconds = gcUnusedAfterSeconds
        self.gcUnusedAfterText = gcUnusedAfterText
    }
}

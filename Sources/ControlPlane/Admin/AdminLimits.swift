/// Configured ceilings for Admin input.
public struct AdminLimits: Sendable, Equatable {
    /// The most replicas (min or max) a version may ask for.
    public var maxReplicas: Int32

    public init(maxReplicas: Int32 = 16) {
        self.maxReplicas = maxReplicas
    }
}

import Routing

/// Answers whether a replica's gRPC health service reports SERVING.
public protocol HealthProber: Sendable {
    /// True when `endpoint` answers grpc.health.v1 Check with SERVING; false on any failure.
    func isServing(_ endpoint: Endpoint) async -> Bool
}

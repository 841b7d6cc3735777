import GRPC
import Messages
import Routing

/// Probes a replica with `grpc.health.v1.Health/Check` (service "") and expects SERVING.
public struct GRPCHealthProber: HealthProber {
    /// Deadline of one probe call.
    public var timeoutMs: Int

    public init(timeoutMs: Int = 1_000) {
        self.timeoutMs = timeoutMs
    }

    public func isServing(_ endpoint: Endpoint) async -> Bool {
        let client = GRPCClient(host: endpoint.host, port: endpoint.port)
        defer { client.close() }
        do {
            let response = try await client.unary(path: "/grpc.health.v1.Health/Check",
                                                  request: HealthCheckRequest(service: "").serializedBytes(),
                                                  timeoutMs: timeoutMs)
            return try HealthCheckResponse(serializedBytes: response.message).status == .serving
        } catch {
            return false
        }
    }
}

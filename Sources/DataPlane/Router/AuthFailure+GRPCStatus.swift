import GRPC
import Routing

extension AuthFailure {
    /// The gRPC status the gateway answers with.
    public var status: GRPCStatus {
        switch self {
        case .unauthenticated(let message): return GRPCStatus(.unauthenticated, message)
        case .permissionDenied(let message): return GRPCStatus(.permissionDenied, message)
        }
    }
}

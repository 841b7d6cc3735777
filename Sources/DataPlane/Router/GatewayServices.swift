import GRPC
import Messages
import Routing

/// The calls the gateway answers itself: grpc.health.v1 Check and the Open Inference
/// Protocol's ServerLive, ServerReady, ModelReady and ServerMetadata.
enum GatewayServices {
    static func handlers(for worker: RouterWorker) -> [String: UnaryCall.Handler] {
        [
            "/grpc.health.v1.Health/Check": { [unowned worker] call, message in
                healthCheck(worker, call, message)
            },
            "/inference.GRPCInferenceService/ServerLive": { call, _ in
                call.respond(ServerLiveResponse(live: true).serializedBytes())
            },
            "/inference.GRPCInferenceService/ServerReady": { call, _ in
                call.respond(ServerReadyResponse(ready: true).serializedBytes())
            },
            "/inference.GRPCInferenceService/ModelReady": { [unowned worker] call, message in
                guard let request = try? ModelReadyRequest(serializedBytes: message) else {
                    call.fail(GRPCStatus(.invalidArgument, "cannot decode ModelReadyRequest"))
                    return
                }
                let ready: Bool
                if case .found(_, let endpoints) = worker.routeTable.resolve(model: request.name, version: request.version) {
                    ready = !endpoints.isEmpty
                } else {
                    ready = false
                }
                call.respond(ModelReadyResponse(ready: ready).serializedBytes())
            },
            "/inference.GRPCInferenceService/ServerMetadata": { [unowned worker] call, _ in
                let response = ServerMetadataResponse(name: worker.config.serverName, version: worker.config.serverVersion,
                                                      extensions: [])
                call.respond(response.serializedBytes())
            },
        ]
    }

    /// Service "" is the gateway itself; "MODEL" or "MODEL/VERSION" is SERVING when it has a
    /// ready endpoint, NOT_SERVING when registered without one, NOT_FOUND when unknown.
    static func healthCheck(_ worker: RouterWorker, _ call: UnaryCall, _ message: [UInt8]) {
        guard let request = try? HealthCheckRequest(serializedBytes: message) else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode HealthCheckRequest"))
            return
        }
        let service = request.service
        if service.isEmpty || service == "byoc.v1.Inference" || service == "inference.GRPCInferenceService" {
            call.respond(HealthCheckResponse(status: .serving).serializedBytes())
            return
        }
        let parts = service.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let model = String(parts[0])
        let version = parts.count > 1 ? String(parts[1]) : ""
        switch worker.routeTable.resolve(model: model, version: version) {
        case .found(_, let endpoints):
            call.respond(HealthCheckResponse(status: endpoints.isEmpty ? .notServing : .serving).serializedBytes())
        case .unknownModel, .unknownVersion:
            call.fail(GRPCStatus(.notFound, "unknown service \"\(service)\""))
        }
    }
}

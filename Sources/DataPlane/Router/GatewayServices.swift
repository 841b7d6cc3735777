import GRPC
import Messages
import Routing

/// The calls the gateway answers itself: grpc.health.v1 (Check, List, Watch: `HealthService`)
/// and the Open Inference Protocol's ServerLive, ServerReady, ModelReady and ServerMetadata.
enum GatewayServices {
    static func handlers(for worker: RouterWorker) -> [String: UnaryCall.Handler] {
        [
            "/grpc.health.v1.Health/Check": { [unowned worker] call, message in
                worker.health.check(call, message, table: worker.routeTable)
            },
            "/grpc.health.v1.Health/List": { [unowned worker] call, message in
                worker.health.list(call, message, table: worker.routeTable)
            },
            "/grpc.health.v1.Health/Watch": { [unowned worker] call, message in
                worker.health.watch(call, message, table: worker.routeTable)
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
}

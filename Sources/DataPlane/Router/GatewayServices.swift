import GRPC
import Messages
import Routing

/// The calls the gateway answers itself: grpc.health.v1 Check and the Open Inference
/// Protocol's ServerLive, ServerReady, ModelReady (an IDLE version that can wake is ready: its
/// calls are held and served) and ServerMetadata.
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
                if case .found(let version, let endpoints) = worker.routeTable.resolve(model: request.name, version: request.version) {
                    ready = servable(worker, model: request.name, version: version, endpoints: endpoints)
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

    /// True when calls to the version are served: it has a ready endpoint, or it scales to zero
    /// and can wake (IDLE or starting: its calls are held, not failed).
    static func servable(_ worker: RouterWorker, model: String, version: String, endpoints: [Endpoint]) -> Bool {
        !endpoints.isEmpty || worker.routeTable.models[model]?.wake[version] == .hold
    }

    /// Service "" is the gateway itself; "MODEL" or "MODEL/VERSION" is SERVING when it has a
    /// ready endpoint or can wake (scale to zero), NOT_SERVING when registered without one,
    /// NOT_FOUND when unknown.
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
        case .found(let version, let endpoints):
            let serving = servable(worker, model: model, version: version, endpoints: endpoints)
            call.respond(HealthCheckResponse(status: serving ? .serving : .notServing).serializedBytes())
        case .unknownModel, .unknownVersion:
            call.fail(GRPCStatus(.notFound, "unknown service \"\(service)\""))
        }
    }
}

import GRPC
import Messages
import Routing

/// The calls the gateway answers itself: grpc.health.v1 (Check, List, Watch: `HealthService`)
/// and the Open Inference Protocol's ServerLive, ServerReady, ModelReady, ServerMetadata and
/// RepositoryIndex.
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
            "/inference.GRPCInferenceService/RepositoryIndex": { [unowned worker] call, message in
                repositoryIndex(worker, call, message)
            },
        ]
    }

    /// Every model version of the route table (the registry's versions, or the static routes)
    /// with its state: READY with a ready endpoint, else UNAVAILABLE; `ready` keeps only the
    /// ready ones. With `--require-auth` it needs a valid token and lists only the models the
    /// token may call.
    static func repositoryIndex(_ worker: RouterWorker, _ call: UnaryCall, _ message: [UInt8]) {
        guard let request = try? RepositoryIndexRequest(serializedBytes: message) else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode RepositoryIndexRequest"))
            return
        }
        guard request.repositoryName.isEmpty else {
            call.fail(GRPCStatus(.notFound, "unknown repository \"\(request.repositoryName)\": the gateway has one, \"\""))
            return
        }
        var grant: AuthEntry?
        if let auth = worker.authTable {
            switch auth.authenticate(authorization: call.head.metadata("authorization")) {
            case .success(let entry): grant = entry
            case .failure(let failure):
                call.fail(failure.status)
                return
            }
        }
        var models: [ModelIndex] = []
        for (model, routes) in worker.routeTable.models.sorted(by: { $0.key < $1.key }) where grant?.allows(model: model) ?? true {
            for (version, endpoints) in routes.versions.sorted(by: { $0.key < $1.key }) {
                if endpoints.isEmpty {
                    if !request.ready {
                        models.append(ModelIndex(name: model, version: version, state: "UNAVAILABLE", reason: "no ready endpoint"))
                    }
                } else {
                    models.append(ModelIndex(name: model, version: version, state: "READY"))
                }
            }
        }
        call.respond(RepositoryIndexResponse(models: models).serializedBytes())
    }
}

import GRPC
import Messages
import Routing

/// The calls the gateway answers itself: grpc.health.v1 (Check, List, Watch: `HealthService`)
/// and the Open Inference Protocol's ServerLive, ServerReady, ModelReady (an IDLE version that
/// can wake is ready: its calls are held and served), ServerMetadata and RepositoryIndex.
enum GatewayServices {
    static func handlers(for worker: RouterWorker) -> [String: UnaryCall.Handler] {
        [
            "/grpc.health.v1.Health/Check": { [unowned worker] call, message in
                worker.health.check(call, message, table: worker.routeTable)
            },
            "/grpc.health.v1.Health/List": { [unowned worker] call, message in
                guard let grant = authenticate(worker, call) else { return }
                worker.health.list(call, message, table: worker.routeTable, visible: { grant?.allows(model: $0) ?? true })
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
                let table = worker.routeTable
                if case .found(let version, let endpoints) = table.resolve(model: request.name, version: request.version) {
                    ready = HealthService.servable(table, model: request.name, version: version, endpoints: endpoints)
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

    /// The caller's token when `--require-auth` is on (`.some(nil)`: auth is off); nil after
    /// failing the call UNAUTHENTICATED. For the answers that list models (RepositoryIndex,
    /// Health/List), which show only the models the token may call.
    static func authenticate(_ worker: RouterWorker, _ call: UnaryCall) -> AuthEntry?? {
        guard let auth = worker.authTable else { return .some(nil) }
        switch auth.authenticate(authorization: call.head.metadata("authorization")) {
        case .success(let entry): return .some(entry)
        case .failure(let failure):
            call.fail(failure.status)
            return nil
        }
    }

    /// Every registered model version with its state, from the registry (ListModels) when the
    /// gateway has one, else from the static routes: READY, LOADING (pending or deploying),
    /// UNAVAILABLE (failed, with the registry's message as the reason; or no ready endpoint),
    /// UNLOADING (being deleted). `ready` keeps only the READY ones. With `--require-auth` it
    /// needs a valid token and lists only the models the token may call.
    static func repositoryIndex(_ worker: RouterWorker, _ call: UnaryCall, _ message: [UInt8]) {
        guard let request = try? RepositoryIndexRequest(serializedBytes: message) else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode RepositoryIndexRequest"))
            return
        }
        guard request.repositoryName.isEmpty else {
            call.fail(GRPCStatus(.notFound, "unknown repository \"\(request.repositoryName)\": the gateway has one, \"\""))
            return
        }
        guard let grant = authenticate(worker, call) else { return }
        let readyOnly = request.ready
        func answer(_ models: [ModelIndex]) -> [UInt8] {
            let visible = models.filter { (grant?.allows(model: $0.name) ?? true) && (!readyOnly || $0.state == "READY") }
            return RepositoryIndexResponse(models: visible).serializedBytes()
        }
        guard let admin = worker.admin else {
            call.respond(answer(indexOfRoutes(worker.routeTable)))
            return
        }
        Task {
            let result: Result<[UInt8], GRPCStatus>
            do {
                let listed = try ListModelsResponse(serializedBytes: try await admin("ListModels", ListModelsRequest().serializedBytes()))
                result = .success(answer(indexOfRegistry(listed)))
            } catch let status as GRPCStatus {
                result = .failure(status)
            } catch {
                result = .failure(GRPCStatus(.internal, "cannot list the registry: \(error)"))
            }
            call.loop.execute {
                switch result {
                case .success(let bytes): call.respond(bytes)
                case .failure(let status): call.fail(status)
                }
            }
        }
    }

    /// The registry's versions in Triton's terms, sorted by model and version.
    static func indexOfRegistry(_ listed: ListModelsResponse) -> [ModelIndex] {
        var models: [ModelIndex] = []
        for model in listed.models {
            for version in model.versions {
                let state: String
                var reason = version.message
                switch version.state {
                case .ready: state = "READY"
                case .idle:
                    state = "READY"
                    if reason.isEmpty { reason = "scaled to zero: the next call starts a replica" }
                case .pending, .deploying: state = "LOADING"
                case .failed: state = "UNAVAILABLE"
                case .deleting: state = "UNLOADING"
                case .unspecified: state = "UNKNOWN"
                }
                models.append(ModelIndex(name: model.name, version: version.version, state: state, reason: reason))
            }
        }
        return models.sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }

    /// The static routes' versions: READY with a ready endpoint, else UNAVAILABLE.
    static func indexOfRoutes(_ table: RouteTable) -> [ModelIndex] {
        var models: [ModelIndex] = []
        for (model, routes) in table.models.sorted(by: { $0.key < $1.key }) {
            for (version, endpoints) in routes.versions.sorted(by: { $0.key < $1.key }) {
                models.append(endpoints.isEmpty
                    ? ModelIndex(name: model, version: version, state: "UNAVAILABLE", reason: "no ready endpoint")
                    : ModelIndex(name: model, version: version, state: "READY"))
            }
        }
        return models
    }
}

import Foundation
import GRPC
import HTTP1
import Messages
import Routing
import Transport

/// The routes of the web console and the JSON API handlers.
///
/// JSON API (`/api/v1`, every route behind the authorization hook except `info`):
///
/// | method and path | Admin RPC | success |
/// |---|---|---|
/// | GET /api/v1/info | - | `{server, version, mode, authRequired}` |
/// | GET /api/v1/models | ListModels | 200 `{models: [Model]}` |
/// | GET /api/v1/models/{model} | GetModel | 200 Model |
/// | GET /api/v1/models/{model}/versions/{version} | GetModel | 200 ModelVersion |
/// | POST /api/v1/models `{model, version, image, command, port, env, minReplicas, maxReplicas, targetCpuUtilization, resources {cpuRequest, cpuLimit, memoryRequest, memoryLimit, gpus, gpuResource}, nodeSelector, tolerations [{key, operator, value, effect}], imagePullSecrets, allowRoot, autoscaling {targetConcurrency, scaleToZeroAfterSeconds, scaleDownDelaySeconds}}` | RegisterModel | 201 ModelVersion |
/// | POST /api/v1/models/{model}/default `{version}` | SetDefaultVersion | 200 Model |
/// | POST /api/v1/models/{model}/versions/{version}/scale `{minReplicas, maxReplicas, autoscaling}` (autoscaling absent = unchanged) | ScaleModelVersion | 200 ModelVersion |
/// | DELETE /api/v1/models/{model} | DeleteModel (every version) | 200 `{deleted: [ModelVersion]}` |
/// | DELETE /api/v1/models/{model}/versions/{version} | DeleteModel | 200 `{deleted: [ModelVersion]}` |
/// | POST /api/v1/models/{model}/predict `{version, inputs, parameters, payload}` | Inference/Predict | 200 `{model, version, outputs, latencyMs}` |
/// | GET /api/v1/events?model=&version=&since=&limit= | ListEvents (`since` in Unix ms) | 200 `{events: [Event]}` |
/// | GET /api/v1/models/{model}/versions/{version}/logs?tail=N | GetLogs (no follow; the UI polls) | 200 `{lines: [LogLine]}` |
/// | GET /api/v1/stats?model=&version=&seconds= | - | per model version, the last hour (or `seconds`): rps, error rate, p50/p99, ready replicas |
///
/// Errors: `{"error": {"code": "NOT_FOUND", "message": "..."}}` with the HTTP status of
/// `APIError.httpStatus` (the gRPC status the Admin API or the model returned).
enum ConsoleRoutes {
    static func router(console: WebConsole, worker: ConsoleWorker) -> HTTPRouter {
        let r = HTTPRouter()
        unowned let console = console
        // Admin calls made for an authorized request carry its credentials (a follower replica
        // forwards them to the leader, which checks them again).
        r.aroundAuthorized = { request, handle in
            AdminCallContext.$authorization.withValue(request.header("authorization")) { handle() }
        }

        // Probes and metrics.
        r.add("GET", "/healthz") { _, responder in responder.respond(.text(200, "ok")) }
        r.add("GET", "/readyz") { _, responder in
            if worker.http1?.shuttingDown == true {
                responder.respond(.text(503, "not ready: shutting down"))
            } else if worker.router.routeTable.generation == 0 {
                responder.respond(.text(503, "not ready: the route table is not loaded yet"))
            } else {
                responder.respond(.text(200, "ready"))
            }
        }
        r.add("GET", "/metrics") { request, responder in
            let format = MetricsFormat.negotiate(accept: request.header("accept"))
            responder.respond {
                var response = HTTPResponse.content(type: format.contentType,
                                                    Array(await console.metricsText(format: format).utf8))
                response.headers.append(("Cache-Control", "no-store"))
                return response
            }
        }

        // The UI.
        let page = Array(UIAssets.html.utf8)
        let script = Array(UIAssets.script.utf8)
        let style = Array(UIAssets.style.utf8)
        r.add("GET", "/") { _, responder in
            var response = HTTPResponse.content(type: "text/html; charset=utf-8", page, cache: "no-cache")
            response.headers.append(("Content-Security-Policy",
                                     "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"))
            response.headers.append(("X-Content-Type-Options", "nosniff"))
            response.headers.append(("Referrer-Policy", "no-referrer"))
            responder.respond(response)
        }
        r.add("GET", "/ui/app.js") { _, responder in
            responder.respond(.content(type: "text/javascript; charset=utf-8", script, cache: "no-cache"))
        }
        r.add("GET", "/ui/app.css") { _, responder in
            responder.respond(.content(type: "text/css; charset=utf-8", style, cache: "no-cache"))
        }

        // JSON API.
        r.add("GET", "/api/v1/info") { _, responder in
            responder.respond(.json(200, [
                "server": console.options.serverName, "version": console.options.serverVersion,
                "mode": console.options.mode, "authRequired": console.authRequired,
            ] as [String: Any]))
        }
        r.add("GET", "/api/v1/models", requiresAuth: true) { _, responder in
            let table = worker.router.routeTable
            api(responder) {
                guard console.admin != nil else { return .json(200, ["models": staticModels(table).map { $0.jsonObject() }]) }
                let list = try await console.adminCall("ListModels", ListModelsRequest(), as: ListModelsResponse.self)
                return .json(200, ["models": list.models.map { $0.jsonObject() }])
            }
        }
        r.add("GET", "/api/v1/models/{model}", requiresAuth: true) { request, responder in
            let table = worker.router.routeTable
            let name = request.params["model"]!
            api(responder) {
                .json(200, try await getModel(console, table, name).jsonObject())
            }
        }
        r.add("GET", "/api/v1/models/{model}/versions/{version}", requiresAuth: true) { request, responder in
            let table = worker.router.routeTable
            let name = request.params["model"]!
            let version = request.params["version"]!
            api(responder) {
                let model = try await getModel(console, table, name)
                guard let found = model.versions.first(where: { $0.version == version }) else {
                    throw APIError(404, "NOT_FOUND", "model \"\(name)\" has no version \"\(version)\"")
                }
                return .json(200, found.jsonObject())
            }
        }
        r.add("POST", "/api/v1/models", requiresAuth: true) { request, responder in
            api(responder) {
                let f = try JSONFields(body: request.body,
                                       known: ["model", "version", "image", "command", "port", "env", "minReplicas", "maxReplicas",
                                               "targetCpuUtilization", "resources", "nodeSelector", "tolerations",
                                               "imagePullSecrets", "allowRoot", "autoscaling"])
                var message = RegisterModelRequest()
                message.model = try f.string("model")
                message.version = try f.string("version")
                message.image = try f.string("image")
                if case .string(let line)? = f.value("command") {
                    message.command = line.split(separator: " ").map(String.init)
                } else {
                    message.command = try f.strings("command")
                }
                message.port = try f.int32("port")
                message.env = try f.stringMap("env")
                message.minReplicas = try f.int32("minReplicas")
                message.maxReplicas = try f.int32("maxReplicas")
                message.targetCpuUtilization = try f.int32("targetCpuUtilization")
                message.resources = try f.resources("resources")
                message.nodeSelector = try f.stringMap("nodeSelector")
                message.tolerations = try f.tolerations("tolerations")
                message.imagePullSecrets = try f.strings("imagePullSecrets")
                message.allowRoot = try f.bool("allowRoot")
                message.autoscaling = try f.autoscaling("autoscaling")
                let registered = try await console.adminCall("RegisterModel", message, as: ModelVersion.self)
                var response = HTTPResponse.json(201, registered.jsonObject())
                response.headers.append(("Location", "/api/v1/models/\(message.model)/versions/\(message.version)"))
                return response
            }
        }
        /// `POST /api/v1/models/{model}/<path>`: the Admin `method`'s request made from the model
        /// name and the body's `known` fields; 200 with the changed Model.
        func changeModel<Request: ProtoMessage>(_ path: String, _ method: String, known: [String],
                                                _ message: @escaping @Sendable (_ model: String, JSONFields) throws -> Request) {
            r.add("POST", "/api/v1/models/{model}/\(path)", requiresAuth: true) { request, responder in
                let name = request.params["model"]!
                api(responder) {
                    let changed = try message(name, try JSONFields(body: request.body, known: known))
                    return .json(200, try await console.adminCall(method, changed, as: Model.self).jsonObject())
                }
            }
        }
        changeModel("default", "SetDefaultVersion", known: ["version"]) { name, f in
            SetDefaultVersionRequest(model: name, version: try f.string("version"))
        }
        changeModel("aliases", "SetAlias", known: ["alias", "version"]) { name, f in
            SetAliasRequest(model: name, alias: try f.string("alias"), version: try f.string("version"))
        }
        changeModel("traffic", "SetTraffic", known: ["targets", "shadow"]) { name, f in
            SetTrafficRequest(model: name, targets: try JSONFields.trafficTargets(f.value("targets"), field: "targets"),
                              shadow: try JSONFields.trafficTarget(f.value("shadow"), field: "shadow"))
        }
        r.add("POST", "/api/v1/models/{model}/versions/{version}/scale", requiresAuth: true) { request, responder in
            let name = request.params["model"]!
            let version = request.params["version"]!
            api(responder) {
                let f = try JSONFields(body: request.body, known: ["minReplicas", "maxReplicas", "autoscaling"])
                let message = ScaleModelVersionRequest(model: name, version: version, minReplicas: try f.int32("minReplicas"),
                                                       maxReplicas: try f.int32("maxReplicas"),
                                                       autoscaling: try f.autoscaling("autoscaling"))
                return .json(200, try await console.adminCall("ScaleModelVersion", message, as: ModelVersion.self).jsonObject())
            }
        }
        let delete: HTTPHandler = { request, responder in
            let message = DeleteModelRequest(model: request.params["model"]!, version: request.params["version"] ?? "")
            api(responder) {
                let response = try await console.adminCall("DeleteModel", message, as: DeleteModelResponse.self)
                return .json(200, ["deleted": response.deleted.map { $0.jsonObject() }])
            }
        }
        r.add("DELETE", "/api/v1/models/{model}", requiresAuth: true, delete)
        r.add("DELETE", "/api/v1/models/{model}/versions/{version}", requiresAuth: true, delete)
        r.add("POST", "/api/v1/models/{model}/predict", requiresAuth: true) { request, responder in
            let name = request.params["model"]!
            api(responder) { try await predict(console, model: name, request) }
        }
        OIPRoutes.add(to: r, console: console)
        r.add("GET", "/api/v1/events", requiresAuth: true) { request, responder in
            let items = request.queryItems
            api(responder) {
                let response = try await console.adminCall("ListEvents", try eventsRequest(items), as: ListEventsResponse.self)
                return .json(200, ["events": response.events.map { $0.jsonObject() }])
            }
        }
        r.add("GET", "/api/v1/models/{model}/versions/{version}/logs", requiresAuth: true) { request, responder in
            let (model, version, items) = (request.params["model"]!, request.params["version"]!, request.queryItems)
            api(responder) {
                let lines = try await console.logLines(try logsRequest(model: model, version: version, items))
                return .json(200, ["lines": lines.map { $0.jsonObject() }])
            }
        }
        r.add("GET", "/api/v1/stats", requiresAuth: true) { request, responder in
            let interval = Double(console.options.statsIntervalNanos) / 1e9
            do {
                let query = try statsQuery(request.queryItems)
                responder.respond(.json(200, console.stats.jsonObject(intervalSeconds: interval, query)))
            } catch let error as APIError {
                responder.respond(.jsonError(error.status, code: error.code, message: error.message))
            } catch {
                responder.respond(.jsonError(500, code: "INTERNAL", message: "\(error)"))
            }
        }
        return r
    }

    /// Runs an API handler off the loop; `APIError`s become the JSON error shape.
    static func api(_ responder: HTTPResponder, _ body: @escaping @Sendable () async throws -> HTTPResponse) {
        responder.respond {
            do { return try await body() } catch let error as APIError {
                return .jsonError(error.status, code: error.code, message: error.message)
            } catch let status as GRPCStatus {
                let error = APIError(status)
                return .jsonError(error.status, code: error.code, message: error.message)
            } catch {
                return .jsonError(500, code: "INTERNAL", message: "\(error)")
            }
        }
    }

    /// The ListEvents request of `/api/v1/events`'s query (`model`, `version`, `since` in Unix
    /// milliseconds, `limit`); the Admin API validates the values, this only their syntax.
    static func eventsRequest(_ items: [String: String]) throws -> ListEventsRequest {
        if let unknown = items.keys.sorted().first(where: { !["model", "version", "since", "limit"].contains($0) }) {
            throw APIError.invalid("unknown query parameter \"\(unknown)\" (model, version, since, limit)")
        }
        var message = ListEventsRequest(model: items["model"] ?? "", version: items["version"] ?? "")
        if let since = items["since"], !since.isEmpty {
            guard let value = Int64(since) else {
                throw APIError.invalid("since must be a time in Unix milliseconds, got \"\(since)\"")
            }
            message.sinceUnixMs = value
        }
        if let limit = items["limit"], !limit.isEmpty {
            guard let value = Int32(limit) else { throw APIError.invalid("limit must be an integer, got \"\(limit)\"") }
            message.limit = value
        }
        return message
    }

    /// The history query of `/api/v1/stats` (`model`, `version`, `seconds`: the newest samples
    /// covering that long).
    static func statsQuery(_ items: [String: String]) throws -> StatsHistory.Query {
        if let unknown = items.keys.sorted().first(where: { !["model", "version", "seconds"].contains($0) }) {
            throw APIError.invalid("unknown query parameter \"\(unknown)\" (model, version, seconds)")
        }
        var query = StatsHistory.Query(model: items["model"].flatMap { $0.isEmpty ? nil : $0 },
                                       version: items["version"].flatMap { $0.isEmpty ? nil : $0 })
        if let text = items["seconds"], !text.isEmpty {
            guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                throw APIError.invalid("seconds must be a positive number, got \"\(text)\"")
            }
            query.seconds = seconds
        }
        return query
    }

    /// The GetLogs request of `/logs`'s query (`tail`, lines per replica); never follows.
    static func logsRequest(model: String, version: String, _ items: [String: String]) throws -> GetLogsRequest {
        if let unknown = items.keys.sorted().first(where: { $0 != "tail" }) {
            throw APIError.invalid("unknown query parameter \"\(unknown)\" (tail)")
        }
        var message = GetLogsRequest(model: model, version: version)
        if let tail = items["tail"], !tail.isEmpty {
            guard let value = Int32(tail) else { throw APIError.invalid("tail must be an integer, got \"\(tail)\"") }
            message.tailLines = value
        }
        return message
    }

    /// An Admin answer as `M` (INTERNAL when it does not decode).
    static func decode<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> M {
        do { return try M(serializedBytes: bytes) } catch {
            throw APIError(500, "INTERNAL", "cannot decode the Admin response: \(error)")
        }
    }

    static func getModel(_ console: WebConsole, _ table: RouteTable, _ name: String) async throws -> Model {
        guard console.admin != nil else {
            guard let model = staticModels(table).first(where: { $0.name == name }) else {
                throw APIError(404, "NOT_FOUND", "unknown model \"\(name)\"")
            }
            return model
        }
        return try await console.adminCall("GetModel", GetModelRequest(model: name), as: Model.self)
    }

    /// Static-routes mode: the route table as models (a version with endpoints is READY).
    static func staticModels(_ table: RouteTable) -> [Model] {
        table.models.keys.sorted().map { name in
            let routes = table.models[name]!
            let versions = routes.versions.keys.sorted().map { version -> ModelVersion in
                let endpoints = routes.versions[version]!
                var v = ModelVersion(model: name, version: version)
                v.state = endpoints.isEmpty ? .deploying : .ready
                v.readyReplicas = Int32(endpoints.count)
                v.desiredReplicas = Int32(endpoints.count)
                v.minReplicas = Int32(endpoints.count)
                v.maxReplicas = Int32(endpoints.count)
                v.message = endpoints.map(\.description).joined(separator: ", ")
                return v
            }
            return Model(name: name, defaultVersion: routes.defaultVersion, versions: versions)
        }
    }

    /// A real Predict through the gateway's own listener.
    static func predict(_ console: WebConsole, model: String, _ request: HTTPRequest) async throws -> HTTPResponse {
        let f = try JSONFields(body: request.body, known: ["version", "inputs", "parameters", "payload", "timeoutMs"])
        var message = PredictRequest(model: model, version: try f.string("version"))
        message.inputs = try TensorJSON.inputs(f.value("inputs"))
        message.parameters = try f.stringMap("parameters")
        let payload = try f.string("payload")
        if !payload.isEmpty {
            guard let data = Data(base64Encoded: payload) else { throw APIError.invalid("\"payload\" must be base64") }
            message.payload = Array(data)
        }
        // The default is also the ceiling: a call may not hold an HTTP/1.1 connection longer.
        var timeout = Int(try f.int32("timeoutMs"))
        if timeout <= 0 || timeout > console.options.predictTimeoutMs { timeout = console.options.predictTimeoutMs }
        guard let client = console.client else { throw APIError(503, "UNAVAILABLE", "the gateway is not serving yet") }
        var metadata: [(String, String)] = []
        if let authorization = request.header("authorization") { metadata.append(("authorization", authorization)) }
        let started = ContinuousClock.now
        let reply = try await client.unary(path: "/byoc.v1.Inference/Predict", request: message.serializedBytes(),
                                           metadata: metadata, timeoutMs: timeout)
        let elapsed = ContinuousClock.now - started
        let latencyMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let response: PredictResponse
        do { response = try PredictResponse(serializedBytes: reply.message) } catch {
            throw APIError(502, "INTERNAL", "the model's response is not a PredictResponse: \(error)")
        }
        var outputs: [String: Any] = [:]
        for (name, tensor) in response.outputs { outputs[name] = TensorJSON.nestedObject(tensor) }
        var body: [String: Any] = ["model": response.model, "version": response.version, "outputs": outputs,
                                   "latencyMs": (latencyMs * 1000).rounded() / 1000]
        if let servedBy = reply.headers[field: "byoc-served-by"] { body["servedBy"] = servedBy }
        if !response.payload.isEmpty { body["payload"] = Data(response.payload).base64EncodedString() }
        return .json(200, body)
    }

    /// The error code name of an HTTP status answered without an RPC (404, 405, ...).
    static func codeName(_ status: Int) -> String {
        switch status {
        case 400: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 405: return "METHOD_NOT_ALLOWED"
        case 413: return "RESOURCE_EXHAUSTED"
        case 503: return "UNAVAILABLE"
        default: return "HTTP_\(status)"
        }
    }
}

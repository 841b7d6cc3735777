import Foundation
import GRPC
import HTTP1
import Messages

/// The Open Inference Protocol's REST API (`/v2/...`, KServe v2 / Triton's HTTP API) on the
/// gateway's port, over HTTP/1.1 and h2: each request becomes the gRPC call a gRPC client would
/// make (`inference.GRPCInferenceService/...`) through the gateway's own listener, so routing,
/// balancing, deadlines and auth are exactly those of gRPC; models stay gRPC-only.
///
/// Errors have KServe's shape, `{"error": "message"}`, with the HTTP status of the gRPC code.
enum OIPRoutes {
    static let service = "/inference.GRPCInferenceService/"
    /// The binary tensor data extension: the JSON part's length; the rest is tensor bytes.
    static let headerLengthField = "inference-header-content-length"
    /// Where bodies may be as large as a gRPC message (`HTTPLimits.largeBodyPathPrefix`).
    static let largeBodyPrefix = "/v2/models/"

    static func add(to r: HTTPRouter, console: WebConsole) {
        r.add("GET", "/v2") { request, responder in
            call(console, request, responder, "ServerMetadata", ServerMetadataRequest()) { (reply: ServerMetadataResponse) in
                .json(200, ["name": reply.name, "version": reply.version, "extensions": reply.extensions])
            }
        }
        r.add("GET", "/v2/health/live") { request, responder in
            call(console, request, responder, "ServerLive", ServerLiveRequest()) { (reply: ServerLiveResponse) in
                .json(reply.live ? 200 : 503, ["live": reply.live])
            }
        }
        r.add("GET", "/v2/health/ready") { request, responder in
            call(console, request, responder, "ServerReady", ServerReadyRequest()) { (reply: ServerReadyResponse) in
                .json(reply.ready ? 200 : 503, ["ready": reply.ready])
            }
        }
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            r.add("GET", prefix) { request, responder in
                let (model, version) = names(request)
                call(console, request, responder, "ModelMetadata", ModelMetadataRequest(name: model, version: version),
                     model: model, version: version) { (reply: ModelMetadataResponse) in
                    .json(200, ["name": reply.name, "versions": reply.versions, "platform": reply.platform,
                                "inputs": reply.inputs.map(tensorMetadata), "outputs": reply.outputs.map(tensorMetadata)])
                }
            }
            r.add("GET", prefix + "/ready") { request, responder in
                let (model, version) = names(request)
                call(console, request, responder, "ModelReady", ModelReadyRequest(name: model, version: version)) { (reply: ModelReadyResponse) in
                    .json(reply.ready ? 200 : 503, ["name": model, "ready": reply.ready])
                }
            }
            r.add("POST", prefix + "/infer") { request, responder in
                infer(console, request, responder)
            }
        }
    }

    /// Model and version from the path (version "" = the model's default, split or alias).
    static func names(_ request: HTTPRequest) -> (String, String) {
        (request.params["model"] ?? "", request.params["version"] ?? "")
    }

    static func tensorMetadata(_ t: TensorMetadata) -> [String: Any] {
        ["name": t.name, "datatype": t.datatype, "shape": t.shape.map { Int($0) }]
    }

    /// POST .../infer: JSON (and binary tensor data) -> ModelInfer -> JSON (and binary data).
    static func infer(_ console: WebConsole, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let (model, version) = names(request)
        respond(responder) {
            var header = request.body
            var binary: [UInt8] = []
            if let text = request.header(headerLengthField) {
                guard let length = Int(text.trimmingCharacters(in: .whitespaces)), length >= 0, length <= request.body.count else {
                    throw APIError.invalid("\(headerLengthField) must be the length of the JSON part (0...\(request.body.count))")
                }
                header = Array(request.body[..<length])
                binary = Array(request.body[length...])
            }
            let translated: OIPJSON.Request
            do { translated = try OIPJSON.request(header: header, binary: binary, model: model, version: version) } catch let error as OIPJSONError {
                throw APIError.invalid(error.message)
            }
            let reply = try await grpc(console, request, "ModelInfer", translated.message.serializedBytes(), model: model, version: version)
            let message: ModelInferResponse
            do { message = try ModelInferResponse(serializedBytes: reply) } catch {
                throw APIError(502, "INTERNAL", "the model's answer is not a ModelInferResponse: \(error)")
            }
            let answer: OIPJSON.Response
            do {
                answer = try OIPJSON.response(message, binaryOutputs: translated.binaryOutputs, binaryAll: translated.binaryAll)
            } catch let error as OIPJSONError {
                throw APIError(502, "INTERNAL", "the model's answer cannot be translated: \(error.message)")
            }
            let json = try JSONSerialization.data(withJSONObject: answer.json, options: [.sortedKeys])
            guard !answer.binary.isEmpty || !translated.binaryOutputs.isEmpty || translated.binaryAll else {
                return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(json))
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/octet-stream"),
                                                       ("Inference-Header-Content-Length", String(json.count))],
                                body: Array(json) + answer.binary)
        }
    }

    /// A unary gRPC call of the OIP service through the gateway, answered with `render`.
    static func call<Request: ProtoMessage, Reply: ProtoMessage>(
        _ console: WebConsole, _ http: HTTPRequest, _ responder: HTTPResponder, _ method: String, _ message: Request,
        model: String = "", version: String = "", render: @escaping @Sendable (Reply) -> HTTPResponse
    ) {
        let bytes = message.serializedBytes()
        respond(responder) {
            let reply = try await grpc(console, http, method, bytes, model: model, version: version)
            do { return render(try Reply(serializedBytes: reply)) } catch {
                throw APIError(502, "INTERNAL", "the answer to \(method) is not a \(Reply.protoMessageName): \(error)")
            }
        }
    }

    /// Calls `method` through the gateway's own listener, with the caller's credentials and
    /// trace context (`traceparent`, `tracestate`); the model (when given) also travels as
    /// `byoc-model`/`byoc-version`, so the call routes before its body is read.
    static func grpc(_ console: WebConsole, _ http: HTTPRequest, _ method: String, _ bytes: [UInt8],
                     model: String, version: String) async throws -> [UInt8] {
        guard let client = console.client else { throw APIError(503, "UNAVAILABLE", "the gateway is not serving yet") }
        var metadata: [(String, String)] = []
        if let authorization = http.header("authorization") { metadata.append(("authorization", authorization)) }
        if let traceparent = http.header("traceparent") { metadata.append(("traceparent", traceparent)) }
        if let tracestate = http.header("tracestate") { metadata.append(("tracestate", tracestate)) }
        if !model.isEmpty {
            metadata.append(("byoc-model", model))
            if !version.isEmpty { metadata.append(("byoc-version", version)) }
        }
        return try await client.unary(path: service + method, request: bytes, metadata: metadata,
                                      timeoutMs: console.options.predictTimeoutMs).message
    }

    /// Runs `body` off the loop; errors become KServe's `{"error": ...}` with the HTTP status
    /// of their gRPC code.
    static func respond(_ responder: HTTPResponder, _ body: @escaping @Sendable () async throws -> HTTPResponse) {
        responder.respond {
            do { return try await body() } catch let error as APIError {
                return .json(error.status, ["error": error.message])
            } catch let status as GRPCStatus {
                let error = APIError(status)
                return .json(error.status, ["error": error.message])
            } catch {
                return .json(500, ["error": "\(error)"])
            }
        }
    }
}

// byoc-echo-model: the example Swift model server, built on the project's own gRPC server.
//
// It echoes its inputs as outputs (byoc.v1 Predict and the Open Inference Protocol's
// ModelInfer and ModelStreamInfer), sleeps `parameters["delay_ms"]` when given, answers
// ModelMetadata and ModelConfig, and serves grpc.health.v1.
// Tests and benchmarks use it as a model pod; it is also the example of a Swift model container.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPC
import HTTP2
import Messages
import Server
import Transport

/// Command-line options, with the runtime's environment (PORT, BYOC_MODEL, BYOC_VERSION) as defaults.
struct EchoOptions {
    var host = "0.0.0.0"
    var port = 8080
    var model = "echo"
    var version = "1"
    var id: String?
    var workers = 1
    /// Every Predict and ModelInfer waits this long first (a slow model), added to `delay_ms`.
    var delayMs = 0
    /// Every Predict and ModelInfer fails with this gRPC status (a failing model); nil: none.
    var failCode: Int?

    static func parse(_ arguments: [String], environment: [String: String]) throws -> EchoOptions {
        var options = EchoOptions()
        if let port = environment["PORT"].flatMap(Int.init) { options.port = port }
        if let model = environment["BYOC_MODEL"], !model.isEmpty { options.model = model }
        if let version = environment["BYOC_VERSION"], !version.isEmpty { options.version = version }
        if let host = environment["BYOC_HOST"], !host.isEmpty { options.host = host }
        var index = 0
        func value(_ flag: String) throws -> String {
            index += 1
            guard index < arguments.count else { throw UsageError(message: "\(flag) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--listen":
                let text = try value(argument)
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                    throw UsageError(message: "--listen takes HOST:PORT, got \(text)")
                }
                options.host = String(text[..<colon])
                options.port = port
            case "--model": options.model = try value(argument)
            case "--version": options.version = try value(argument)
            case "--id": options.id = try value(argument)
            case "--workers":
                guard let n = Int(try value(argument)), n > 0 else { throw UsageError(message: "--workers takes a positive number") }
                options.workers = n
            case "--delay-ms":
                guard let n = Int(try value(argument)), n >= 0 else { throw UsageError(message: "--delay-ms takes a number of milliseconds") }
                options.delayMs = n
            case "--fail":
                guard let code = Int(try value(argument)), (1...16).contains(code) else {
                    throw UsageError(message: "--fail takes a gRPC status code 1...16")
                }
                options.failCode = code
            case "-h", "--help":
                print("usage: byoc-echo-model [--listen HOST:PORT] [--model NAME] [--version V] [--id ID] [--workers N] [--delay-ms N] [--fail CODE]")
                exit(0)
            default:
                throw UsageError(message: "unknown argument \(argument)")
            }
            index += 1
        }
        return options
    }
}

struct UsageError: Error {
    var message: String
}

/// The echo model's handlers for one worker.
struct EchoService {
    let options: EchoOptions
    let servedBy: String

    func handlers(loop: EventLoop) -> [String: UnaryCall.Handler] {
        [
            "/byoc.v1.Inference/Predict": predict,
            "/grpc.health.v1.Health/Check": healthCheck,
            "/inference.GRPCInferenceService/ModelInfer": modelInfer,
            "/inference.GRPCInferenceService/ModelMetadata": modelMetadata,
            "/inference.GRPCInferenceService/ModelConfig": modelConfig,
            "/inference.GRPCInferenceService/ModelReady": modelReady,
            "/inference.GRPCInferenceService/ServerLive": { call, _ in call.respond(ServerLiveResponse(live: true).serializedBytes()) },
            "/inference.GRPCInferenceService/ServerReady": { call, _ in call.respond(ServerReadyResponse(ready: true).serializedBytes()) },
        ]
    }

    private func watchCancellation(_ call: UnaryCall) {
        let path = call.head.path
        call.onCancel = {
            print("cancelled \(path)")
            fflush(stdout)
        }
        call.responseMetadata = [HeaderField("byoc-served-by", servedBy)]
    }

    /// Runs `body` after `parameters["delay_ms"]`, on the call's loop, unless it was cancelled.
    private func afterDelay(_ call: UnaryCall, _ parameters: [String: String], _ body: @escaping () -> Void) {
        var body = body
        if let code = options.failCode.flatMap(GRPCStatusCode.init(rawValue:)) {
            body = { call.fail(GRPCStatus(code, "byoc-echo-model --fail \(code.rawValue)")) }
        }
        let delay = (parameters["delay_ms"].flatMap(Int.init) ?? 0) + options.delayMs
        guard delay > 0 else {
            body()
            return
        }
        call.loop.schedule(afterNanos: UInt64(delay) * 1_000_000) {
            if !call.isFinished { body() }
        }
    }

    /// Decodes a call's request, failing the call INVALID_ARGUMENT when it does not decode.
    private func decode<Request: ProtoMessage>(_ call: UnaryCall, _ message: [UInt8], as _: Request.Type) -> Request? {
        do { return try Request(serializedBytes: message) } catch {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode \(Request.self): \(error)"))
            return nil
        }
    }

    func predict(_ call: UnaryCall, _ message: [UInt8]) {
        watchCancellation(call)
        guard let request = decode(call, message, as: PredictRequest.self) else { return }
        afterDelay(call, request.parameters) {
            var response = PredictResponse(model: options.model, version: options.version,
                                           outputs: request.inputs, payload: request.payload)
            if let size = request.parameters["response_bytes"].flatMap(Int.init), size >= 0 {
                response.payload = [UInt8](repeating: 0x61, count: size)
            }
            call.respond(response.serializedBytes())
        }
    }

    /// The response echoing `request`.
    private func echo(_ request: ModelInferRequest) -> ModelInferResponse {
        let outputs = request.inputs.map { input in
            InferOutputTensor(name: input.name, datatype: input.datatype, shape: input.shape,
                              parameters: input.parameters, contents: input.contents)
        }
        return ModelInferResponse(modelName: options.model, modelVersion: options.version, id: request.id,
                                  parameters: [:], outputs: outputs, rawOutputContents: request.rawInputContents)
    }

    /// ModelStreamInfer: each request's echo as it arrives (a request for another model or
    /// version gets an `error_message` answer, as Triton's do); the call ends when the client's
    /// requests do. No delay or --fail: the stream measures the path, not a model.
    func modelStreamInfer(_ call: BidiCall, _ message: [UInt8]) {
        let response: ModelStreamInferResponse
        if let request = try? ModelInferRequest(serializedBytes: message) {
            if request.modelName == options.model && (request.modelVersion.isEmpty || request.modelVersion == options.version) {
                response = ModelStreamInferResponse(inferResponse: echo(request))
            } else {
                response = ModelStreamInferResponse(errorMessage: "this server serves \(options.model) version \(options.version)")
            }
        } else {
            response = ModelStreamInferResponse(errorMessage: "cannot decode ModelInferRequest")
        }
        call.send(response.serializedBytes())
    }

    func modelInfer(_ call: UnaryCall, _ message: [UInt8]) {
        watchCancellation(call)
        guard let request = decode(call, message, as: ModelInferRequest.self) else { return }
        var parameters: [String: String] = [:]
        if case .int64(let delay)? = request.parameters["delay_ms"] { parameters["delay_ms"] = String(delay) }
        afterDelay(call, parameters) {
            call.respond(echo(request).serializedBytes())
        }
    }

    func modelMetadata(_ call: UnaryCall, _ message: [UInt8]) {
        let response = ModelMetadataResponse(name: options.model, versions: [options.version], platform: "byoc-echo",
                                             inputs: [], outputs: [])
        call.respond(response.serializedBytes())
    }

    func modelConfig(_ call: UnaryCall, _ message: [UInt8]) {
        let config = ModelConfig(name: options.model, platform: "byoc-echo", backend: "byoc-echo", maxBatchSize: 0)
        call.respond(ModelConfigResponse(config: config).serializedBytes())
    }

    func modelReady(_ call: UnaryCall, _ message: [UInt8]) {
        let request = (try? ModelReadyRequest(serializedBytes: message)) ?? ModelReadyRequest()
        let ready = request.name == options.model && (request.version.isEmpty || request.version == options.version)
        call.respond(ModelReadyResponse(ready: ready).serializedBytes())
    }

    func healthCheck(_ call: UnaryCall, _ message: [UInt8]) {
        guard let request = decode(call, message, as: HealthCheckRequest.self) else { return }
        let known = ["", options.model, "\(options.model)/\(options.version)", "byoc.v1.Inference",
                     "inference.GRPCInferenceService"]
        guard known.contains(request.service) else {
            call.fail(GRPCStatus(.notFound, "unknown service \(request.service)"))
            return
        }
        call.respond(HealthCheckResponse(status: .serving).serializedBytes())
    }
}

/// The echo model's calls on one worker: ModelStreamInfer as a bidirectional stream, the rest unary.
final class EchoDispatcher: GRPCCallDispatcher {
    private let unary: UnaryDispatcher
    private let service: EchoService

    init(unary: UnaryDispatcher, service: EchoService) {
        self.unary = unary
        self.service = service
    }

    func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        guard head.path == "/inference.GRPCInferenceService/ModelStreamInfer" else { return unary.dispatch(stream, head: head) }
        return BidiCall(stream: stream, head: head, loop: unary.loop, maxMessageBytes: unary.maxMessageBytes,
                        onMessage: service.modelStreamInfer)
    }
}

setvbuf(stdout, nil, _IOLBF, 0)
let options: EchoOptions
do {
    options = try EchoOptions.parse(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("byoc-echo-model: \(error.message)\n".utf8))
    exit(2)
}

let stopped = DispatchSemaphore(value: 0)
let signals = SignalWatcher { _ in stopped.signal() }
var config = GRPCServerConfig(host: options.host, port: options.port, workers: options.workers)
config.gracePeriodNanos = 5_000_000_000
let server = GRPCServer(config: config)
do {
    try server.start { _, loop in
        let servedBy = options.id ?? server.boundAddress.map { "\($0)" } ?? "\(options.host):\(options.port)"
        let service = EchoService(options: options, servedBy: servedBy)
        return EchoDispatcher(unary: UnaryDispatcher(loop: loop, maxMessageBytes: 512 << 20, handlers: service.handlers(loop: loop)),
                              service: service)
    }
} catch {
    FileHandle.standardError.write(Data("byoc-echo-model: cannot listen on \(options.host):\(options.port): \(error)\n".utf8))
    exit(1)
}
print("listening on \(server.boundAddress!)")
stopped.wait()
server.shutdown()
exit(0)

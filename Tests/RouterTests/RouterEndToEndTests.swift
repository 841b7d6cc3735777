#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Routing
import Server
import TestSupport
import XCTest
import GRPC
import HTTP2
import Messages
import Transport
@testable import Router

/// A model server (GRPCServer + UnaryDispatcher) that answers Predict with its own name.
final class FakeModel: @unchecked Sendable {
    let name: String
    let server: GRPCServer
    let port: Int
    /// Request headers of every call it received.
    let requests = Locked<[[HeaderField]]>([])
    /// Calls cancelled before they were answered.
    let cancels = Locked(0)
    let handlerStarted = DispatchSemaphore(value: 0)

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    init(name: String) throws {
        self.name = name
        let requests = self.requests
        let cancels = self.cancels
        let started = handlerStarted
        let predict: UnaryCall.Handler = { call, message in
            requests.withLock { $0.append(call.head.headers.fields) }
            call.onCancel = { cancels.withLock { $0 += 1 } }
            started.signal()
            call.responseMetadata = [HeaderField("x-served-by", name)]
            guard let request = try? PredictRequest(serializedBytes: message) else {
                call.fail(GRPCStatus(.invalidArgument, "model \(name) cannot decode the request"))
                return
            }
            if request.parameters["never"] != nil { return }
            if let code = request.parameters["fail"].flatMap(Int.init).flatMap(GRPCStatusCode.init(rawValue:)) {
                call.fail(GRPCStatus(code, "failed by \(name)"))
                return
            }
            let response = PredictResponse(model: name, version: request.version, payload: request.payload)
            if let delay = request.parameters["delay_ms"].flatMap(UInt64.init) {
                call.loop.schedule(afterNanos: delay * 1_000_000) { call.respond(response.serializedBytes()) }
            } else {
                call.respond(response.serializedBytes())
            }
        }
        let echo: UnaryCall.Handler = { call, message in
            requests.withLock { $0.append(call.head.headers.fields) }
            call.responseMetadata = [HeaderField("x-served-by", name)]
            call.respond(message)
        }
        (server, port) = try startServer { _, loop in
            UnaryDispatcher(loop: loop, maxMessageBytes: 64 << 20, handlers: [
                "/byoc.v1.Inference/Predict": predict,
                "/custom.Service/Echo": echo,
            ])
        }
    }

    func stop() { server.shutdown() }
}

final class RouterEndToEndTests: XCTestCase {
    private var models: [FakeModel] = []
    private var gateway: GRPCServer?
    private var routers: [RouterWorker] = []
    private var clients: [TestClient] = []

    override func tearDown() {
        clients.forEach { $0.shutdown() }
        clients = []
        if let gateway {
            gateway.shutdown()
        }
        gateway = nil
        routers = []
        models.forEach { $0.stop() }
        models = []
        super.tearDown()
    }

    private func model(_ name: String) throws -> FakeModel {
        let model = try FakeModel(name: name)
        models.append(model)
        return model
    }

    /// A port nothing listens on.
    private func closedPort() throws -> Int {
        let fd = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0), sharing: .exclusive)
        let port = try Socket.localAddress(fd).port
        Socket.close(fd)
        return port
    }

    /// Starts a one-worker gateway routing with `table`; returns a client connected to it.
    private func startGateway(_ models: [String: ModelRoutes], config: RouterConfig = RouterConfig(),
                              seed: UInt64 = 1) throws -> TestClient {
        let table = RouteTable(generation: 1, models: models)
        var made: [RouterWorker] = []
        let lock = NSLock()
        let (gateway, port) = try startServer { _, loop in
            let router = RouterWorker(loop: loop, config: config, routeTable: table, admin: nil, seed: seed)
            lock.lock()
            made.append(router)
            lock.unlock()
            return router
        }
        self.gateway = gateway
        routers = made
        let client = try TestClient(port: port)
        clients.append(client)
        return client
    }

    private func predict(_ client: TestClient, model: String = "iris", version: String = "", payload: [UInt8] = [1, 2, 3],
                         parameters: [String: String] = [:], extra: [HeaderField] = [], timeout: Double = 10) -> CallRecorder {
        let request = PredictRequest(model: model, version: version, payload: payload, parameters: parameters)
        return client.unary("/byoc.v1.Inference/Predict", request.serializedBytes(), extra: extra, timeout: timeout)
    }

    private func response(_ call: CallRecorder, file: StaticString = #filePath, line: UInt = #line) -> PredictResponse? {
        guard call.grpcStatus == 0, let message = call.messages.first else {
            XCTFail("call failed: \(call.grpcStatus.map(String.init) ?? "no status") \(call.grpcMessage ?? "") \(call.reason.map { "\($0)" } ?? "")",
                    file: file, line: line)
            return nil
        }
        return try? PredictResponse(serializedBytes: message)
    }

    /// Runs `body` on the gateway's (only) worker loop.
    private func onWorker<T>(_ body: @escaping (RouterWorker) -> T) -> T {
        let router = routers[0]
        let done = DispatchSemaphore(value: 0)
        var result: T?
        router.loop.execute {
            result = body(router)
            done.signal()
        }
        done.wait()
        return result!
    }

    // MARK: Routing

    func testPredictRoutedByBodyFields() throws {
        let a = try model("A"), b = try model("B")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint], "2": [b.endpoint]])])
        let payload = randomBytes(1_000)

        let v2 = predict(client, version: "2", payload: payload)
        XCTAssertEqual(response(v2)?.model, "B")
        XCTAssertEqual(response(v2)?.payload, payload)
        XCTAssertEqual(v2.responseHeaders?[field: "x-served-by"], "B", "upstream response metadata reaches the client")
        XCTAssertEqual(v2.trailers?[field: "grpc-status"], "0")

        XCTAssertEqual(response(predict(client, version: "1"))?.model, "A")
        XCTAssertEqual(response(predict(client, version: ""))?.model, "A", "empty version = default version")
        XCTAssertEqual(a.requests.current.count, 2)
        XCTAssertEqual(b.requests.current.count, 1)
        XCTAssertEqual(onWorker { $0.counters.calls["iris\u{1}2\u{1}0"] }, 1)
        XCTAssertEqual(onWorker { $0.counters.calls["iris\u{1}1\u{1}0"] }, 2)
    }

    func testRoutedByMetadataHeaders() throws {
        let a = try model("A"), b = try model("B")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint], "2": [b.endpoint]])])
        // The headers win over the body's fields.
        let call = predict(client, model: "something-else", version: "9",
                           extra: [HeaderField("byoc-model", "iris"), HeaderField("byoc-version", "2")])
        XCTAssertEqual(response(call)?.model, "B")
        let byDefault = predict(client, model: "ignored", extra: [HeaderField("byoc-model", "iris")])
        XCTAssertEqual(response(byDefault)?.model, "A")
        // Any method is proxied when byoc-model is set.
        let custom = client.unary("/custom.Service/Echo", [9, 8, 7], extra: [HeaderField("byoc-model", "iris")])
        XCTAssertEqual(custom.grpcStatus, 0)
        XCTAssertEqual(custom.messages, [[9, 8, 7]])
        XCTAssertEqual(custom.responseHeaders?[field: "x-served-by"], "A")
    }

    func testUpstreamRequestHeaders() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let call = predict(client, extra: [HeaderField("grpc-timeout", "5S"), HeaderField("x-request-id", "abc-123")])
        XCTAssertEqual(call.grpcStatus, 0)
        let headers = try XCTUnwrap(a.requests.current.first)
        XCTAssertEqual(headers[field: ":path"], "/byoc.v1.Inference/Predict")
        XCTAssertEqual(headers[field: ":authority"], "127.0.0.1:\(a.port)")
        XCTAssertEqual(headers[field: ":scheme"], "http")
        XCTAssertEqual(headers[field: "te"], "trailers")
        XCTAssertEqual(headers[field: "x-request-id"], "abc-123")
        XCTAssertEqual(headers[field: "content-type"], "application/grpc")
        XCTAssertEqual(headers.filter { $0.name == "grpc-timeout" }.count, 1)
        let timeout = try XCTUnwrap(headers[field: "grpc-timeout"].flatMap(GRPCTimeout.parse))
        XCTAssertLessThanOrEqual(timeout, 5_000_000_000, "the remaining deadline is propagated, not extended")
        XCTAssertGreaterThan(timeout, 4_000_000_000)
    }

    func testUnknownModelAndVersionAreNotFound() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let unknownModel = predict(client, model: "nope")
        XCTAssertEqual(unknownModel.grpcStatus, 5)
        XCTAssertEqual(unknownModel.grpcMessage, "unknown model \"nope\"")
        XCTAssertEqual(unknownModel.httpStatus, "200")
        XCTAssertNil(unknownModel.trailers, "gateway errors are trailers-only")
        let unknownVersion = predict(client, version: "9")
        XCTAssertEqual(unknownVersion.grpcStatus, 5)
        XCTAssertEqual(unknownVersion.grpcMessage, "model \"iris\" has no version \"9\"")
        let byHeader = client.unary("/custom.Service/Echo", [], extra: [HeaderField("byoc-model", "ghost")])
        XCTAssertEqual(byHeader.grpcStatus, 5)
        XCTAssertEqual(a.requests.current.count, 0)
    }

    func testNoReadyEndpointIsUnavailable() throws {
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": []])])
        let call = predict(client)
        XCTAssertEqual(call.grpcStatus, 14)
        XCTAssertEqual(call.grpcMessage, "model \"iris\" version \"1\" has no ready endpoint")
    }

    func testRequestErrorsTheGatewayAnswers() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        // Field 1 as a varint.
        let badField = client.unary("/byoc.v1.Inference/Predict", [0x08, 0x01])
        XCTAssertEqual(badField.grpcStatus, 3)
        XCTAssertEqual(badField.grpcMessage,
                       "cannot read model and version from the request: field 1 (model) must be a string, found wire type 0")
        let emptyModel = predict(client, model: "")
        XCTAssertEqual(emptyModel.grpcStatus, 3)
        XCTAssertEqual(emptyModel.grpcMessage, "empty model name: set field 1 (model) or the byoc-model header")
        let noMessage = client.raw(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"), body: [])
        XCTAssertEqual(noMessage.grpcStatus, 3)
        XCTAssertEqual(noMessage.grpcMessage, "the request has no message")
        let truncated = client.raw(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                   body: [0, 0, 0, 0, 20, 0x0A, 4, 0x69, 0x72])
        XCTAssertEqual(truncated.grpcStatus, 3)
        XCTAssertEqual(truncated.grpcMessage, "the stream ended inside the first message")
        let compressed = client.raw(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict",
                                                                       extra: [HeaderField("grpc-encoding", "gzip")]),
                                    body: [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(compressed.grpcStatus, 3)
        XCTAssertEqual(compressed.grpcMessage, "compressed requests need the byoc-model header to be routed")
        let unknownMethod = client.unary("/custom.Service/Echo", [1])
        XCTAssertEqual(unknownMethod.grpcStatus, 12)
        let admin = client.unary("/byoc.v1.Admin/ListModels", [])
        XCTAssertEqual(admin.grpcStatus, 12, "no admin handler: UNIMPLEMENTED")
        XCTAssertEqual(a.requests.current.count, 0, "nothing reached the model")
    }

    func testMessageLimitThroughTheProxy() throws {
        let a = try model("A")
        var config = RouterConfig()
        config.maxMessageBytes = 2_000
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])], config: config)
        let small = predict(client, payload: [UInt8](repeating: 1, count: 1_000))
        XCTAssertEqual(small.grpcStatus, 0)
        let large = predict(client, payload: [UInt8](repeating: 1, count: 3_000))
        XCTAssertEqual(large.grpcStatus, 8)
        XCTAssertTrue(large.grpcMessage?.hasSuffix("is larger than the limit of 2000 bytes") ?? false, large.grpcMessage ?? "")
    }

    func testFourMiBThroughTheProxy() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let payload = randomBytes(4 << 20)
        let call = predict(client, payload: payload, timeout: 30)
        let reply = response(call)
        XCTAssertEqual(reply?.payload.count, payload.count)
        XCTAssertTrue(reply?.payload == payload, "the 4 MiB payload came back altered")
        XCTAssertGreaterThan(call.dataCalls, 100)
    }

    /// A first message that stops part way (200 KiB of 1 MiB, routed by header) is buffered
    /// and reaches no model (issue 18: after 64 KiB the call went on and held a model worker
    /// until the caller left); `firstMessageTimeoutNanos` then answers DEADLINE_EXCEEDED and
    /// the buffer is given back. A message sent in two parts is served whole.
    func testAStalledFirstMessageReachesNoModelAndTimesOut() throws {
        let a = try model("A")
        var config = RouterConfig()
        config.firstMessageTimeoutNanos = 500_000_000
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])], config: config)
        let payload = randomBytes(1 << 20)
        let framed = GRPCFraming.frame(PredictRequest(model: "iris", version: "1", payload: payload).serializedBytes())
        let headers = TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict",
                                                extra: [HeaderField("byoc-model", "iris"), HeaderField("byoc-version", "1")])
        let split = 200 << 10
        let (_, stalled) = client.start(headers: headers, body: Array(framed[..<split]), end: false)
        stalled.wait()
        XCTAssertEqual(stalled.grpcStatus, 4)
        XCTAssertEqual(stalled.grpcMessage, "the first request message was not whole 500 ms after it began (--first-message-timeout-ms)")
        XCTAssertEqual(onWorker { $0.pool.endpoints[a.endpoint]?.connections.count ?? 0 }, 0, "no stream went to the model")
        XCTAssertEqual(onWorker { $0.firstMessageBuffered }, 0, "the buffer was given back")

        let (stream, whole) = client.start(headers: headers, body: Array(framed[..<split]), end: false)
        let opened = try XCTUnwrap(stream)
        usleep(100_000)  // the first part arrives (and is buffered) on its own
        client.thread.sync {
            opened.write(Array(framed[split...]))
            opened.finish()
        }
        whole.wait(timeout: 20)
        XCTAssertEqual(response(whole)?.payload, payload)
        XCTAssertEqual(onWorker { $0.firstMessageBuffered }, 0)
    }

    func testModelErrorStatusIsPassedThrough() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let call = predict(client, parameters: ["fail": "9"])
        XCTAssertEqual(call.grpcStatus, 9)
        XCTAssertEqual(call.grpcMessage, "failed by A")
        XCTAssertEqual(onWorker { $0.counters.calls["iris\u{1}1\u{1}9"] }, 1)
    }

    func testInstallingANewTableChangesRouting() throws {
        let a = try model("A"), b = try model("B")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        XCTAssertEqual(response(predict(client))?.model, "A")
        let next = RouteTable(generation: 2, models: ["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [b.endpoint]])])
        onWorker { $0.install(next) }
        XCTAssertEqual(response(predict(client))?.model, "B")
    }

    // MARK: Failures, retries, deadlines, cancellation

    func testClosedPortIsUnavailableQuickly() throws {
        let port = try closedPort()
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [Endpoint(host: "127.0.0.1", port: port)]])])
        let started = Date()
        let call = predict(client)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
        XCTAssertEqual(call.grpcStatus, 14)
        let message = call.grpcMessage ?? ""
        XCTAssertTrue(message.contains("127.0.0.1:\(port)") && message.lowercased().contains("refused"), message)
        // In backoff now: the next call fails at once without connecting.
        let again = predict(client)
        XCTAssertEqual(again.grpcStatus, 14)
    }

    func testRetryOnTheSecondEndpointWhenTheFirstRefuses() throws {
        let live = try model("live")
        let dead = Endpoint(host: "127.0.0.1", port: try closedPort())
        // Order the endpoints so the balancer's first pick (deterministic for a seed) is the dead one.
        let seed: UInt64 = 77
        var random = FastRandom(seed: seed)
        let first = try XCTUnwrap(PowerOfTwoChoices.pick(load: [0, 0], eligible: [true, true], random: &random))
        let endpoints = first == 0 ? [dead, live.endpoint] : [live.endpoint, dead]
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": endpoints])], seed: seed)
        let call = predict(client, payload: [4, 5, 6])
        XCTAssertEqual(response(call)?.model, "live")
        XCTAssertEqual(response(call)?.payload, [4, 5, 6], "the replayed request body arrived intact")
        XCTAssertEqual(live.requests.current.count, 1)
        XCTAssertEqual(onWorker { $0.counters.retries["iris\u{1}1"] }, 1)
        XCTAssertFalse(onWorker { $0.pool.isAvailable($0.pool.state(for: dead)) }, "the refusing endpoint is in backoff")
        // While it is in backoff every call goes straight to the live one.
        for _ in 0..<5 { XCTAssertEqual(response(predict(client))?.model, "live") }
        XCTAssertEqual(onWorker { $0.counters.retries["iris\u{1}1"] }, 1)
    }

    /// A model version's only endpoint refuses a stream (REFUSED_STREAM: nothing reached the
    /// model; it is going away or over a limit): the retry goes to the same endpoint, instead
    /// of UNAVAILABLE "no endpoint ... is reachable" (issue 18's deadline storm: the model's
    /// rapid-reset limit ended the connection and refused the streams in flight).
    func testARefusedStreamIsRetriedOnTheOnlyEndpoint() throws {
        final class RefuseFirst: GRPCCallDispatcher, HTTP2StreamDelegate {
            let inner: GRPCCallDispatcher
            var refused = false
            init(_ inner: GRPCCallDispatcher) { self.inner = inner }
            func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
                guard refused else {
                    refused = true
                    stream.reset(.refusedStream)
                    return self
                }
                return inner.dispatch(stream, head: head)
            }
            func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {}
            func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) { stream.consume(data.count) }
            func streamEnded(_ stream: HTTP2Stream) {}
            func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {}
        }
        let (server, port) = try startServer { _, loop in
            RefuseFirst(UnaryDispatcher(loop: loop, maxMessageBytes: 1 << 20, handlers: [
                "/byoc.v1.Inference/Predict": { call, message in call.respond(PredictResponse(model: "once-refused").serializedBytes()) },
            ]))
        }
        defer { server.shutdown() }
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [Endpoint(host: "127.0.0.1", port: port)]])])
        let call = predict(client)
        XCTAssertEqual(response(call)?.model, "once-refused")
        XCTAssertEqual(onWorker { $0.counters.retries["iris\u{1}1"] }, 1)
    }

    func testAllEndpointsRefusingIsUnavailable() throws {
        let dead1 = Endpoint(host: "127.0.0.1", port: try closedPort())
        let dead2 = Endpoint(host: "127.0.0.1", port: try closedPort())
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [dead1, dead2]])])
        let started = Date()
        let call = predict(client)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
        XCTAssertEqual(call.grpcStatus, 14)
    }

    func testDeadlineExceededThroughTheProxyCancelsTheModelCall() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let call = predict(client, parameters: ["never": "1"], extra: [HeaderField("grpc-timeout", "100m")])
        XCTAssertEqual(call.grpcStatus, 4)
        // Either the gateway's timer ("deadline exceeded after N ms") or the model's own, from the
        // propagated grpc-timeout ("deadline exceeded"), may win the race.
        XCTAssertTrue(call.grpcMessage?.hasPrefix("deadline exceeded") ?? false, call.grpcMessage ?? "")
        XCTAssertGreaterThanOrEqual(call.elapsedMs, 90)
        XCTAssertLessThan(call.elapsedMs, 600)
        XCTAssertTrue(waitUntil { a.cancels.current == 1 }, "the model's call was not cancelled")
    }

    /// grpc-timeout "99999999H" parses to UInt64.max; the proxy must neither expire the call at
    /// once nor trap while formatting the upstream grpc-timeout. Runs in a child process because
    /// the failure mode is a crash of the whole process.
    func testHugeTimeoutThroughTheProxyDoesNotExpireOrCrash() throws {
        guard !isCrashProbe else { throw XCTSkip("parent-only test") }
        let probe = try runCrashProbe("RouterTests.RouterEndToEndTests/testProbeHugeTimeoutThroughTheProxy")
        XCTAssertTrue(probe.normalExit, "the gateway process crashed on grpc-timeout 99999999H (signal \(probe.status))")
        XCTAssertEqual(probe.status, 0, "the call failed: " + probe.output.split(separator: "\n").filter { $0.contains("error:") }.joined(separator: " | "))
    }

    func testProbeHugeTimeoutThroughTheProxy() throws {
        guard isCrashProbe else { throw XCTSkip("runs only as a crash probe in a child process") }
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let call = predict(client, parameters: ["delay_ms": "30"], extra: [HeaderField("grpc-timeout", "99999999H")])
        XCTAssertEqual(call.grpcStatus, 0, "grpc-timeout 99999999H: \(call.grpcStatus.map(String.init) ?? "nil") \(call.grpcMessage ?? "")")
    }

    func testClientCancelPropagatesToTheModel() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let request = PredictRequest(model: "iris", parameters: ["never": "1"]).serializedBytes()
        let (stream, recorder) = client.start(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                              body: GRPCFraming.frame(request))
        let clientStream = try XCTUnwrap(stream)
        XCTAssertEqual(a.handlerStarted.wait(timeout: .now() + 5), .success)
        client.thread.sync { clientStream.reset(8) }
        recorder.wait()
        XCTAssertTrue(waitUntil { a.cancels.current == 1 }, "RST_STREAM from the client did not reach the model")
        XCTAssertTrue(waitUntil { self.onWorker { $0.pool.endpoints[a.endpoint]?.inFlight ?? 0 } == 0 },
                      "in-flight count not released after cancel")
    }

    func testThePoolCountsAStreamInFlightFromOpenToClose() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let request = PredictRequest(model: "iris", parameters: ["never": "1"]).serializedBytes()
        let (_, recorder) = client.start(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                         body: GRPCFraming.frame(request))
        XCTAssertEqual(a.handlerStarted.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(onWorker { $0.pool.endpoints[a.endpoint]?.inFlight }, 1, "the open stream counts")
        // The model's connection goes away with the stream open: the stream stops counting.
        a.stop()
        recorder.wait()
        XCTAssertEqual(onWorker { $0.pool.endpoints[a.endpoint]?.inFlight ?? 0 }, 0)
        models.removeAll { $0 === a }
    }

    func testCallsReuseTheirFinishedAttempts() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        for _ in 0..<5 { _ = response(predict(client)) }
        // One call at a time: each takes the spare the call before handed back. (A call's
        // attempt comes back when its upstream stream closes, which may trail its answer.)
        XCTAssertTrue(waitUntil { self.onWorker { $0.spareAttempts.count } == 1 })
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(onWorker { $0.spareAttempts.count }, 1, "no attempt came back late")
        let request = PredictRequest(model: "iris", parameters: ["never": "1"]).serializedBytes()
        let (stream, recorder) = client.start(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                              body: GRPCFraming.frame(request))
        let clientStream = try XCTUnwrap(stream)
        XCTAssertEqual(a.handlerStarted.wait(timeout: .now() + 5), .success)
        // (handlerStarted also counts the five calls before: it does not say this one started.)
        XCTAssertTrue(waitUntil { self.onWorker { $0.spareAttempts.count } == 0 }, "the open call holds the attempt")
        client.thread.sync { clientStream.reset(8) }
        recorder.wait()
        XCTAssertTrue(waitUntil { self.onWorker { $0.spareAttempts.count } == 1 }, "a cancelled attempt is handed back")
        _ = response(predict(client))
        XCTAssertEqual(onWorker { $0.spareAttempts.count }, 1)
    }

    func testModelGoingAwayMidCallIsUnavailable() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint]])])
        let request = PredictRequest(model: "iris", parameters: ["never": "1"]).serializedBytes()
        let (_, recorder) = client.start(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                         body: GRPCFraming.frame(request))
        XCTAssertEqual(a.handlerStarted.wait(timeout: .now() + 5), .success)
        // Shut the model down: after its grace period (2 s) it drops the connection with the call open.
        a.stop()
        recorder.wait()
        XCTAssertEqual(recorder.grpcStatus, 14, "\(recorder.grpcMessage ?? "")")
        XCTAssertTrue(recorder.grpcMessage?.contains("model endpoint 127.0.0.1:\(a.port)") ?? false, recorder.grpcMessage ?? "")
        models.removeAll { $0 === a }
    }

    func testInFlightCountReturnsToZero() throws {
        let a = try model("A"), b = try model("B")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint, b.endpoint]])])
        var calls: [CallRecorder] = []
        for _ in 0..<20 {
            let request = PredictRequest(model: "iris", parameters: ["delay_ms": "20"]).serializedBytes()
            calls.append(client.start(headers: TestClient.requestHeaders(path: "/byoc.v1.Inference/Predict"),
                                      body: GRPCFraming.frame(request)).1)
        }
        calls.forEach { $0.wait() }
        XCTAssertEqual(calls.filter { $0.grpcStatus == 0 }.count, 20)
        XCTAssertEqual(a.requests.current.count + b.requests.current.count, 20)
        // p2c on in-flight counts spreads concurrent calls over both endpoints.
        XCTAssertGreaterThan(a.requests.current.count, 3)
        XCTAssertGreaterThan(b.requests.current.count, 3)
        XCTAssertTrue(waitUntil {
            self.onWorker { worker in (worker.pool.endpoints[a.endpoint]?.inFlight ?? 0) + (worker.pool.endpoints[b.endpoint]?.inFlight ?? 0) } == 0
        })
    }

    // MARK: Services the gateway answers itself

    func testHealthCheck() throws {
        let a = try model("A")
        let client = try startGateway([
            "iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint], "2": []]),
        ])
        func check(_ service: String) -> (Int?, ServingStatus?) {
            let call = client.unary("/grpc.health.v1.Health/Check", HealthCheckRequest(service: service).serializedBytes())
            let status = call.messages.first.flatMap { try? HealthCheckResponse(serializedBytes: $0) }?.status
            return (call.grpcStatus, status)
        }
        XCTAssertTrue(check("") == (0, .serving))
        XCTAssertTrue(check("byoc.v1.Inference") == (0, .serving))
        XCTAssertTrue(check("iris") == (0, .serving))
        XCTAssertTrue(check("iris/1") == (0, .serving))
        XCTAssertTrue(check("iris/2") == (0, .notServing))
        XCTAssertTrue(check("iris/3") == (5, nil))
        XCTAssertTrue(check("nope") == (5, nil))
        XCTAssertEqual(a.requests.current.count, 0)
    }

    func testModelReady() throws {
        let a = try model("A")
        let client = try startGateway(["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [a.endpoint], "2": []])])
        func ready(_ name: String, _ version: String) -> Bool? {
            let call = client.unary("/inference.GRPCInferenceService/ModelReady",
                                    ModelReadyRequest(name: name, version: version).serializedBytes())
            return call.messages.first.flatMap { try? ModelReadyResponse(serializedBytes: $0) }?.ready
        }
        XCTAssertEqual(ready("iris", ""), true)
        XCTAssertEqual(ready("iris", "2"), false)
        XCTAssertEqual(ready("nope", ""), false)
    }
}

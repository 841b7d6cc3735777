import Foundation
import GRPC
import HTTP2
import Transport

/// A response of the Kubernetes API.
public struct KubeResponse: Sendable {
    public var status: Int
    public var headers: [HeaderField]
    public var body: Data

    public func json() throws -> JSON {
        do { return try JSON.parse(body) } catch {
            throw KubeTransportError("the API answered HTTP \(status) with a body that is not JSON: "
                                     + String(decoding: body.prefix(200), as: UTF8.self))
        }
    }
}

/// Timeouts, retries and limits of `KubeClient`.
public struct KubeClientOptions: Sendable {
    /// A request (not a watch) fails after this long.
    public var requestTimeout: Duration = .seconds(30)
    /// Attempts for a request answered 409 (where retrying is safe), 429 or 5xx, or lost in transit.
    public var maxAttempts = 5
    /// Delays between attempts (429 waits for Retry-After instead, up to `maxRetryAfter`).
    public var backoffInitial: Duration = .milliseconds(200)
    public var backoffMaximum: Duration = .seconds(5)
    public var maxRetryAfter: Duration = .seconds(30)
    /// Largest response body accepted (lists).
    public var maxResponseBytes = 64 << 20
    /// Largest single watch event.
    public var maxWatchLineBytes = 16 << 20
    /// `timeoutSeconds` of watch requests: the server ends the watch after this long and the
    /// informer resumes it from the last resourceVersion.
    public var watchTimeoutSeconds = 300
    /// A watch with no data (not even a bookmark) for this long past its timeout is dropped.
    public var watchIdleGrace: Duration = .seconds(30)
    /// The field manager of server-side apply.
    public var fieldManager = "byoc"

    public init() {}
}

/// A Kubernetes API client on the project's own HTTP/2 client (nghttp2), over TLS (ALPN h2,
/// CA verification, SNI; through `KubeConfig.makeChannel`) or h2c for tests.
///
/// All requests share one HTTP/2 connection on the shared client event loop, reopened when it
/// closes; watches are long-lived streams on it. JSON goes through Foundation. Requests are
/// retried with exponential backoff on transport failures, 429 (honouring Retry-After), 5xx
/// and, where the caller says it is safe, 409; 401/403 become errors naming the verb,
/// resource and namespace that the service account lacks.
public final class KubeClient: @unchecked Sendable {
    public let config: KubeConfig
    public let options: KubeClientOptions
    let loop: EventLoop
    private let tokens: TokenSource
    /// The connection (loop-confined).
    private let client: HTTP2Client

    public init(config: KubeConfig, options: KubeClientOptions = KubeClientOptions(), loop: EventLoop? = nil) {
        self.config = config
        self.options = options
        self.loop = loop ?? ClientEventLoop.shared.loop
        self.tokens = TokenSource(path: config.tokenFile)
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 100
        settings.maxHeaderListSize = 64 << 10
        let made = config.makeChannel.map { factory in { (fd: Int32) throws -> ByteChannel in try factory(fd) } }
        self.client = HTTP2Client(host: config.host, port: config.port, loop: self.loop, settings: settings, makeChannel: made)
    }

    public var namespace: String { config.namespace }

    // MARK: - Typed calls

    /// GET one object; nil when it does not exist.
    public func get(_ resource: KubeResource, name: String, namespace: String? = nil,
                    deadline: ContinuousClock.Instant? = nil) async throws -> JSON? {
        let ns = namespace ?? config.namespace
        do {
            return try await send("GET", path: resource.objectPath(namespace: ns, name: name),
                                  info: KubeRequestInfo(verb: "get", resource: resource, namespace: ns, name: name),
                                  deadline: deadline).json()
        } catch let error as KubeAPIError where error.isNotFound {
            return nil
        }
    }

    /// Lists objects (optionally by label and field selector, e.g. `metadata.name=x`, which RBAC
    /// with resourceNames allows); returns the items and the list's resourceVersion.
    public func list(_ resource: KubeResource, labelSelector: String? = nil, fieldSelector: String? = nil,
                     namespace: String? = nil) async throws -> (items: [JSON], resourceVersion: String) {
        let ns = namespace ?? config.namespace
        var query: [(String, String)] = []
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        let list = try await send("GET", path: resource.collectionPath(namespace: ns), query: query,
                                  info: KubeRequestInfo(verb: "list", resource: resource, namespace: ns)).json()
        return (list["items"]?.array ?? [], list[path: "metadata", "resourceVersion"]?.string ?? "")
    }

    /// Server-side apply of a whole object (PATCH application/apply-patch+yaml with a JSON body,
    /// our field manager, force); returns the object as stored.
    @discardableResult
    public func apply(_ resource: KubeResource, _ object: JSON, namespace: String? = nil) async throws -> JSON {
        let ns = namespace ?? config.namespace
        let name = object.name
        return try await send("PATCH", path: resource.objectPath(namespace: ns, name: name),
                              query: [("fieldManager", options.fieldManager), ("force", "true")],
                              body: object.serialized(), contentType: "application/apply-patch+yaml",
                              info: KubeRequestInfo(verb: "patch", resource: resource, namespace: ns, name: name),
                              retryConflict: true).json()
    }

    /// POST a new object; 409 AlreadyExists is the caller's to handle (not retried).
    @discardableResult
    public func create(_ resource: KubeResource, _ object: JSON, namespace: String? = nil,
                       deadline: ContinuousClock.Instant? = nil) async throws -> JSON {
        let ns = namespace ?? config.namespace
        return try await send("POST", path: resource.collectionPath(namespace: ns), query: [("fieldManager", options.fieldManager)],
                              body: object.serialized(), contentType: "application/json",
                              info: KubeRequestInfo(verb: "create", resource: resource, namespace: ns, name: object.name),
                              deadline: deadline).json()
    }

    /// PUT an object carrying `metadata.resourceVersion`: optimistic concurrency, so a 409
    /// Conflict is thrown to the caller, never retried.
    @discardableResult
    public func update(_ resource: KubeResource, _ object: JSON, namespace: String? = nil,
                       deadline: ContinuousClock.Instant? = nil) async throws -> JSON {
        let ns = namespace ?? config.namespace
        let name = object.name
        return try await send("PUT", path: resource.objectPath(namespace: ns, name: name), query: [("fieldManager", options.fieldManager)],
                              body: object.serialized(), contentType: "application/json",
                              info: KubeRequestInfo(verb: "update", resource: resource, namespace: ns, name: name),
                              deadline: deadline).json()
    }

    /// DELETE one object (background propagation: the API removes the object at once and the
    /// garbage collector then deletes its dependents, e.g. a Deployment's ReplicaSets and pods);
    /// false when it did not exist.
    @discardableResult
    public func delete(_ resource: KubeResource, name: String, namespace: String? = nil) async throws -> Bool {
        let ns = namespace ?? config.namespace
        let body: JSON = ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"]
        do {
            _ = try await send("DELETE", path: resource.objectPath(namespace: ns, name: name), body: body.serialized(),
                               contentType: "application/json",
                               info: KubeRequestInfo(verb: "delete", resource: resource, namespace: ns, name: name),
                               retryConflict: true)
            return true
        } catch let error as KubeAPIError where error.isNotFound {
            return false
        }
    }

    /// Watches a collection from `resourceVersion` with bookmarks; events arrive as the server
    /// sends them. The stream ends when the server ends the watch (resume from the last
    /// resourceVersion), and throws on a transport failure or an HTTP error (410 Gone: list again).
    /// Cancelling the consuming task resets the HTTP/2 stream.
    public func watch(_ resource: KubeResource, labelSelector: String? = nil, fieldSelector: String? = nil,
                      resourceVersion: String, namespace: String? = nil) -> AsyncThrowingStream<WatchEvent, Error> {
        let ns = namespace ?? config.namespace
        var query: [(String, String)] = [("watch", "1"), ("allowWatchBookmarks", "true"),
                                         ("timeoutSeconds", String(options.watchTimeoutSeconds))]
        if !resourceVersion.isEmpty { query.append(("resourceVersion", resourceVersion)) }
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        let info = KubeRequestInfo(verb: "watch", resource: resource, namespace: ns)
        let path = resource.collectionPath(namespace: ns) + Self.queryString(query)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self, throwing: Error.self)
        let token: String?
        do { token = try tokens.current() } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let idle = UInt64(options.watchTimeoutSeconds) * 1_000_000_000 + options.watchIdleGrace.nanoseconds
        let call = KubeWatchCall(continuation: continuation, info: info, maxLineBytes: options.maxWatchLineBytes,
                                 idleNanos: idle, parse: WatchEvent.parse)
        continuation.onTermination = { [loop] _ in loop.execute { call.cancel() } }
        loop.execute { [self] in
            start(method: "GET", path: path, token: token, body: nil, contentType: nil, delegate: call) { error in
                call.failToStart(error)
            }
            call.armIdleTimer()
        }
        return stream
    }

    /// GETs `path` (with `query`) and yields its body line by line as it arrives, e.g. a pod's
    /// log with `follow=true` (the stream ends when the server ends the response; throws on a
    /// transport failure or an HTTP error). Cancelling the consuming task resets the stream.
    public func lines(path: String, query: [(String, String)], info: KubeRequestInfo) -> AsyncThrowingStream<String, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: String.self, throwing: Error.self)
        let token: String?
        do { token = try tokens.current() } catch {
            continuation.finish(throwing: error)
            return stream
        }
        let call = KubeLineStreamCall<String>(continuation: continuation, info: info, maxLineBytes: options.maxWatchLineBytes,
                                              idleNanos: 0) { String(decoding: $0, as: UTF8.self) }
        continuation.onTermination = { [loop] _ in loop.execute { call.cancel() } }
        let fullPath = path + Self.queryString(query)
        loop.execute { [self] in
            start(method: "GET", path: fullPath, token: token, body: nil, contentType: nil, delegate: call) { error in
                call.failToStart(error)
            }
        }
        return stream
    }

    // MARK: - Requests with retries

    /// Sends a request, retrying transport failures, 429, 5xx and (with `retryConflict`) 409 with
    /// backoff; returns a 2xx response or throws `KubeAPIError` / `KubeTransportError`. With a
    /// `deadline`, every attempt ends by then (and none starts after it).
    public func send(_ method: String, path: String, query: [(String, String)] = [], body: Data? = nil,
                     contentType: String? = nil, info: KubeRequestInfo, retryConflict: Bool = false,
                     deadline: ContinuousClock.Instant? = nil) async throws -> KubeResponse {
        var attempt = 0
        var delay = options.backoffInitial
        while true {
            attempt += 1
            let wait: Duration
            do {
                let response = try await perform(method, path: path + Self.queryString(query), body: body,
                                                 contentType: contentType, deadline: deadline)
                if (200..<300).contains(response.status) { return response }
                let error = Self.apiError(response, info: info)
                let retryable = response.status == 429 || response.status >= 500 || (retryConflict && response.status == 409)
                guard retryable, attempt < options.maxAttempts else { throw error }
                if response.status == 429, let after = response.headers[field: "retry-after"].flatMap(Int.init) {
                    wait = min(.seconds(after), options.maxRetryAfter)
                } else {
                    wait = delay
                }
            } catch let error as KubeTransportError {
                guard attempt < options.maxAttempts else {
                    throw KubeTransportError("\(info): \(error.message) (after \(attempt) attempts)")
                }
                wait = delay
            }
            try await Task.sleep(for: wait)
            delay = min(delay * 2, options.backoffMaximum)
        }
    }

    /// One attempt, within the request timeout and `deadline` (whichever ends first).
    func perform(_ method: String, path: String, body: Data?, contentType: String?,
                 deadline: ContinuousClock.Instant? = nil) async throws -> KubeResponse {
        let token = try tokens.current()
        var timeout = options.requestTimeout
        var cutByDeadline = false
        if let deadline {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw KubeTransportError("\(method) \(path): the deadline passed") }
            cutByDeadline = left < timeout
            timeout = min(timeout, left)
        }
        let timeoutNanos = timeout.nanoseconds
        let limit = options.maxResponseBytes
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<KubeResponse, Error>) in
            loop.execute { [self] in
                let call = KubeUnaryCall(limit: limit) { continuation.resume(with: $0) }
                start(method: method, path: path, token: token, body: body, contentType: contentType, delegate: call) { error in
                    call.complete(.failure(error))
                }
                call.schedule(afterNanos: timeoutNanos) { [unowned call] in
                    call.timedOut(cutByDeadline ? "before the caller's deadline" : "in time")
                }
            }
        }
    }

    /// Closes the connection (watches end with an error).
    public func close() {
        loop.execute { [client] in client.close(error: HTTP2ConnectionError(.local, "client closed")) }
    }

    // MARK: - Loop side

    private func start(method: String, path: String, token: String?, body: Data?, contentType: String?,
                       delegate: KubeStreamDelegate, failed: (Error) -> Void) {
        var headers = [HeaderField(":method", method), HeaderField(":scheme", config.scheme),
                       HeaderField(":authority", config.authority), HeaderField(":path", path),
                       HeaderField("accept", "application/json"), HeaderField("user-agent", "byoc-gateway/0.1")]
        if let token { headers.append(HeaderField("authorization", "Bearer \(token)")) }
        if let contentType { headers.append(HeaderField("content-type", contentType)) }
        if let body { headers.append(HeaderField("content-length", String(body.count))) }
        let call: HTTP2ClientCall
        do { call = try client.start(headers: headers, delegate: delegate, attempts: 2) } catch {
            switch error {
            case .cannotConnect(let why):
                failed(KubeTransportError("cannot connect to the Kubernetes API at \(config.url): \(why)"))
            case .cannotOpenStream:
                failed(KubeTransportError("cannot open a stream to the Kubernetes API at \(config.url)"))
            }
            return
        }
        delegate.attach(call)
        if let body { body.withUnsafeBytes { call.stream.write($0) } }
        call.stream.finish()
    }

    // MARK: - Helpers

    static func apiError(_ response: KubeResponse, info: KubeRequestInfo) -> KubeAPIError {
        let status = try? JSON.parse(response.body)
        return KubeAPIError(status: response.status, reason: status?["reason"]?.string ?? "",
                            message: status?["message"]?.string ?? String(decoding: response.body.prefix(300), as: UTF8.self),
                            request: info)
    }

    /// `?a=b&c=d` with RFC 3986 unreserved characters left as they are.
    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "?" + query.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

/// A Kubernetes call's response handling, attached to its `HTTP2ClientCall` once it started.
protocol KubeStreamDelegate: HTTP2ClientCallDelegate {
    func attach(_ call: HTTP2ClientCall)
}

/// Collects one response (bounded) and completes once.
final class KubeUnaryCall: KubeStreamDelegate {
    private var completion: ((Result<KubeResponse, Error>) -> Void)?
    private let limit: Int
    private var call: HTTP2ClientCall?
    private var status = 0
    private var headers: [HeaderField] = []
    private var body = Data()

    init(limit: Int, completion: @escaping (Result<KubeResponse, Error>) -> Void) {
        self.limit = limit
        self.completion = completion
    }

    func attach(_ call: HTTP2ClientCall) { self.call = call }

    /// Arms the request timeout (nothing when the call could not start).
    func schedule(afterNanos nanoseconds: UInt64, _ fire: @escaping () -> Void) {
        call?.schedule(afterNanos: nanoseconds, fire)
    }

    func complete(_ result: Result<KubeResponse, Error>) {
        guard let completion else { return }
        self.completion = nil
        call?.end()
        completion(result)
    }

    /// The timer fired: `when` completes "did not answer ..." ("in time", "before the caller's deadline").
    func timedOut(_ when: String) {
        call?.cancel()
        complete(.failure(KubeTransportError("the Kubernetes API did not answer \(when)")))
    }

    func call(_ call: HTTP2ClientCall, receivedHeaders headers: HeaderBlock, kind: HeaderKind) {
        guard kind == .response else { return }
        status = headers[field: ":status"].flatMap(Int.init) ?? 0
        self.headers = headers.fields
    }

    func call(_ call: HTTP2ClientCall, receivedData data: UnsafeRawBufferPointer) {
        guard completion != nil else { return }
        if body.count + data.count > limit {
            call.cancel()
            complete(.failure(KubeTransportError("a Kubernetes API response is larger than \(limit) bytes")))
            return
        }
        body.append(contentsOf: data)
    }

    func callEnded(_ call: HTTP2ClientCall, streamClosed: Bool) {
        if status != 0 {
            complete(.success(KubeResponse(status: status, headers: headers, body: body)))
        } else if streamClosed {
            complete(.failure(KubeTransportError("lost the connection to the Kubernetes API")))
        }
    }

    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure) {
        switch failure {
        case .connectFailed(let error):
            let why = error.map { "\($0)" } ?? "connection refused"
            complete(.failure(KubeTransportError("cannot connect to the Kubernetes API: \(why)")))
        case .reset(let code):
            complete(.failure(KubeTransportError("the Kubernetes API reset the stream (HTTP/2 error \(code.rawValue))")))
        case .connectionLost:
            complete(.failure(KubeTransportError("lost the connection to the Kubernetes API")))
        }
    }
}

/// A watch: newline-delimited JSON events, parsed as DATA frames arrive.
typealias KubeWatchCall = KubeLineStreamCall<WatchEvent>

/// A response read line by line as DATA frames arrive (a watch's events, a followed pod log),
/// each line turned into an `Element` by `parse`.
final class KubeLineStreamCall<Element: Sendable>: KubeStreamDelegate {
    private let continuation: AsyncThrowingStream<Element, Error>.Continuation
    private let parse: (Data) throws -> Element
    private let info: KubeRequestInfo
    private var lines: WatchLineBuffer
    private var call: HTTP2ClientCall?
    private var status = 0
    private var headers: [HeaderField] = []
    private var errorBody = Data()
    private var finished = false
    private let idleNanos: UInt64
    private var sawData = false

    init(continuation: AsyncThrowingStream<Element, Error>.Continuation, info: KubeRequestInfo, maxLineBytes: Int,
         idleNanos: UInt64, parse: @escaping (Data) throws -> Element) {
        self.continuation = continuation
        self.parse = parse
        self.info = info
        self.lines = WatchLineBuffer(maxLineBytes: maxLineBytes)
        self.idleNanos = idleNanos
    }

    func attach(_ call: HTTP2ClientCall) { self.call = call }

    func failToStart(_ error: Error) { finish(error) }

    /// Drops the watch when nothing arrives for the idle period (a silently dead connection).
    func armIdleTimer() {
        guard !finished, let call else { return }
        call.schedule(afterNanos: idleNanos) { [unowned self] in
            guard !self.finished else { return }
            if self.sawData {
                self.sawData = false
                self.armIdleTimer()
            } else {
                self.call?.cancel()
                self.finish(KubeTransportError("\(self.info): no data for too long"))
            }
        }
    }

    func cancel() {
        guard !finished else { return }
        call?.cancel()
        finish(nil)
    }

    private func finish(_ error: Error?) {
        guard !finished else { return }
        finished = true
        call?.end()
        if let error { continuation.finish(throwing: error) } else { continuation.finish() }
    }

    func call(_ call: HTTP2ClientCall, receivedHeaders headers: HeaderBlock, kind: HeaderKind) {
        guard kind == .response else { return }
        status = headers[field: ":status"].flatMap(Int.init) ?? 0
        self.headers = headers.fields
    }

    func call(_ call: HTTP2ClientCall, receivedData data: UnsafeRawBufferPointer) {
        sawData = true
        guard !finished else { return }
        guard status == 200 else {
            if errorBody.count < 64 << 10 { errorBody.append(contentsOf: data) }
            return
        }
        do {
            for line in try lines.append(data) {
                continuation.yield(try parse(line))
            }
        } catch {
            call.cancel()
            finish(error)
        }
    }

    func callEnded(_ call: HTTP2ClientCall, streamClosed: Bool) {
        end()
    }

    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure) {
        switch failure {
        case .connectFailed(let error):
            let why = error.map { "\($0)" } ?? "connection refused"
            finish(KubeTransportError("cannot connect to the Kubernetes API: \(why)"))
        case .reset(let code): finish(KubeTransportError("\(info): the API reset the watch (HTTP/2 error \(code.rawValue))"))
        case .connectionLost: finish(KubeTransportError("\(info): lost the connection to the Kubernetes API"))
        }
    }

    private func end() {
        guard !finished else { return }
        if status != 200 {
            finish(KubeClient.apiError(KubeResponse(status: status, headers: headers, body: errorBody), info: info))
            return
        }
        if let last = lines.finish() {
            if let element = try? parse(last) { continuation.yield(element) }
        }
        finish(nil)
    }
}

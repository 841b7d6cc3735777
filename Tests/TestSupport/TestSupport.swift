#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
import GRPC
import HTTP2
import Server
import Transport

// Shared by the test targets (TransportTests, GRPCTests, RouterTests, WebTests): loop threads,
// a raw HTTP/2 test client, call recorders, crash probes and small helpers.

/// An `EventLoop` running on its own thread for the duration of a test.
public final class LoopThread: @unchecked Sendable {
    public let loop: EventLoop
    private let finished = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)
    private var thread: pthread_t?
    private var stopped = false

    public init(name: String = "test-loop") throws {
        loop = try EventLoop(name: name)
        let loop = self.loop
        let thread = Thread { [self] in
            self.thread = pthread_self()
            self.started.signal()
            loop.run()
            self.finished.signal()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    /// True when called on the loop's thread.
    public var isOnLoopThread: Bool {
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Runs `body` on the loop and waits for its result.
    public func sync<T>(_ body: @escaping () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        var result: T?
        loop.execute {
            result = body()
            done.signal()
        }
        done.wait()
        return result!
    }

    public func syncThrowing<T>(_ body: @escaping () throws -> T) throws -> T {
        try sync { Result { try body() } }.get()
    }

    @discardableResult
    public func stop(timeout: Double = 5) -> Bool {
        guard !stopped else { return true }
        stopped = true
        loop.stop()
        return finished.wait(timeout: .now() + timeout) == .success
    }
}

/// A value shared between threads.
public final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    public var current: Value { withLock { $0 } }
}

/// Runs one test of this bundle in a child process with `BYOC_CRASH_PROBE=1`, so code that traps
/// fails one test instead of killing the whole run.
///
/// `testName` is `Module.Class/method`. Exit status 0 alone proves nothing (a renamed or filtered
/// probe runs zero tests and still exits 0), so a clean exit must also show that exactly this one
/// test ran and passed (`Executed 1 test`, `Test Case 'Class.method' passed`); otherwise the
/// calling test fails here.
public func runCrashProbe(_ testName: String, file: StaticString = #filePath, line: UInt = #line) throws -> (normalExit: Bool, status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    process.arguments = [testName]
    var environment = ProcessInfo.processInfo.environment
    environment["BYOC_CRASH_PROBE"] = "1"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    let normalExit = process.terminationReason == .exit
    if normalExit && process.terminationStatus == 0 {
        let problems = crashProbeOutputProblems(testName, output)
        if !problems.isEmpty {
            XCTFail("crash probe \(testName) exited 0 but " + problems.joined(separator: "; ")
                    + ". Output:\n" + output, file: file, line: line)
        }
    }
    return (normalExit, process.terminationStatus, output)
}

/// What is missing from a child's XCTest output for `Module.Class/method` to count as one test
/// that ran and passed. Empty when it did.
public func crashProbeOutputProblems(_ testName: String, _ output: String) -> [String] {
    var problems: [String] = []
    // "Module.Class/method" -> "Class.method" (how Linux XCTest names a test case).
    let parts = testName.split(separator: "/", maxSplits: 1).map(String.init)
    let className = parts.first.map { $0.split(separator: ".").last.map(String.init) ?? $0 } ?? testName
    let method = parts.count > 1 ? parts[1] : ""
    let caseName = "\(className).\(method)"
    let lines = output.split(whereSeparator: \.isNewline)
    if !lines.contains(where: { $0.contains("Executed 1 test,") }) {
        problems.append("did not print \"Executed 1 test\"")
    }
    if !lines.contains(where: { $0.contains("Test Case '\(caseName)' passed") }) {
        problems.append("did not print \"Test Case '\(caseName)' passed\"")
    }
    return problems
}

public var isCrashProbe: Bool { ProcessInfo.processInfo.environment["BYOC_CRASH_PROBE"] == "1" }

/// Records everything a client stream hears. Fields are written on the client loop and read by
/// the test after `wait()` returned.
public final class CallRecorder: HTTP2StreamDelegate, @unchecked Sendable {
    public init() {}

    public var responseHeaders: [HeaderField]?
    public var trailers: [HeaderField]?
    public var body: [UInt8] = []
    public var dataCalls = 0
    public var ended = false
    public var reason: StreamCloseReason?
    public var closedAt: UInt64 = 0
    public var headersSeen = 0
    public let startedAt = monotonicNanos()
    private let closed = DispatchSemaphore(value: 0)

    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        headersSeen += 1
        switch kind {
        case .response:
            responseHeaders = headers.fields
        case .trailers: trailers = headers.fields
        case .request: XCTFail("a client stream got request headers")
        }
    }

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        dataCalls += 1
        body.append(contentsOf: data)
        stream.consume(data.count)
    }

    public func streamEnded(_ stream: HTTP2Stream) { ended = true }

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        self.reason = reason
        closedAt = monotonicNanos()
        closed.signal()
    }

    /// Waits for the stream to close.
    @discardableResult
    public func wait(timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let ok = closed.wait(timeout: .now() + timeout) == .success
        if !ok { XCTFail("the call did not finish within \(timeout) s", file: file, line: line) }
        return ok
    }

    /// Milliseconds from creating the recorder to the stream closing.
    public var elapsedMs: Double { Double(closedAt &- startedAt) / 1e6 }

    /// The grpc-status, from the trailers or a trailers-only response.
    public var grpcStatus: Int? {
        (trailers?[field: "grpc-status"] ?? responseHeaders?[field: "grpc-status"]).flatMap { Int($0) }
    }

    public var grpcMessage: String? {
        (trailers?[field: "grpc-message"] ?? responseHeaders?[field: "grpc-message"]).map(PercentEncoding.decode)
    }

    public var httpStatus: String? { responseHeaders?[field: ":status"] }

    /// The response messages (bodies without prefixes).
    public var messages: [[UInt8]] {
        var reader = GRPCMessageReader(maxMessageBytes: Int(Int32.max), compressionAllowed: true)
        body.withUnsafeBytes { try? reader.append($0) }
        return reader.takeMessages()
    }
}

/// An h2c client connection on its own loop thread.
public final class TestClient: HTTP2ConnectionDelegate, @unchecked Sendable {
    public let thread: LoopThread
    public let port: Int
    public var connection: HTTP2Connection!
    public var closeError: HTTP2ConnectionError?
    public var closed = false
    public var goaway: (Int32, HTTP2ErrorCode)?
    public let didClose = DispatchSemaphore(value: 0)

    public init(port: Int, settings: HTTP2Settings = HTTP2Settings()) throws {
        thread = try LoopThread(name: "client-\(port)")
        self.port = port
        do {
            connection = try thread.syncThrowing { [self] in
                try HTTP2Connection(connectingTo: SocketAddress(host: "127.0.0.1", port: port), loop: thread.loop,
                                    settings: settings, delegate: self)
            }
        } catch {
            thread.stop()
            throw error
        }
    }

    public func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {
        closed = true
        closeError = error
        didClose.signal()
    }

    public func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {
        goaway = (lastStreamID, errorCode)
    }

    public static func requestHeaders(path: String, contentType: String? = "application/grpc", method: String = "POST",
                               extra: [HeaderField] = []) -> [HeaderField] {
        var headers = [HeaderField(":method", method), HeaderField(":scheme", "http"),
                       HeaderField(":authority", "127.0.0.1"), HeaderField(":path", path)]
        if let contentType { headers.append(HeaderField("content-type", contentType)) }
        headers.append(HeaderField("te", "trailers"))
        return headers + extra
    }

    /// Opens a stream and sends `body` (raw bytes, already framed), ending the request when `end`.
    public func start(headers: [HeaderField], body: [UInt8], end: Bool = true,
               recorder: CallRecorder = CallRecorder()) -> (HTTP2Stream?, CallRecorder) {
        let stream = thread.sync { [self] () -> HTTP2Stream? in
            guard let stream = connection.openStream(headers: headers, delegate: recorder) else { return nil }
            if !body.isEmpty { stream.write(body) }
            if end { stream.finish() }
            return stream
        }
        return (stream, recorder)
    }

    /// A unary call: frames `message`, sends it, waits for the end.
    public func unary(_ path: String, _ message: [UInt8], extra: [HeaderField] = [], timeout: Double = 10) -> CallRecorder {
        let (stream, recorder) = start(headers: Self.requestHeaders(path: path, extra: extra), body: GRPCFraming.frame(message))
        XCTAssertNotNil(stream, "openStream failed")
        recorder.wait(timeout: timeout)
        return recorder
    }

    /// A call with raw body bytes and arbitrary headers.
    public func raw(headers: [HeaderField], body: [UInt8], timeout: Double = 10) -> CallRecorder {
        let (stream, recorder) = start(headers: headers, body: body)
        XCTAssertNotNil(stream, "openStream failed")
        recorder.wait(timeout: timeout)
        return recorder
    }

    /// Closes the connection and stops the loop.
    public func shutdown() {
        thread.sync { [self] in connection.close() }
        thread.stop()
    }
}

/// A dispatcher that wraps another and counts the DATA chunks each call receives.
public final class CountingDispatcher: GRPCCallDispatcher {
    public let inner: GRPCCallDispatcher
    public let dataCalls = Locked(0)

    public init(_ inner: GRPCCallDispatcher) { self.inner = inner }

    public func dispatch(_ stream: HTTP2Stream, head: GRPCRequestHead) -> HTTP2StreamDelegate? {
        guard let next = inner.dispatch(stream, head: head) else { return nil }
        return Counting(next, dataCalls)
    }

    final class Counting: HTTP2StreamDelegate {
        let next: HTTP2StreamDelegate
        let counter: Locked<Int>
        init(_ next: HTTP2StreamDelegate, _ counter: Locked<Int>) {
            self.next = next
            self.counter = counter
        }
        func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
            next.streamHeaders(stream, headers, kind: kind)
        }
        func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
            counter.withLock { $0 += 1 }
            next.streamData(stream, data)
        }
        func streamEnded(_ stream: HTTP2Stream) { next.streamEnded(stream) }
        func streamDrained(_ stream: HTTP2Stream, bytes: Int) { next.streamDrained(stream, bytes: bytes) }
        func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) { next.streamClosed(stream, reason: reason) }
    }
}

/// Polls `fd` for `events` for at most `milliseconds`; returns the revents.
public func pollFD(_ fd: Int32, events: Int16, milliseconds: Int32) -> Int16 {
    var entry = pollfd(fd: fd, events: events, revents: 0)
    let rc = poll(&entry, 1, milliseconds)
    return rc > 0 ? entry.revents : 0
}

/// Starts a one-worker server on 127.0.0.1:0 with `makeDispatcher`.
public func startServer(workers: Int = 1, http2: HTTP2Settings = HTTP2Settings(),
                 makeDispatcher: @escaping (Int, EventLoop) -> GRPCCallDispatcher) throws -> (GRPCServer, Int) {
    var config = GRPCServerConfig(host: "127.0.0.1", port: 0, workers: workers)
    config.gracePeriodNanos = 2_000_000_000
    config.http2 = http2
    let server = GRPCServer(config: config)
    try server.start(makeDispatcher: makeDispatcher)
    let port = try XCTUnwrap(server.boundAddress?.port)
    return (server, port)
}

/// Random bytes.
public func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}

/// Waits until `condition` holds, polling every millisecond; false on timeout.
public func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

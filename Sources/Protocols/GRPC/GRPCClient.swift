import Foundation
import HTTP2
import Transport

/// The result of a unary call: the response message and its metadata.
public struct GRPCUnaryResponse: Sendable {
    public var message: [UInt8]
    public var headers: [HeaderField]
    public var trailers: [HeaderField]
}

/// The event loop thread shared by every `GRPCClient` in the process.
public final class ClientEventLoop: @unchecked Sendable {
    public static let shared = ClientEventLoop()
    public let loop: EventLoop

    private init() {
        loop = try! EventLoop(name: "grpc-client", readBufferSize: 64 * 1024)
        let thread = Thread { [loop] in loop.run() }
        thread.name = "grpc-client"
        thread.start()
    }
}

/// A gRPC client over one h2c connection (reopened when it closes), for the CLI and the
/// control plane. Calls are async; the connection lives on the shared client loop.
/// With `makeChannel` (e.g. `TLSClientContext.channelFactory(serverName:)` from the TLS
/// module) the connected socket is wrapped, and `scheme` is sent as `:scheme` ("https").
public final class GRPCClient: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let authority: String
    public let scheme: String
    let loop: EventLoop
    /// The connection (loop-confined).
    let client: HTTP2Client

    public init(host: String, port: Int, scheme: String = "http", makeChannel: ((Int32) throws -> ByteChannel)? = nil) {
        self.host = host
        self.port = port
        self.scheme = scheme
        self.authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.loop = ClientEventLoop.shared.loop
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 100
        self.client = HTTP2Client(host: host, port: port, loop: loop, settings: settings, makeChannel: makeChannel)
    }

    /// Calls `path` with one request message; throws `GRPCStatus` for a non-OK status or when
    /// the server cannot be reached (UNAVAILABLE with the reason).
    public func unary(path: String, request: [UInt8], metadata: [(String, String)] = [],
                      timeoutMs: Int? = nil) async throws -> GRPCUnaryResponse {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<GRPCUnaryResponse, Error>) in
            loop.execute { [self] in
                start(path: path, request: request, metadata: metadata, timeoutMs: timeoutMs) { result in
                    continuation.resume(with: result)
                }
            }
        }
    }

    /// Closes the connection.
    public func close() {
        loop.execute { [client] in client.shutdownGracefully() }
    }

    private func start(path: String, request: [UInt8], metadata: [(String, String)], timeoutMs: Int?,
                       completion: @escaping (Result<GRPCUnaryResponse, Error>) -> Void) {
        let unary = ClientUnaryCall(authority: authority, completion: completion)
        let call: HTTP2ClientCall
        do {
            call = try client.start(headers: requestHeaders(path: path, metadata: metadata, timeoutMs: timeoutMs),
                                    delegate: unary)
        } catch {
            completion(.failure(startFailure(error)))
            return
        }
        unary.call = call
        if let timeoutMs {
            call.schedule(afterNanos: UInt64(timeoutMs) * 1_000_000 + 50_000_000) { [unowned unary] in unary.timedOut() }
        }
        call.stream.write(GRPCFraming.frame(request))
        call.stream.finish()
    }

    static func reason(_ error: Error) -> String {
        if let system = error as? SystemError { return system.reason.lowercased() }
        if let resolve = error as? ResolveError { return resolve.description }
        if let connection = error as? HTTP2ConnectionError {
            return connection.systemError.map { $0.reason.lowercased() } ?? connection.message
        }
        return "\(error)"
    }
}

/// One client-side unary call: collects the response and completes once.
final class ClientUnaryCall: HTTP2ClientCallDelegate {
    var call: HTTP2ClientCall?
    private var completion: ((Result<GRPCUnaryResponse, Error>) -> Void)?
    private var response: GRPCClientResponse
    private var reader = GRPCMessageReader(maxMessageBytes: Int(Int32.max))

    init(authority: String, completion: @escaping (Result<GRPCUnaryResponse, Error>) -> Void) {
        self.response = GRPCClientResponse(authority: authority)
        self.completion = completion
    }

    private func complete(_ result: Result<GRPCUnaryResponse, Error>) {
        guard let completion else { return }
        self.completion = nil
        call?.end()
        completion(result)
    }

    func timedOut() {
        call?.cancel()
        complete(.failure(GRPCStatus(.deadlineExceeded, "deadline exceeded calling \(response.authority)")))
    }

    func call(_ call: HTTP2ClientCall, receivedHeaders headers: HeaderBlock, kind: HeaderKind) {
        response.received(headers, kind: kind)
    }

    func call(_ call: HTTP2ClientCall, receivedData data: UnsafeRawBufferPointer) {
        do { try reader.append(data) } catch {
            call.cancel()
            complete(.failure(error.status))
        }
    }

    func callEnded(_ call: HTTP2ClientCall, streamClosed: Bool) {
        guard completion != nil else { return }
        switch response.ending(streamClosed: streamClosed) {
        case .ok:
            let messages = reader.takeMessages()
            guard messages.count == 1 else {
                complete(.failure(GRPCStatus(.internal, "expected one response message from \(response.authority), "
                                                        + "got \(messages.count)")))
                return
            }
            complete(.success(GRPCUnaryResponse(message: messages[0], headers: response.headers,
                                                trailers: response.trailers)))
        case .failed(let status):
            complete(.failure(status))
        case .pending:
            break
        }
    }

    func call(_ call: HTTP2ClientCall, failed failure: HTTP2ClientCallFailure) {
        complete(.failure(response.status(of: failure)))
    }
}

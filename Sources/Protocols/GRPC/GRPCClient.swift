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
    private let makeChannel: ((Int32) throws -> ByteChannel)?
    private let loop: EventLoop
    private var connection: HTTP2Connection?
    private let connectionOwner = ConnectionOwner()
    private var settings = HTTP2Settings()

    public init(host: String, port: Int, scheme: String = "http", makeChannel: ((Int32) throws -> ByteChannel)? = nil) {
        self.host = host
        self.port = port
        self.scheme = scheme
        self.makeChannel = makeChannel
        self.authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.loop = ClientEventLoop.shared.loop
        settings.maxConcurrentStreams = 100
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
        loop.execute { [self] in
            connection?.shutdownGracefully()
            connection = nil
        }
    }

    private func start(path: String, request: [UInt8], metadata: [(String, String)], timeoutMs: Int?,
                       completion: @escaping (Result<GRPCUnaryResponse, Error>) -> Void) {
        let connection: HTTP2Connection
        if let existing = self.connection, !existing.isClosed, !existing.isGoingAway {
            connection = existing
        } else {
            do {
                let address = try SocketAddress(host: host, port: port)
                connection = try HTTP2Connection(connectingTo: address, loop: loop, settings: settings, delegate: connectionOwner,
                                                 makeChannel: makeChannel)
                self.connection = connection
            } catch {
                completion(.failure(GRPCStatus(.unavailable, "cannot connect to \(authority): \(Self.reason(error))")))
                return
            }
        }
        var headers = [HeaderField(":method", "POST"), HeaderField(":scheme", scheme), HeaderField(":authority", authority),
                       HeaderField(":path", path), HeaderField("content-type", "application/grpc"),
                       HeaderField("te", "trailers"), HeaderField("user-agent", "byoc-grpc-client/0.1")]
        if let timeoutMs { headers.append(HeaderField("grpc-timeout", "\(timeoutMs)m")) }
        for (name, value) in metadata { headers.append(HeaderField(name.lowercased(), value)) }
        let call = ClientUnaryCall(authority: authority, completion: completion)
        guard let stream = connection.openStream(headers: headers, delegate: call) else {
            completion(.failure(GRPCStatus(.unavailable, "cannot open a stream to \(authority)")))
            return
        }
        call.stream = stream
        if let timeoutMs {
            call.timer = loop.schedule(afterNanos: UInt64(timeoutMs) * 1_000_000 + 50_000_000) { [weak call] in
                call?.timedOut()
            }
        }
        stream.write(GRPCFraming.frame(request))
        stream.finish()
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

/// Keeps client connections' delegate alive (connections hold it weakly).
final class ConnectionOwner: HTTP2ConnectionDelegate {
    func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {}
}

/// One client-side unary call: collects the response and completes once.
final class ClientUnaryCall: HTTP2StreamDelegate {
    let authority: String
    var stream: HTTP2Stream?
    var timer: UInt64?
    private var completion: ((Result<GRPCUnaryResponse, Error>) -> Void)?
    private var headers: [HeaderField] = []
    private var trailers: [HeaderField] = []
    private var reader = GRPCMessageReader(maxMessageBytes: Int(Int32.max))

    init(authority: String, completion: @escaping (Result<GRPCUnaryResponse, Error>) -> Void) {
        self.authority = authority
        self.completion = completion
    }

    private func complete(_ result: Result<GRPCUnaryResponse, Error>) {
        guard let completion else { return }
        self.completion = nil
        if let timer, let stream { stream.connection.loop.cancelTimer(timer) }
        completion(result)
    }

    func timedOut() {
        stream?.reset(8)
        complete(.failure(GRPCStatus(.deadlineExceeded, "deadline exceeded calling \(authority)")))
    }

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        switch kind {
        case .response:
            self.headers = headers.fields
            if headers[field: "grpc-status"] != nil { trailers = self.headers }
        case .trailers:
            trailers = headers.fields
        case .request:
            break
        }
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
        do { try reader.append(data) } catch {
            stream.reset(8)
            complete(.failure(error.status))
        }
    }

    func streamEnded(_ stream: HTTP2Stream) {
        finishCall()
    }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {
        switch reason {
        case .finished:
            finishCall()
        case .connectFailed:
            let why = stream.connection.lastError.map(GRPCClient.reason) ?? "connection refused"
            complete(.failure(GRPCStatus(.unavailable, "cannot connect to \(authority): \(why)")))
        case .connectionLost:
            // A TLS channel that failed its handshake (verification, ALPN) could not connect:
            // say why in one line.
            if let channel = stream.connection.channel as? EstablishingChannel, !channel.isEstablished {
                let why = stream.connection.lastError.map(GRPCClient.reason) ?? "TLS handshake failed"
                complete(.failure(GRPCStatus(.unavailable, "cannot connect to \(authority): \(why)")))
            } else {
                complete(.failure(GRPCStatus(.unavailable, "lost the connection to \(authority)")))
            }
        case .reset(let code):
            complete(.failure(GRPCStatus(.unavailable, "\(authority) reset the stream (HTTP/2 error \(code))")))
        }
    }

    private func finishCall() {
        guard completion != nil else { return }
        if let status = trailers[field: "grpc-status"] {
            let code = Int(status).flatMap(GRPCStatusCode.init(rawValue:)) ?? .unknown
            if code != .ok {
                let message = trailers[field: "grpc-message"].map(PercentEncoding.decode) ?? ""
                complete(.failure(GRPCStatus(code, message)))
                return
            }
            let messages = reader.takeMessages()
            guard messages.count == 1 else {
                complete(.failure(GRPCStatus(.internal, "expected one response message from \(authority), got \(messages.count)")))
                return
            }
            complete(.success(GRPCUnaryResponse(message: messages[0], headers: headers, trailers: trailers)))
        } else if let status = headers[field: ":status"], status != "200" {
            complete(.failure(GRPCStatus(.unknown, "\(authority) answered HTTP \(status)")))
        } else if stream?.isClosed ?? true {
            complete(.failure(GRPCStatus(.internal, "\(authority) ended the call without grpc-status")))
        }
    }
}

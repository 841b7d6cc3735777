#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPC
import HTTP1
import HTTP2
import TLS
import Transport

/// Serves plain (non-gRPC) HTTP requests that arrive over HTTP/2, e.g. `GET /metrics` from
/// `curl --http2-prior-knowledge`, probes and the web console.
public protocol PlainHTTPHandler: AnyObject {
    /// Returns the delegate that serves `stream`, or nil when `path` is not one this handler
    /// serves (the stream then gets the usual 415 for a non-gRPC content-type).
    func accept(_ stream: HTTP2Stream, method: String, path: String, headers: [HeaderField]) -> HTTP2StreamDelegate?
}

/// Configuration of a `GRPCServer`.
public struct GRPCServerConfig: Sendable {
    public var host: String
    public var port: Int
    public var workers: Int
    public var http2 = HTTP2Settings()
    /// How long in-flight calls may run after shutdown begins.
    public var gracePeriodNanos: UInt64 = 10_000_000_000
    /// A client connection with no open stream and no input for this long gets GOAWAY (NO_ERROR:
    /// a client reconnects for its next call), and is closed if still there as long again
    /// (a client that never reads). 0: never.
    public var idleTimeoutNanos: UInt64 = 300_000_000_000

    public init(host: String, port: Int, workers: Int) {
        self.host = host
        self.port = port
        self.workers = max(1, workers)
    }
}

/// An HTTP/2 gRPC server: N worker threads, each with its own epoll loop, SO_REUSEPORT
/// listener, connections and dispatcher. Nothing is shared between workers on the request path.
public final class GRPCServer: @unchecked Sendable {
    public let config: GRPCServerConfig
    public private(set) var workers: [GRPCServerWorker] = []
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    /// The bound address (the real port when port 0 was asked for).
    public private(set) var boundAddress: SocketAddress?

    public init(config: GRPCServerConfig) {
        self.config = config
    }

    /// Binds and starts the workers; `makeDispatcher` runs once per worker, after the listeners
    /// are bound (so `boundAddress` is known), before the worker's loop starts.
    ///
    /// `configureWorker` (optional) runs once per worker right after its dispatcher is made,
    /// also before the loop starts: set per-worker hooks there (`http1`, `plainHTTP`, `tls`).
    public func start(configureWorker: ((GRPCServerWorker) -> Void)? = nil,
                      makeDispatcher: @escaping (_ index: Int, _ loop: EventLoop) -> GRPCCallDispatcher) throws {
        var address = try SocketAddress(host: config.host, port: config.port)
        for index in 0..<config.workers {
            let loop = try EventLoop(name: "worker-\(index)")
            let worker = GRPCServerWorker(index: index, loop: loop, config: config)
            let listener = try Listener(address: address, sharing: index == 0 ? .open : .join, loop: loop) { [unowned worker] fd, _ in
                worker.accept(fd)
            }
            if index == 0 {
                address = listener.address
                boundAddress = listener.address
            }
            worker.listener = listener
            worker.dispatcher = makeDispatcher(index, loop)
            configureWorker?(worker)
            workers.append(worker)
        }
        for worker in workers {
            finished.enter()
            let thread = Thread { [finished] in
                worker.loop.run()
                finished.leave()
            }
            thread.name = worker.loop.name
            thread.stackSize = 1 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// Stops accepting, sends GOAWAY, lets in-flight calls finish within the grace period,
    /// then closes everything and stops the workers. Blocks until they stopped.
    public func shutdown() {
        for worker in workers {
            worker.loop.execute { worker.beginShutdown() }
        }
        finished.wait()
    }
}

/// One worker: a loop, its listener, its accepted connections and its dispatcher.
public final class GRPCServerWorker: HTTP2ConnectionDelegate {
    public let index: Int
    public let loop: EventLoop
    let config: GRPCServerConfig
    var listener: Listener?
    public internal(set) var dispatcher: GRPCCallDispatcher!
    private var connections: [ObjectIdentifier: HTTP2Connection] = [:]
    private var idleSweep: UInt64?
    private var shuttingDown = false
    /// `stopLoop` ran (the dispatcher was told, the loop asked to stop).
    private var stopped = false
    /// Open client connections on this worker.
    public var connectionCount: Int { connections.count }
    /// Open streams over all client connections of this worker (call on the worker's loop).
    public var streamCount: Int { connections.values.reduce(0) { $0 + $1.activeStreams } }

    init(index: Int, loop: EventLoop, config: GRPCServerConfig) {
        self.index = index
        self.loop = loop
        self.config = config
    }

    /// HTTP/1.1 requests on the gRPC port go here (nil: such connections are closed).
    public var http1: HTTP1ServerWorker?
    /// TLS handshakes on the gRPC port go here (nil: TLS connections are closed).
    public var tls: TLSServerAcceptor?
    /// Non-gRPC requests over HTTP/2 (GET /metrics, /healthz, ...) go here (nil: 415).
    public var plainHTTP: PlainHTTPHandler?

    func accept(_ fd: Int32) {
        guard !shuttingDown else {
            Socket.close(fd)
            return
        }
        guard http1 != nil || tls != nil else {
            serveHTTP2(PlainChannel(fd: fd))
            return
        }
        do {
            // Workers live as long as the process: unowned keeps them off the weak-reference path.
            _ = try ProtocolSniffer(fd: fd, loop: loop, timeoutNanos: 10_000_000_000) { [unowned self] kind in
                self.handOff(fd: fd, kind)
            }
        } catch {
            Socket.close(fd)
        }
    }

    private func handOff(fd: Int32, _ kind: SniffedProtocol?) {
        switch kind {
        case .http2?:
            serveHTTP2(PlainChannel(fd: fd))
        case .http1? where http1 != nil:
            http1!.serve(PlainChannel(fd: fd), loop: loop)
        case .tls? where tls != nil:
            serveTLS(fd: fd, acceptor: tls!)
        default:
            Socket.close(fd)
        }
    }

    /// Runs the TLS handshake on an accepted socket, then serves what ALPN chose: h2 as gRPC,
    /// http/1.1 (or no ALPN) through the HTTP/1.1 server when there is one; anything else closes.
    public func serveTLS(fd: Int32, acceptor: TLSServerAcceptor) {
        acceptor.accept(fd: fd, loop: loop) { [unowned self] channel, alpn in
            guard let channel else { return }
            if alpn == "h2" {
                self.serveHTTP2(channel)
            } else if alpn == "http/1.1" || alpn == nil, let http1 = self.http1 {
                http1.serve(channel, loop: self.loop)
            } else {
                channel.close()
            }
        }
    }

    /// Serves HTTP/2 (gRPC) on an accepted channel.
    public func serveHTTP2(_ channel: ByteChannel) {
        guard !shuttingDown else {
            channel.close()
            return
        }
        do {
            let connection = try HTTP2Connection(accepted: channel, peer: "client", loop: loop,
                                                 settings: config.http2, delegate: self)
            connections[ObjectIdentifier(connection)] = connection
            scheduleIdleSweep()
        } catch {
            channel.close()
        }
    }

    public func connection(_ connection: HTTP2Connection, didOpen stream: HTTP2Stream) {
        // The worker reads the request headers itself, then hands the stream over.
        stream.delegate = self
    }

    public func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {
        connections[ObjectIdentifier(connection)] = nil
        if shuttingDown && connections.isEmpty { stopLoop() }
    }

    /// Sweeps idle client connections every quarter of the idle timeout while there are any.
    private func scheduleIdleSweep() {
        guard config.idleTimeoutNanos > 0, idleSweep == nil, !shuttingDown else { return }
        idleSweep = loop.schedule(afterNanos: max(config.idleTimeoutNanos / 4, 10_000_000)) { [unowned self] in
            self.idleSweep = nil
            self.sweepIdleConnections()
            if !self.connections.isEmpty { self.scheduleIdleSweep() }
        }
    }

    private func sweepIdleConnections() {
        let now = loop.now
        let timeout = config.idleTimeoutNanos
        for connection in Array(connections.values) where connection.activeStreams == 0 {
            let idle = now &- connection.lastActive
            if connection.isGoingAway {
                // The GOAWAY did not end it (a client that does not read): close.
                if idle > 2 * timeout { connection.close(error: HTTP2ConnectionError(.timedOut, "idle client connection")) }
            } else if idle > timeout {
                connection.shutdownGracefully()
            }
        }
    }

    /// Lets the dispatcher release what it holds, then stops the loop (once).
    private func stopLoop() {
        guard !stopped else { return }
        stopped = true
        dispatcher.didStop()
        loop.stop()
    }

    func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        if let idleSweep { loop.cancelTimer(idleSweep) }
        idleSweep = nil
        listener?.close()
        dispatcher.beginShutdown()
        http1?.beginShutdown()
        if connections.isEmpty {
            stopLoop()
            return
        }
        for connection in connections.values { connection.shutdownGracefully() }
        loop.schedule(afterNanos: config.gracePeriodNanos) { [unowned self] in
            for connection in self.connections.values { connection.close(error: HTTP2ConnectionError(.local, "grace period over")) }
            self.stopLoop()
        }
    }
}

/// The worker is the first delegate of every server stream: it validates the request headers,
/// then hands the stream to the dispatcher (or answers 415 / UNIMPLEMENTED itself).
extension GRPCServerWorker: HTTP2StreamDelegate {
    public func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        guard kind == .request else { return }
        let fields = RequestFields(headers)
        let method = fields.method ?? ""
        let path = fields.path ?? ""
        let contentType = fields.contentType ?? ""
        // The exact value first: it is the interned string nearly every call carries.
        guard contentType == "application/grpc" || contentType.hasPrefix("application/grpc") else {
            if let plainHTTP, let handler = plainHTTP.accept(stream, method: method, path: path, headers: headers.fields) {
                stream.delegate = handler
                handler.streamHeaders(stream, headers, kind: kind)
                return
            }
            GRPCResponses.sendHTTPError(stream, status: 415,
                                        message: "content-type must be application/grpc, got \"\(contentType)\"")
            return
        }
        guard method == "POST" else {
            GRPCResponses.sendHTTPError(stream, status: 405, message: "gRPC calls use POST")
            return
        }
        let now = monotonicNanos()
        var deadline: UInt64?
        if let timeout = fields.timeout {
            guard let nanos = GRPCTimeout.parse(timeout) else {
                GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.invalidArgument, "malformed grpc-timeout \"\(timeout)\""))
                observeRefused(stream, GRPCRequestHead(path: path, headers: headers, deadline: nil, encoding: nil, receivedAt: now))
                return
            }
            deadline = now &+ min(nanos, UInt64.max - now)
        }
        var encoding = fields.encoding
        if encoding == "identity" { encoding = nil }
        let head = GRPCRequestHead(path: path, headers: headers, deadline: deadline, encoding: encoding, receivedAt: now)
        guard let next = dispatcher.dispatch(stream, head: head) else {
            if !stream.isClosed && !stream.headersSent {
                GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.unimplemented, "unknown method \(path)"))
            }
            return
        }
        stream.delegate = next
        next.streamHeaders(stream, headers, kind: kind)
    }

    /// A call refused here, before dispatch (a malformed `grpc-timeout`, a header list over
    /// the limit): the dispatcher may watch it end (`refused`).
    private func observeRefused(_ stream: HTTP2Stream, _ head: GRPCRequestHead) {
        if let observer = dispatcher.refused(stream, head: head) { stream.delegate = observer }
    }

    /// A request header list over the limit is refused with a status naming it (a bare
    /// RST_STREAM reads as INTERNAL in gRPC clients); the connection goes on. A gRPC call, or
    /// a request whose content-type is past the limit, gets RESOURCE_EXHAUSTED, any other 431.
    public func streamHeadersOverflowed(_ stream: HTTP2Stream, _ overflow: HeaderListOverflow, received: HeaderBlock) {
        let fields = RequestFields(received)
        let contentType = fields.contentType ?? ""
        if contentType.isEmpty || contentType.hasPrefix("application/grpc") {
            GRPCResponses.sendTrailersOnly(stream, GRPCStatus(.resourceExhausted, overflow.description))
            observeRefused(stream, GRPCRequestHead(path: fields.path ?? "", headers: received, deadline: nil, encoding: nil,
                                                   receivedAt: monotonicNanos()))
        } else {
            GRPCResponses.sendHTTPError(stream, status: 431, message: overflow.description)
        }
    }

    public func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        stream.consume(data.count)
    }

    public func streamEnded(_ stream: HTTP2Stream) {}

    public func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) {}
}

/// The request headers the worker acts on, read in one pass over the block's bytes (the
/// first of each name wins). Common values (method, content type, gRPC paths) come back as
/// shared strings.
struct RequestFields {
    var method: String?
    var path: String?
    var contentType: String?
    var timeout: String?
    var encoding: String?

    init(_ headers: HeaderBlock) {
        headers.visit { name, value in
            // By length first: each field is compared with at most two names.
            switch name.count {
            case 5 where path == nil && HeaderBlock.equal(name, ":path"): path = HeaderBlock.string(value)
            case 7 where method == nil && HeaderBlock.equal(name, ":method"): method = HeaderBlock.string(value)
            case 12:
                if contentType == nil && HeaderBlock.equal(name, "content-type") {
                    contentType = HeaderBlock.string(value)
                } else if timeout == nil && HeaderBlock.equal(name, "grpc-timeout") {
                    timeout = HeaderBlock.string(value)
                }
            case 13 where encoding == nil && HeaderBlock.equal(name, "grpc-encoding"): encoding = HeaderBlock.string(value)
            default: break
            }
            return true
        }
    }
}

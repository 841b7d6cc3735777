import Transport

/// Counters of one worker's HTTP/1.1 side (read on its loop by the metrics endpoint).
public struct HTTP1Counters: Sendable {
    /// Connections handed to this server.
    public var connections = 0
    /// Requests dispatched to handlers.
    public var requests = 0
    /// Requests refused while being read, by HTTP status (400, 408, 413, 414, 431, ...).
    public var refused: [Int: Int] = [:]
    /// Requests dropped for being too slow (also counted in `refused[408]`).
    public var timeouts = 0

    public init() {}
}

/// The HTTP/1.1 server of one worker: takes connections the protocol sniffer identified as
/// HTTP/1.x and serves them with `service`.
public final class HTTP1ServerWorker {
    public let loop: EventLoop
    public let service: HTTPService
    public let limits: HTTPLimits
    private var connections: [ObjectIdentifier: HTTP1Connection] = [:]
    public private(set) var shuttingDown = false
    public private(set) var counters = HTTP1Counters()

    public init(loop: EventLoop, service: HTTPService, limits: HTTPLimits = HTTPLimits()) {
        self.loop = loop
        self.service = service
        self.limits = limits
    }

    /// Open HTTP/1.1 connections (call on the loop).
    public var connectionCount: Int { connections.count }

    public func serve(_ channel: ByteChannel, loop: EventLoop) {
        guard !shuttingDown else {
            channel.close()
            return
        }
        Socket.setNoDelay(channel.fd)
        let connection = HTTP1Connection(channel: channel, loop: loop, server: self)
        connections[ObjectIdentifier(connection)] = connection
        counters.connections += 1
        do { try connection.start() } catch {
            connections[ObjectIdentifier(connection)] = nil
            channel.close()
        }
    }

    public func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        for connection in Array(connections.values) { connection.shutdownGracefully() }
    }

    /// Closes every connection now.
    public func closeAll() {
        for connection in Array(connections.values) { connection.close() }
    }

    func connectionClosed(_ connection: HTTP1Connection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    func noteRequest() { counters.requests += 1 }
    func noteRefused(status: Int) { counters.refused[status, default: 0] += 1 }
    func noteTimeout() { counters.timeouts += 1 }
}

import HTTP2
import Routing
import Transport

/// Pool settings.
public struct UpstreamPoolConfig: Sendable {
    /// HTTP/2 settings for connections to model endpoints.
    public var http2 = HTTP2Settings()
    /// Close a connection with no streams after this long.
    public var idleTimeoutNanos: UInt64 = 60_000_000_000
    /// Give up connecting after this long.
    public var connectTimeoutNanos: UInt64 = 1_000_000_000
    /// First reconnect backoff after a failure; doubles per failure up to `maxBackoffNanos`.
    public var initialBackoffNanos: UInt64 = 100_000_000
    public var maxBackoffNanos: UInt64 = 2_000_000_000

    public init() {}
}

/// One endpoint's connections and health, on one worker.
final class EndpointState {
    let endpoint: Endpoint
    var address: SocketAddress?
    var connections: [HTTP2Connection] = []
    /// Streams this worker has open to the endpoint (the balancer's load signal): the pool
    /// counts a stream in when it opens one and out when its connection reports the close (`UpstreamPool.counted`).
    var inFlight = 0
    var consecutiveFailures = 0
    var backoffUntil: UInt64 = 0
    var lastError = ""
    /// Set when the idle sweep dropped this state from the pool: holders (cached routes) must
    /// look the endpoint up again instead of opening connections the pool no longer tracks.
    var retired = false

    init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }
}

/// Why a stream could not be opened to an endpoint.
struct PoolError: Error {
    var message: String
}

/// A worker's HTTP/2 (h2c) connections to model endpoints, keyed by endpoint.
///
/// A stream goes on a connection with room under the peer's MAX_CONCURRENT_STREAMS; when
/// none has room, another connection opens. A connection that received GOAWAY takes no new
/// streams. Connect failures put the endpoint in exponential backoff. Idle connections close.
final class UpstreamPool: HTTP2ConnectionDelegate {
    let loop: EventLoop
    let config: UpstreamPoolConfig
    private(set) var endpoints: [Endpoint: EndpointState] = [:]
    private var sweepTimer: UInt64?
    private var connectTimers: [ObjectIdentifier: UInt64] = [:]

    init(loop: EventLoop, config: UpstreamPoolConfig) {
        self.loop = loop
        self.config = config
    }

    /// `state`, or the pool's current state of its endpoint when the sweep retired it.
    @inline(__always)
    func live(_ state: EndpointState) -> EndpointState {
        state.retired ? self.state(for: state.endpoint) : state
    }

    /// The state of `endpoint`, created on first use.
    func state(for endpoint: Endpoint) -> EndpointState {
        if let state = endpoints[endpoint] { return state }
        let state = EndpointState(endpoint: endpoint)
        endpoints[endpoint] = state
        scheduleSweep()
        return state
    }

    /// True when the endpoint is not in connect backoff.
    func isAvailable(_ state: EndpointState) -> Bool {
        state.backoffUntil <= loop.now
    }

    /// Opens a stream to the endpoint on a connection with room, connecting when needed, and
    /// counts it in flight until it closes. `headers` writes the request headers (it may run
    /// more than once).
    func openStream(to state: EndpointState, delegate: HTTP2StreamDelegate,
                    headers: (inout HeaderListWriter) -> Void) throws(PoolError) -> HTTP2Stream {
        let endpoint = state.endpoint
        for connection in state.connections where connection.hasCapacity {
            if let stream = connection.openStream(delegate: delegate, headers: headers) {
                counted(connection, state)
                return stream
            }
        }
        let connection = try connect(state)
        guard let stream = connection.openStream(delegate: delegate, headers: headers) else {
            throw PoolError(message: "cannot open a stream to \(endpoint)")
        }
        counted(connection, state)
        return stream
    }

    /// Brings the endpoint's in-flight count up to date with one connection's open streams: a
    /// connection reports every stream close (`connectionCapacityChanged`), so only its own
    /// change is added (no pass over the endpoint's other connections, of which a busy
    /// endpoint has many).
    @inline(__always)
    private func counted(_ connection: HTTP2Connection, _ state: EndpointState) {
        let open = connection.activeStreams
        state.inFlight += open - connection.ownerStreamCount
        connection.ownerStreamCount = open
    }

    private func connect(_ state: EndpointState) throws(PoolError) -> HTTP2Connection {
        do {
            if state.address == nil { state.address = try SocketAddress(host: state.endpoint.host, port: state.endpoint.port) }
            let connection = try HTTP2Connection(connectingTo: state.address!, loop: loop, settings: config.http2, delegate: self)
            connection.userData = state
            state.connections.append(connection)
            // The connect timer runs until the endpoint's SETTINGS arrive, not just until the TCP
            // connect: an endpoint that accepts connections but does not speak HTTP/2 fails the
            // same way as one that is down. It holds the connection until it fires or is
            // cancelled (on SETTINGS or close); weak captures would put the connection's and the
            // pool's reference counting on the runtime's slow path for their whole life.
            let timeoutMs = config.connectTimeoutNanos / 1_000_000
            let timer = loop.schedule(afterNanos: config.connectTimeoutNanos) { [unowned(unsafe) self] in
                self.connectTimers[ObjectIdentifier(connection)] = nil
                let what = connection.isConnecting ? "connect \(state.endpoint)" : "no HTTP/2 SETTINGS from \(state.endpoint)"
                connection.close(error: HTTP2ConnectionError(.connectFailed, "\(what): timed out after \(timeoutMs) ms"))
            }
            connectTimers[ObjectIdentifier(connection)] = timer
            return connection
        } catch {
            recordFailure(state, message: "\(error)")
            throw PoolError(message: "\(error)")
        }
    }

    private func recordFailure(_ state: EndpointState, message: String) {
        state.consecutiveFailures += 1
        let shift = UInt64(min(state.consecutiveFailures - 1, 16))
        let backoff = min(config.initialBackoffNanos << shift, config.maxBackoffNanos)
        state.backoffUntil = loop.now + backoff
        state.lastError = message
    }

    // MARK: HTTP2ConnectionDelegate

    func connectionDidReceivePeerSettings(_ connection: HTTP2Connection) {
        if let timer = connectTimers.removeValue(forKey: ObjectIdentifier(connection)) { loop.cancelTimer(timer) }
        guard let state = connection.userData as? EndpointState else { return }
        state.consecutiveFailures = 0
        state.backoffUntil = 0
    }

    func connection(_ connection: HTTP2Connection, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {
        if connection.activeStreams == 0 { connection.close() }
    }

    func connectionCapacityChanged(_ connection: HTTP2Connection) {
        // The pool's connections carry their endpoint's state until they close.
        if let state = connection.userData { counted(connection, unsafeDowncast(state, to: EndpointState.self)) }
        if (connection.isGoingAway || connection.isRetiring) && connection.activeStreams == 0 { connection.close() }
    }

    func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {
        if let timer = connectTimers.removeValue(forKey: ObjectIdentifier(connection)) { loop.cancelTimer(timer) }
        guard let state = connection.userData as? EndpointState else { return }
        connection.userData = nil
        state.connections.removeAll { $0 === connection }
        // Its streams stop counting the moment the connection closes.
        state.inFlight -= connection.ownerStreamCount
        connection.ownerStreamCount = 0
        if let error, error.kind == .connectFailed { recordFailure(state, message: error.message) }
    }

    // MARK: Idle sweep

    private func scheduleSweep() {
        guard sweepTimer == nil else { return }
        let interval = max(config.idleTimeoutNanos / 4, 100_000_000)
        sweepTimer = loop.schedule(afterNanos: interval) { [unowned(unsafe) self] in
            self.sweepTimer = nil
            self.sweep()
        }
    }

    func sweep() {
        let now = loop.now
        for state in endpoints.values {
            for connection in state.connections
            where connection.activeStreams == 0 && now &- connection.lastActive > config.idleTimeoutNanos {
                connection.shutdownGracefully()
            }
        }
        for (endpoint, state) in endpoints
        where state.connections.isEmpty && state.inFlight == 0 && state.backoffUntil <= now {
            state.retired = true
            endpoints[endpoint] = nil
        }
        if !endpoints.isEmpty { scheduleSweep() }
    }

    /// Closes every connection (worker shutdown).
    func closeAll() {
        for state in endpoints.values {
            for connection in state.connections { connection.close() }
        }
    }
}

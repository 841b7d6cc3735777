import Transport

/// Why a client call could not start.
public enum HTTP2ClientError: Error, CustomStringConvertible {
    /// No connection could be made (address resolution, socket, nghttp2 session).
    case cannotConnect(any Error)
    /// The connection would not take another stream.
    case cannotOpenStream

    public var description: String {
        switch self {
        case .cannotConnect(let error): return "\(error)"
        case .cannotOpenStream: return "cannot open a stream"
        }
    }
}

/// One HTTP/2 client connection to one server (h2c, or TLS through `makeChannel`), opened on
/// first use and again once it closed or went away; the gRPC and Kubernetes clients start
/// their calls here. Loop-confined.
///
/// It is its connections' delegate: a connection holds its delegate strongly until it closes,
/// so nobody else needs to keep an owner alive for it.
public final class HTTP2Client: HTTP2ConnectionDelegate {
    public let host: String
    public let port: Int
    public let loop: EventLoop
    public let settings: HTTP2Settings
    private let makeChannel: ((Int32) throws -> ByteChannel)?
    /// The current connection, if one was made (it may have closed since).
    public private(set) var connection: HTTP2Connection?

    public init(host: String, port: Int, loop: EventLoop, settings: HTTP2Settings,
                makeChannel: ((Int32) throws -> ByteChannel)? = nil) {
        self.host = host
        self.port = port
        self.loop = loop
        self.settings = settings
        self.makeChannel = makeChannel
    }

    /// Opens a stream with `headers` on the current connection (a new one when it closed or is
    /// going away), making up to `attempts` connections when one refuses the stream, and
    /// returns the call whose delegate hears the response. The caller writes the body and
    /// finishes the stream.
    public func start(headers: [HeaderField], delegate: HTTP2ClientCallDelegate,
                      attempts: Int = 1) throws(HTTP2ClientError) -> HTTP2ClientCall {
        for attempt in 0..<max(1, attempts) {
            let connection: HTTP2Connection
            do { connection = try currentConnection(fresh: attempt > 0) } catch {
                throw .cannotConnect(error)
            }
            let call = HTTP2ClientCall(connection: connection, delegate: delegate)
            guard let stream = connection.openStream(headers: headers, delegate: call) else { continue }
            call.attach(stream)
            return call
        }
        throw .cannotOpenStream
    }

    /// Sends GOAWAY on the connection and lets it close once its streams finish.
    public func shutdownGracefully() {
        connection?.shutdownGracefully()
        connection = nil
    }

    /// Closes the connection now; its calls fail with `connectionLost`.
    public func close(error: HTTP2ConnectionError? = nil) {
        connection?.close(error: error)
        connection = nil
    }

    private func currentConnection(fresh: Bool) throws -> HTTP2Connection {
        if !fresh, let existing = connection, !existing.isClosed, !existing.isGoingAway { return existing }
        let address = try SocketAddress(host: host, port: port)
        let connection = try HTTP2Connection(connectingTo: address, loop: loop, settings: settings, delegate: self,
                                             makeChannel: makeChannel)
        self.connection = connection
        return connection
    }

    // MARK: HTTP2ConnectionDelegate

    public func connectionDidClose(_ connection: HTTP2Connection, error: HTTP2ConnectionError?) {}
}

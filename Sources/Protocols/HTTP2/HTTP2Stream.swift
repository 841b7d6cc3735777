import CNGHTTP2

/// One header field.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension HeaderField {
    /// True for a pseudo-header (`:method`, `:path`, ...).
    @inline(__always)
    public var isPseudo: Bool { name.utf8.first == UInt8(ascii: ":") }
}

extension Array where Element == HeaderField {
    /// The value of the first field named `name` (names are lower case in HTTP/2).
    public subscript(field name: String) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }
}

/// Which header block a stream delivered.
public enum HeaderKind: Sendable, Equatable {
    /// The request headers (server side).
    case request
    /// The response headers (client side); with END_STREAM this is a trailers-only response.
    case response
    /// Trailers after the body.
    case trailers
}

/// Why a stream closed.
public enum StreamCloseReason: Equatable, Sendable {
    /// Closed cleanly in both directions.
    case finished
    /// Reset with this HTTP/2 error code, by the peer or by us (REFUSED_STREAM included; GOAWAY
    /// above the peer's last-stream-id also arrives as REFUSED_STREAM).
    case reset(HTTP2ErrorCode)
    /// The connection closed while the stream was open.
    case connectionLost
    /// The connection never came up: no byte of this stream reached the peer.
    case connectFailed
}

/// Which limit a received request header block went over (`HTTP2Settings.maxHeaderListSize`
/// or `maxHeaderCount`).
public enum HeaderListOverflow: Sendable, Equatable, CustomStringConvertible {
    /// The list's size (each field counts its name, value and 32 bytes) went over this many bytes.
    case bytes(Int)
    /// The block had more than this many fields.
    case fields(Int)

    public var description: String {
        switch self {
        case .bytes(let limit): return "request headers exceed \(limit) bytes (name, value and 32 bytes per field)"
        case .fields(let limit): return "request headers exceed \(limit) fields"
        }
    }
}

/// What a stream's owner hears from it. All calls happen on the connection's loop.
public protocol HTTP2StreamDelegate: AnyObject {
    /// A complete header block arrived.
    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind)
    /// Body bytes arrived; the owner must `consume` them once it no longer holds them.
    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer)
    /// The peer ended its side (END_STREAM), after the last headers or data.
    func streamEnded(_ stream: HTTP2Stream)
    /// `bytes` of queued outbound body left our queue for nghttp2.
    func streamDrained(_ stream: HTTP2Stream, bytes: Int)
    /// Server side, instead of `streamHeaders`: the request header block went over `overflow`
    /// (`received`: its fields up to there; the rest were dropped). The stream stays open for
    /// the delegate to answer (a status naming the limit) and end; by default it is reset
    /// (INTERNAL_ERROR, as nghttp2 does for a block it refuses). A block more than 4 times
    /// over is reset at once instead (an HPACK bomb), without this call.
    func streamHeadersOverflowed(_ stream: HTTP2Stream, _ overflow: HeaderListOverflow, received: HeaderBlock)
    /// The stream closed; no more calls follow.
    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason)
}

extension HTTP2StreamDelegate {
    public func streamDrained(_ stream: HTTP2Stream, bytes: Int) {}
    public func streamHeadersOverflowed(_ stream: HTTP2Stream, _ overflow: HeaderListOverflow, received: HeaderBlock) {
        stream.reset(.internalError)
    }
}

/// One HTTP/2 stream of an `HTTP2Session`: inbound events go to its delegate, outbound
/// body bytes wait in a bounded queue until nghttp2 frames them.
public final class HTTP2Stream {
    /// The stream id (assigned by nghttp2 when a client stream is submitted).
    public internal(set) var id: Int32
    /// The session this stream belongs to (it owns the stream while open), unretained: every
    /// method that reaches the session returns early once the stream closed, and a session
    /// closes its streams before it goes away. Calls go through `withSession`, which adds no
    /// retain on the data path.
    private let sessionReference: Unmanaged<HTTP2Session>
    /// The session this stream belongs to.
    public var session: HTTP2Session { sessionReference.takeUnretainedValue() }
    /// Receives this stream's events.
    public var delegate: HTTP2StreamDelegate?
    /// Server side: the grpc-status this side sent (set by `GRPCResponses`; nil: none yet), for
    /// the access log and spans of calls the gateway answers itself.
    public var sentGRPCStatus: Int?

    /// Where the stream is in its life (open, half-closed, closed; our headers sent or not).
    public internal(set) var state: HTTP2StreamState

    /// The session's list of open streams: the next one (held) and the previous one.
    var next: HTTP2Stream?
    unowned(unsafe) var previous: HTTP2Stream?

    var receivingHeaders = HeaderBlock()
    var receivedHeaderBytes = 0
    /// Server side: the block being received is the request's headers (not trailers).
    var receivingRequestHeaders = false
    /// Server side: the request header block went over this limit; its later fields are
    /// dropped (`droppedHeaderFields` of them so far).
    var requestHeadersOverflow: HeaderListOverflow?
    var droppedHeaderFields = 0
    /// Client side: a response header block arrived, so a later block is trailers.
    var sawResponseHeaders = false
    /// nghttp2 could not send one of this stream's header blocks (over the send limit): the
    /// stream closes as INTERNAL_ERROR.
    var headerBlockNotSent = false

    var outbound = ByteQueue()
    var outboundTrailers: HeaderBlock?
    /// nghttp2 was told the body has no data yet (NGHTTP2_ERR_DEFERRED); resume on the next write.
    var dataDeferred = false
    /// Received body bytes not yet consumed (returned to the peer's window).
    var unconsumed = 0
    var drainedSinceNotify = 0

    /// True once response (server) or request (client) headers have been submitted.
    public var headersSent: Bool { state.headersSent }
    /// True once this side has ended (END_STREAM queued) or reset.
    public var localClosed: Bool { state.localClosed }
    /// True once the stream closed.
    public var isClosed: Bool { state.isClosed }
    /// True once the peer ended its side (END_STREAM received).
    public var remoteEnded: Bool { state.remoteEnded }

    init(id: Int32, session: HTTP2Session, phase: HTTP2StreamState.Phase) {
        self.id = id
        self.sessionReference = Unmanaged.passUnretained(session)
        self.state = HTTP2StreamState(phase: phase)
    }

    /// Bytes queued for sending and not yet handed to nghttp2.
    public var queuedOutboundBytes: Int { outbound.count }

    /// Sends response headers (server). With `endStream` and no body this is a trailers-only response.
    public func sendHeaders(_ headers: [HeaderField], endStream: Bool) {
        sendHeaders(endStream: endStream) { $0.append(contentsOf: headers) }
    }

    /// Sends response headers (server) from a received block, e.g. a proxied response.
    public func sendHeaders(_ headers: HeaderBlock, endStream: Bool) {
        sendHeaders(endStream: endStream) { $0.append(contentsOf: headers) }
    }

    /// Sends response headers (server) written by `write`, e.g. a proxied block plus fields
    /// of the proxy's own, without copying the block.
    public func sendHeaders(endStream: Bool, _ write: (inout HeaderListWriter) -> Void) {
        guard state.sendHeaders(endStream: endStream) else { return }
        sessionReference._withUnsafeGuaranteedRef { $0.submitResponse(self, endStream: endStream, headers: write) }
    }

    /// Queues body bytes (a copy).
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state.acceptsBody else { return }
        outbound.append(bytes)
        resumeIfDeferred()
    }

    /// Queues body bytes (the array itself, shared copy-on-write).
    public func write(_ bytes: [UInt8]) {
        guard state.acceptsBody else { return }
        outbound.append(bytes)
        resumeIfDeferred()
    }

    /// Ends this side after the queued body, with optional trailers.
    public func finish(trailers: [HeaderField]? = nil) {
        finish(trailerBlock: trailers.map { HeaderBlock($0) })
    }

    /// Ends this side after the queued body, with trailers from a received block.
    public func finish(trailers: HeaderBlock) {
        finish(trailerBlock: trailers)
    }

    private func finish(trailerBlock: HeaderBlock?) {
        guard state.finish() else { return }
        outboundTrailers = trailerBlock
        resumeIfDeferred()
    }

    /// Resets the stream with an HTTP/2 error code (`.cancel`, `.refusedStream`, ...).
    public func reset(_ errorCode: HTTP2ErrorCode) {
        guard state.reset() else { return }
        sessionReference._withUnsafeGuaranteedRef { $0.submitReset(self, errorCode: errorCode) }
    }

    /// Once our END_STREAM is on the wire, asks the peer to stop sending its body
    /// (RST_STREAM NO_ERROR, RFC 9113 section 8.1) unless it already ended.
    public func stopPeerAfterResponse() {
        state.stopPeerAfterEnd()
    }

    /// Returns `bytes` of received body to the peer's flow-control window.
    public func consume(_ bytes: Int) {
        guard bytes > 0 else { return }
        let n = min(bytes, unconsumed)
        guard n > 0 else { return }
        unconsumed -= n
        sessionReference._withUnsafeGuaranteedRef { $0.consume(self, bytes: n) }
    }

    private func resumeIfDeferred() {
        if dataDeferred {
            dataDeferred = false
            sessionReference._withUnsafeGuaranteedRef { $0.resumeData(self) }
        }
    }

    /// Called by the data source callback: fill `buffer`, report EOF and trailers.
    func readOutbound(into buffer: UnsafeMutableRawBufferPointer, flags: UnsafeMutablePointer<UInt32>) -> Int {
        let n = outbound.read(into: buffer)
        if n > 0 {
            drainedSinceNotify += n
            sessionReference._withUnsafeGuaranteedRef { $0.noteDrained(self) }
        }
        if outbound.isEmpty && state.endsAfterBody {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if let trailers = outboundTrailers {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                sessionReference._withUnsafeGuaranteedRef { $0.submitTrailers(self, headers: trailers) }
            }
            return n
        }
        if n == 0 {
            dataDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return n
    }
}

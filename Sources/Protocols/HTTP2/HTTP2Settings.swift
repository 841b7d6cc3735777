/// Limits and flow-control settings for an HTTP/2 session, set explicitly on every session.
public struct HTTP2Settings: Sendable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise.
    public var maxConcurrentStreams: UInt32 = 256
    /// SETTINGS_INITIAL_WINDOW_SIZE: the per-stream receive window (and buffering bound).
    public var initialWindowSize: UInt32 = 1 << 20
    /// The connection-level receive window.
    public var connectionWindowSize: Int32 = 16 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (each field counts its name,
    /// value and 32 bytes, as HPACK does).
    public var maxHeaderListSize: UInt32 = 16 << 10
    /// The most header fields accepted in one header block.
    public var maxHeaderCount: Int = 100
    /// SETTINGS_MAX_FRAME_SIZE we advertise.
    public var maxFrameSize: UInt32 = 16 << 10
    /// Token bucket for incoming RST_STREAM (rapid reset, CVE-2023-44487): burst and per-second rate.
    public var streamResetBurst: UInt64 = 1000
    public var streamResetRate: UInt64 = 33
    /// Server side: frames that move no stream forward (PING, SETTINGS, PRIORITY,
    /// WINDOW_UPDATE, empty DATA without END_STREAM) a client may send per second, the burst
    /// too (`ControlFrameBudget`); over it: GOAWAY ENHANCE_YOUR_CALM. 0: no limit.
    public var maxControlFramesPerSecond: Int = 1000
    /// Client side: the resets this side sends on one connection before it takes no new
    /// streams (`PeerResetBudget`): a burst, then per second; half of nghttp2's default limit.
    /// 0: no limit.
    public var peerResetBurst: Int = 500
    public var peerResetRate: Int = 33
    /// The most CONTINUATION frames in one header block (CVE-2024-28182).
    public var maxContinuations: Int = 8
    /// Assumed peer MAX_CONCURRENT_STREAMS until its SETTINGS arrive (client side).
    public var assumedPeerMaxConcurrentStreams: UInt32 = 100
    /// Server side: a client whose SETTINGS frame (the end of its connection preface) has not
    /// arrived this long after the connection was handed to HTTP/2 gets GOAWAY and is closed
    /// (0: never). A client sends its preface in one write; one that trickles it is an attack.
    public var peerSettingsTimeoutNanos: UInt64 = 3_000_000_000
    /// Bytes of serialized frames buffered per connection before we stop asking nghttp2 for more.
    public var maxOutboundBuffer: Int = 128 << 10

    public init() {}
}

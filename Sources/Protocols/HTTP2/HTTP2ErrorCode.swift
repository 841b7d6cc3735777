/// An HTTP/2 error code (RFC 9113 section 7), as carried by RST_STREAM and GOAWAY.
///
/// A struct over the wire value rather than a closed enum (as in swift-nio-http2): a peer may
/// send any 32-bit code, and an unknown one must pass through unchanged (a proxy relays the
/// model's reset as it is). Integer literals convert, so `reset(8)` still reads as CANCEL.
public struct HTTP2ErrorCode: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The code on the wire.
    public var rawValue: UInt32

    @inline(__always)
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    @inline(__always)
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    @inline(__always)
    public init(integerLiteral value: UInt32) { self.rawValue = value }

    /// Graceful shutdown, or a stream ended on purpose.
    public static let noError = HTTP2ErrorCode(0x0)
    /// An unspecific protocol error.
    public static let protocolError = HTTP2ErrorCode(0x1)
    /// An unexpected internal error.
    public static let internalError = HTTP2ErrorCode(0x2)
    /// The peer violated flow control.
    public static let flowControlError = HTTP2ErrorCode(0x3)
    /// SETTINGS were not acknowledged in time.
    public static let settingsTimeout = HTTP2ErrorCode(0x4)
    /// A frame arrived after the stream was half-closed.
    public static let streamClosed = HTTP2ErrorCode(0x5)
    /// A frame had an invalid size.
    public static let frameSizeError = HTTP2ErrorCode(0x6)
    /// The stream was refused before any processing: safe to retry elsewhere.
    public static let refusedStream = HTTP2ErrorCode(0x7)
    /// The stream is no longer needed.
    public static let cancel = HTTP2ErrorCode(0x8)
    /// The header compression context cannot be kept.
    public static let compressionError = HTTP2ErrorCode(0x9)
    /// A CONNECT tunnel was reset or closed abnormally.
    public static let connectError = HTTP2ErrorCode(0xa)
    /// The peer generates excessive load.
    public static let enhanceYourCalm = HTTP2ErrorCode(0xb)
    /// The transport does not meet minimum security requirements.
    public static let inadequateSecurity = HTTP2ErrorCode(0xc)
    /// HTTP/1.1 is required instead of HTTP/2.
    public static let http11Required = HTTP2ErrorCode(0xd)

    /// The RFC name (`CANCEL`, `REFUSED_STREAM`, ...), `unknown` for codes it does not define
    /// (the same text as nghttp2's `nghttp2_http2_strerror`).
    public var name: String {
        switch rawValue {
        case 0x0: return "NO_ERROR"
        case 0x1: return "PROTOCOL_ERROR"
        case 0x2: return "INTERNAL_ERROR"
        case 0x3: return "FLOW_CONTROL_ERROR"
        case 0x4: return "SETTINGS_TIMEOUT"
        case 0x5: return "STREAM_CLOSED"
        case 0x6: return "FRAME_SIZE_ERROR"
        case 0x7: return "REFUSED_STREAM"
        case 0x8: return "CANCEL"
        case 0x9: return "COMPRESSION_ERROR"
        case 0xa: return "CONNECT_ERROR"
        case 0xb: return "ENHANCE_YOUR_CALM"
        case 0xc: return "INADEQUATE_SECURITY"
        case 0xd: return "HTTP_1_1_REQUIRED"
        default: return "unknown"
        }
    }

    /// The name, with the raw value for an unknown code.
    public var description: String {
        rawValue <= 0xd ? name : "unknown(0x\(String(rawValue, radix: 16)))"
    }
}

/// gRPC length-prefixed message framing: a 1-byte compressed flag and a 4-byte big-endian length.
public enum GRPCFraming {
    /// The prefix size.
    public static let prefixLength = 5

    /// Frames one uncompressed message.
    public static func frame(_ message: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(message.count + prefixLength)
        appendPrefix(to: &out, length: message.count, compressed: false)
        out.append(contentsOf: message)
        return out
    }

    /// Appends a prefix for a message of `length` bytes.
    public static func appendPrefix(to out: inout [UInt8], length: Int, compressed: Bool) {
        out.append(compressed ? 1 : 0)
        let value = UInt32(truncatingIfNeeded: length)
        out.append(UInt8(value >> 24))
        out.append(UInt8((value >> 16) & 0xFF))
        out.append(UInt8((value >> 8) & 0xFF))
        out.append(UInt8(value & 0xFF))
    }
}

/// A framing violation found while reading messages.
public enum GRPCFramingError: Error, Equatable {
    /// The compressed-flag byte was neither 0 nor 1.
    case invalidFlag(UInt8)
    /// A compressed message arrived without a `grpc-encoding`.
    case compressedWithoutEncoding
    /// A compressed message in an encoding this side does not decompress.
    case unsupportedEncoding(String)
    /// A message is larger than the limit.
    case messageTooLarge(length: Int, limit: Int)
    /// The stream ended inside a message.
    case truncated

    /// The gRPC status this violation maps to.
    public var status: GRPCStatus {
        switch self {
        case .invalidFlag(let flag):
            return GRPCStatus(.invalidArgument, "invalid gRPC message: compressed flag \(flag) is neither 0 nor 1")
        case .compressedWithoutEncoding:
            return GRPCStatus(.invalidArgument, "compressed gRPC message without grpc-encoding")
        case .unsupportedEncoding(let encoding):
            return GRPCStatus(.unimplemented, "grpc-encoding \"\(encoding)\" is not supported here; send identity (uncompressed) messages")
        case .messageTooLarge(let length, let limit):
            return GRPCStatus(.resourceExhausted, "message of \(length) bytes is larger than the limit of \(limit) bytes")
        case .truncated:
            return GRPCStatus(.invalidArgument, "the stream ended inside a gRPC message")
        }
    }
}

/// Finds the 5-byte message prefixes in a gRPC byte stream, without holding or checking the
/// messages: the boundaries alone (a proxy's response direction), or under `GRPCFrameTracker`.
public struct GRPCMessageBoundaries {
    /// The bytes of a prefix seen so far, accumulated big-endian (no buffer to allocate).
    private var prefixBits: UInt64 = 0
    private var prefixCount = 0
    private var remainingBody = 0

    public init() {}

    /// True when the stream is between messages (may end here).
    public var atMessageBoundary: Bool { prefixCount == 0 && remainingBody == 0 }

    /// Advances over `bytes`, calling `prefix` with each complete prefix's flag and length (the
    /// message body that follows is skipped whatever `prefix` does, unless it throws).
    @inline(__always)
    public mutating func advance<E: Error>(over bytes: UnsafeRawBufferPointer,
                                           prefix: (_ flag: UInt8, _ length: Int) throws(E) -> Void) throws(E) {
        var index = 0
        let count = bytes.count
        while index < count {
            if remainingBody > 0 {
                let skip = min(remainingBody, count - index)
                remainingBody -= skip
                index += skip
                continue
            }
            let flag: UInt8
            let length: Int
            if prefixCount == 0 && count - index >= GRPCFraming.prefixLength {
                // The whole prefix is here (nearly always): read it at once.
                flag = bytes[index]
                length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: index + 1, as: UInt32.self)))
                index += GRPCFraming.prefixLength
            } else {
                prefixBits = prefixBits << 8 | UInt64(bytes[index])
                prefixCount += 1
                index += 1
                guard prefixCount == GRPCFraming.prefixLength else { continue }
                flag = UInt8(truncatingIfNeeded: prefixBits >> 32)
                length = Int(prefixBits & 0xFFFF_FFFF)
                prefixBits = 0
                prefixCount = 0
            }
            try prefix(flag, length)
            remainingBody = length
        }
    }
}

/// Follows message boundaries in a byte stream without holding the messages, checking each
/// prefix: what a proxy needs to enforce limits while bytes flow through.
public struct GRPCFrameTracker {
    /// The largest message allowed.
    public let maxMessageBytes: Int
    /// Whether compressed messages pass (a proxy forwards them as they are); otherwise they are
    /// refused, naming `encoding` when the stream declared one.
    public let compressionAllowed: Bool
    /// The stream's `grpc-encoding` (nil: none or identity).
    public let encoding: String?

    private var boundaries = GRPCMessageBoundaries()
    /// Messages whose prefix has been seen.
    public private(set) var messagesStarted = 0

    public init(maxMessageBytes: Int, compressionAllowed: Bool, encoding: String? = nil) {
        self.maxMessageBytes = maxMessageBytes
        self.compressionAllowed = compressionAllowed
        self.encoding = encoding
    }

    /// True when the stream is between messages (may end here).
    public var atMessageBoundary: Bool { boundaries.atMessageBoundary }

    /// Messages seen whole.
    public var messagesFinished: Int { boundaries.atMessageBoundary ? messagesStarted : messagesStarted - 1 }

    /// Advances over `bytes`, checking every prefix.
    public mutating func advance(over bytes: UnsafeRawBufferPointer) throws(GRPCFramingError) {
        let limit = maxMessageBytes
        let compressionAllowed = compressionAllowed
        var started = 0
        defer { messagesStarted += started }
        try boundaries.advance(over: bytes) { (flag, length) throws(GRPCFramingError) in
            if flag > 1 { throw .invalidFlag(flag) }
            if flag == 1 && !compressionAllowed {
                throw encoding.map { .unsupportedEncoding($0) } ?? .compressedWithoutEncoding
            }
            if length > limit { throw .messageTooLarge(length: length, limit: limit) }
            started += 1
        }
    }
}

/// Collects whole messages from a byte stream, for calls the gateway answers itself.
public struct GRPCMessageReader {
    public let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var tracker: GRPCFrameTracker

    public init(maxMessageBytes: Int, compressionAllowed: Bool = false, encoding: String? = nil) {
        self.maxMessageBytes = maxMessageBytes
        tracker = GRPCFrameTracker(maxMessageBytes: maxMessageBytes, compressionAllowed: compressionAllowed,
                                   encoding: encoding)
    }

    /// Appends bytes, validating prefixes as they complete.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(GRPCFramingError) {
        try tracker.advance(over: bytes)
        buffer.append(contentsOf: bytes)
    }

    /// Removes and returns every complete message (bodies without prefixes).
    public mutating func takeMessages() -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var offset = 0
        while buffer.count - offset >= GRPCFraming.prefixLength {
            let length = Int(buffer[offset + 1]) << 24 | Int(buffer[offset + 2]) << 16
                | Int(buffer[offset + 3]) << 8 | Int(buffer[offset + 4])
            guard buffer.count - offset - GRPCFraming.prefixLength >= length else { break }
            let start = offset + GRPCFraming.prefixLength
            messages.append(Array(buffer[start..<(start + length)]))
            offset = start + length
        }
        if offset > 0 { buffer.removeFirst(offset) }
        return messages
    }

    /// True when no partial message is buffered.
    public var isEmpty: Bool { buffer.isEmpty }
}

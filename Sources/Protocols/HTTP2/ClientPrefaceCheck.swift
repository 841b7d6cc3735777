/// Checks, byte by byte as they arrive, that a client's connection preface can still be valid:
/// the 24-byte magic, then the header of a SETTINGS frame (RFC 9113 section 3.4).
///
/// nghttp2 checks the magic as it arrives but the first frame only once its whole 9-byte
/// header is in: a client that sent the magic and then fewer than 9 bytes of garbage kept its
/// connection open for as long as it liked (issue 18: 1 in 100 random-garbage connections).
/// This check refuses such a header at its first impossible byte, so the connection ends with
/// GOAWAY at once; a header that may still become a valid SETTINGS frame is left to nghttp2
/// (and the connection's SETTINGS timeout).
public struct ClientPrefaceCheck: Sendable {
    /// What the bytes seen so far say.
    public enum Verdict: Hashable, Sendable {
        /// Valid so far; more preface bytes are needed to decide.
        case undecided
        /// The whole first frame header is a valid SETTINGS frame header: nothing left to check.
        case passed
        /// The byte at this offset of the last buffer cannot start a valid preface (bytes
        /// before it may be handed on; the magic itself is nghttp2's to check).
        case invalid(offset: Int)
    }

    /// The magic's length; the frame header follows it.
    static let magicLength = 24
    static let frameHeaderLength = 9

    /// The largest first SETTINGS frame accepted: the peer may already have our SETTINGS (and
    /// our SETTINGS_MAX_FRAME_SIZE), or not (then 16,384 holds).
    private let maxLength: Int
    /// Preface bytes seen so far.
    private var seen = 0
    /// The frame length's bytes so far.
    private var length = 0
    public private(set) var verdict = Verdict.undecided

    public init(maxFrameSize: UInt32) {
        maxLength = max(16_384, Int(maxFrameSize))
    }

    /// Looks at the next bytes the client sent and returns the verdict (once `passed` or
    /// `invalid`, it stays so and later bytes are not looked at).
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        guard verdict == .undecided else { return verdict }
        let before = seen
        let end = Self.magicLength + Self.frameHeaderLength
        seen = min(end, before + bytes.count)
        // bytes[offset] is preface byte `before + offset`; the frame header starts at byte 24.
        var offset = max(0, Self.magicLength - before)
        while offset < bytes.count, before + offset < end {
            if !Self.valid(byte: bytes[offset], at: before + offset - Self.magicLength, length: &length, maxLength: maxLength) {
                verdict = .invalid(offset: offset)
                return verdict
            }
            offset += 1
        }
        if seen == end { verdict = .passed }
        return verdict
    }

    /// Whether `byte` may be byte `index` of the first frame header (a SETTINGS frame on
    /// stream 0 without ACK, whose length is a multiple of 6 within `maxLength`).
    private static func valid(byte: UInt8, at index: Int, length: inout Int, maxLength: Int) -> Bool {
        switch index {
        case 0, 1, 2:
            length = length << 8 | Int(byte)
            // The smallest length the bytes so far allow (later bytes 0) must fit.
            let smallest = length << (8 * (2 - index))
            if smallest > maxLength { return false }
            return index < 2 || length % 6 == 0
        case 3: return byte == 0x4                     // SETTINGS
        case 4: return byte & 0x1 == 0                 // not an ACK
        case 5: return byte & 0x7f == 0                // stream 0 (the reserved bit is ignored)
        default: return byte == 0
        }
    }
}

/// A W3C Trace Context (`traceparent`, version 00): a 128-bit trace id, the 64-bit id of the
/// caller's span, and the sampled flag. https://www.w3.org/TR/trace-context/
public struct TraceContext: Equatable, Sendable {
    /// The trace id's high and low 64 bits (never both zero).
    public var traceHigh: UInt64
    public var traceLow: UInt64
    /// The parent span's id (never zero).
    public var spanID: UInt64
    /// Bit 0 of the trace flags: the caller records this trace.
    public var sampled: Bool

    public init(traceHigh: UInt64, traceLow: UInt64, spanID: UInt64, sampled: Bool) {
        self.traceHigh = traceHigh
        self.traceLow = traceLow
        self.spanID = spanID
        self.sampled = sampled
    }

    /// Parses a `traceparent` value; nil when it is not valid: lowercase hex only, version
    /// `ff` and all-zero ids refused, version 00 exactly 55 characters, a later version at
    /// least 55 with a `-` after the flags (its extra fields ignored, as the spec asks).
    public init?(traceparent value: String) {
        var copy = value
        let parsed: TraceContext? = copy.withUTF8 { bytes in
            guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"),
                  bytes[52] == UInt8(ascii: "-"),
                  let version = Self.hex(bytes, 0, 2), version != 0xff,
                  let high = Self.hex(bytes, 3, 16), let low = Self.hex(bytes, 19, 16),
                  let span = Self.hex(bytes, 36, 16), let flags = Self.hex(bytes, 53, 2) else { return nil }
            if version == 0 ? bytes.count != 55 : (bytes.count > 55 && bytes[55] != UInt8(ascii: "-")) { return nil }
            guard high != 0 || low != 0, span != 0 else { return nil }
            return TraceContext(traceHigh: high, traceLow: low, spanID: span, sampled: flags & 1 == 1)
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// The length of a version-00 `traceparent`.
    public static let traceparentLength = 55

    /// Writes the `traceparent` a callee receives when `span` is its parent at `out`
    /// (`traceparentLength` bytes).
    public func writeTraceparent(parent span: UInt64, into out: UnsafeMutablePointer<UInt8>) {
        out[0] = UInt8(ascii: "0")
        out[1] = UInt8(ascii: "0")
        out[2] = UInt8(ascii: "-")
        Self.writeHex(traceHigh, into: out + 3)
        Self.writeHex(traceLow, into: out + 19)
        out[35] = UInt8(ascii: "-")
        Self.writeHex(span, into: out + 36)
        out[52] = UInt8(ascii: "-")
        out[53] = UInt8(ascii: "0")
        out[54] = sampled ? UInt8(ascii: "1") : UInt8(ascii: "0")
    }

    /// Writes `value` as 16 lowercase hex digits at `out`, two per byte.
    static func writeHex(_ value: UInt64, into out: UnsafeMutablePointer<UInt8>) {
        let pairs = hexPairs.utf8Start
        for index in 0..<8 {
            let pair = (Int(truncatingIfNeeded: value >> UInt64(56 - 8 * index)) & 0xff) &* 2
            out[2 * index] = pairs[pair]
            out[2 * index + 1] = pairs[pair + 1]
        }
    }

    /// "00" ... "ff" (a literal: no lazy global to check on every use).
    static let hexPairs: StaticString = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

    /// `count` lowercase hex digits at `offset` (at most 16); nil on any other character.
    private static func hex(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: Int, _ count: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in offset..<(offset + count) {
            let c = bytes[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Appends JSON text straight to a byte buffer (no `String` per value): what the workers use
/// to encode access-log lines and spans.
public struct JSONBytes {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A JSON string: quotes, backslash and control characters escaped.
    public mutating func string<S: StringProtocol>(_ value: S) {
        bytes.append(UInt8(ascii: "\""))
        for c in value.utf8 {
            switch c {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\r"): raw("\\r")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(Self.hexDigit(c >> 4))
                bytes.append(Self.hexDigit(c & 0xf))
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A decimal integer.
    public mutating func int(_ value: Int) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(UInt64(-(value + 1)) + 1)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// A decimal unsigned integer.
    public mutating func unsigned(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        withUnsafeMutableBytes(of: &digits) { scratch in
            var n = value
            var index = 32
            repeat {
                index -= 1
                scratch[index] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
            bytes.append(contentsOf: scratch[index...])
        }
    }

    /// `nanos` in milliseconds with three decimals (`12.345`).
    public mutating func millis(nanos: UInt64) {
        let micros = nanos / 1_000
        unsigned(micros / 1_000)
        bytes.append(UInt8(ascii: "."))
        let fraction = micros % 1_000
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    /// 16 lowercase hex digits.
    public mutating func hex(_ value: UInt64) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 16))
        bytes.withUnsafeMutableBufferPointer { TraceContext.writeHex(value, into: $0.baseAddress! + start) }
    }

    /// A Unix time in nanoseconds as RFC 3339 UTC with milliseconds (`2026-12-07T15:02:22.123Z`).
    public mutating func timestamp(unixNanos: UInt64) {
        var seconds = time_t(unixNanos / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) {
            bytes.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
            bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        unsigned(UInt64(parts.tm_year + 1900))
        bytes.append(UInt8(ascii: "-"))
        two(parts.tm_mon + 1)
        bytes.append(UInt8(ascii: "-"))
        two(parts.tm_mday)
        bytes.append(UInt8(ascii: "T"))
        two(parts.tm_hour)
        bytes.append(UInt8(ascii: ":"))
        two(parts.tm_min)
        bytes.append(UInt8(ascii: ":"))
        two(parts.tm_sec)
        bytes.append(UInt8(ascii: "."))
        let millis = Int32(unixNanos / 1_000_000 % 1_000)
        bytes.append(UInt8(ascii: "0") + UInt8(millis / 100))
        two(millis % 100)
        bytes.append(UInt8(ascii: "Z"))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

/// The wall clock in Unix nanoseconds.
public func unixNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

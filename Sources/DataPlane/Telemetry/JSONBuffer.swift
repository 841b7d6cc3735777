#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer that JSON text is written into straight through a pointer (no
/// `String` per value, no per-byte bounds or uniqueness checks): what the workers encode
/// access-log lines and spans into. One per worker and kind, reused after each hand-over.
public final class JSONBuffer {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written.
    public private(set) var count = 0
    /// The last second `timestamp` formatted, and its first 20 bytes (`2026-12-07T15:02:22.`).
    private var cachedSecond: UInt64 = .max
    private var cachedPrefix: (UInt64, UInt64, UInt64) = (0, 0, 0)

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// A copy of the bytes written.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Forgets what was written (keeps the storage).
    public func reset() {
        count = 0
    }

    /// Makes room for `n` more bytes; returns where they go.
    @inline(__always)
    private func reserve(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if count + n > capacity { grow(count + n) }
        return base + count
    }

    private func grow(_ needed: Int) {
        var next = capacity * 2
        while next < needed { next *= 2 }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: next)
        storage.update(from: base, count: count)
        base.deallocate()
        base = storage
        capacity = next
    }

    @inline(__always)
    public func byte(_ value: UInt8) {
        reserve(1).pointee = value
        count += 1
    }

    @inline(__always)
    public func raw(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        reserve(n).update(from: text.utf8Start, count: n)
        count += n
    }

    /// Appends bytes as they are.
    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count += bytes.count
    }

    /// A JSON string: quotes, backslash and control characters escaped.
    public func string<S: StringProtocol>(_ value: S) {
        if value.utf8.withContiguousStorageIfAvailable({ quoted($0) }) == nil {
            var copy = String(value)
            copy.withUTF8 { quoted($0) }
        }
    }

    private func quoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        byte(UInt8(ascii: "\""))
        // Nearly always nothing needs escaping: one copy.
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            append(UnsafeRawBufferPointer(utf8))
        } else {
            for c in utf8 {
                switch c {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                case 0..<0x20:
                    raw("\\u00")
                    byte(Self.hexDigit(c >> 4))
                    byte(Self.hexDigit(c & 0xf))
                default: byte(c)
                }
            }
        }
        byte(UInt8(ascii: "\""))
    }

    /// A decimal integer.
    public func int(_ value: Int) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            unsigned(UInt64(-(value + 1)) + 1)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// "00" ... "99", for writing decimals two digits at a time.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// A decimal unsigned integer.
    public func unsigned(_ value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        let out = reserve(digits)
        var n = value
        var index = digits
        Self.digitPairs.withUnsafeBufferPointer { pairs in
            while n >= 10 {
                let pair = Int(n % 100) * 2
                n /= 100
                index -= 2
                out[index] = pairs[pair]
                out[index + 1] = pairs[pair + 1]
            }
            if index > 0 { out[0] = UInt8(ascii: "0") + UInt8(n) }
        }
        count += digits
    }

    /// `nanos` in milliseconds with three decimals (`12.345`).
    public func millis(nanos: UInt64) {
        let micros = nanos / 1_000
        unsigned(micros / 1_000)
        let fraction = micros % 1_000
        let out = reserve(4)
        out[0] = UInt8(ascii: ".")
        out[1] = UInt8(ascii: "0") + UInt8(fraction / 100)
        out[2] = UInt8(ascii: "0") + UInt8(fraction / 10 % 10)
        out[3] = UInt8(ascii: "0") + UInt8(fraction % 10)
        count += 4
    }

    /// 16 lowercase hex digits.
    public func hex(_ value: UInt64) {
        TraceContext.writeHex(value, into: reserve(16))
        count += 16
    }

    /// A Unix time in nanoseconds as RFC 3339 UTC with milliseconds (`2026-12-07T15:02:22.123Z`).
    public func timestamp(unixNanos: UInt64) {
        let second = unixNanos / 1_000_000_000
        if second != cachedSecond {
            cachedSecond = second
            var seconds = time_t(second)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            withUnsafeMutableBytes(of: &cachedPrefix) { prefix in
                func two(_ at: Int, _ value: Int32) {
                    prefix[at] = UInt8(ascii: "0") + UInt8(value / 10 % 10)
                    prefix[at + 1] = UInt8(ascii: "0") + UInt8(value % 10)
                }
                let year = parts.tm_year + 1900
                two(0, year / 100)
                two(2, year % 100)
                prefix[4] = UInt8(ascii: "-")
                two(5, parts.tm_mon + 1)
                prefix[7] = UInt8(ascii: "-")
                two(8, parts.tm_mday)
                prefix[10] = UInt8(ascii: "T")
                two(11, parts.tm_hour)
                prefix[13] = UInt8(ascii: ":")
                two(14, parts.tm_min)
                prefix[16] = UInt8(ascii: ":")
                two(17, parts.tm_sec)
                prefix[19] = UInt8(ascii: ".")
            }
        }
        withUnsafeBytes(of: cachedPrefix) { append(UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
        let millis = unixNanos / 1_000_000 % 1_000
        let out = reserve(4)
        out[0] = UInt8(ascii: "0") + UInt8(millis / 100)
        out[1] = UInt8(ascii: "0") + UInt8(millis / 10 % 10)
        out[2] = UInt8(ascii: "0") + UInt8(millis % 10)
        out[3] = UInt8(ascii: "Z")
        count += 4
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

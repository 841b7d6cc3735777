#if canImport(Glibc)
import Glibc
#endif

/// A growable byte buffer that records are encoded into straight through a pointer (no
/// `String` per value, no per-byte bounds or uniqueness checks): JSON text (access-log lines,
/// OTLP/JSON spans) or protobuf (OTLP spans). One per writer thread, reused for each batch.
public final class RecordBuffer {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written.
    public private(set) var count = 0
    /// The last second `timestamp` formatted, and its first 20 bytes (`2026-12-07T15:02:22.`).
    private var cachedSecond: UInt64 = .max
    private var cachedPrefix: (UInt64, UInt64, UInt64) = (0, 0, 0)

    /// A fragment encoded once and copied while its inputs repeat (calls repeat one path,
    /// model, version, peer and endpoint: the thread encoding them copies instead of escaping).
    private struct Fragment {
        var a = ""
        var b = ""
        var c = ""
        var n = 0
        var bytes: [UInt8] = []
        var valid = false
    }

    /// Fragment slots, by the caller's tag (0 ..< 8).
    private var fragments = [Fragment](repeating: Fragment(), count: 8)

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// A copy of the bytes written.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The bytes written, without a copy (valid only inside `body`).
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

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

    /// Appends what `make` writes for the inputs `a`, `b`, `c`, `n`, from slot `tag`'s copy
    /// when the slot last saw the same inputs (`make` must depend on nothing else).
    public func fragment(_ tag: Int, _ a: String, _ b: String = "", _ c: String = "", _ n: Int = 0,
                         _ make: (RecordBuffer) -> Void) {
        let hit = fragments.withUnsafeBufferPointer { slots -> Bool in
            let slot = slots.baseAddress! + tag
            guard slot.pointee.valid && slot.pointee.n == n && slot.pointee.a == a && slot.pointee.b == b
                    && slot.pointee.c == c else { return false }
            slot.pointee.bytes.withUnsafeBytes { append($0) }
            return true
        }
        if hit { return }
        let start = count
        make(self)
        fragments[tag] = Fragment(a: a, b: b, c: c, n: n, bytes: Array(UnsafeBufferPointer(start: base + start, count: count - start)),
                                  valid: true)
    }

    /// A JSON string: quotes, backslash and control characters escaped.
    public func string(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ quoted($0) }) == nil {
            var copy = value
            copy.withUTF8 { quoted($0) }
        }
    }

    /// A JSON string of UTF-8 bytes: quotes, backslash and control characters escaped.
    public func quoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        let n = utf8.count
        let out = reserve(n + 2)
        out[0] = UInt8(ascii: "\"")
        // Nearly always nothing needs escaping: copied as it is checked.
        if let source = utf8.baseAddress {
            var index = 0
            while index < n {
                let c = source[index]
                if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
                out[index + 1] = c
                index += 1
            }
            if index < n {
                count += 1 + index
                escaped(UnsafeBufferPointer(rebasing: utf8[index...]))
                return
            }
        }
        out[n + 1] = UInt8(ascii: "\"")
        count += n + 2
    }

    /// The rest of a JSON string from its first byte that needs escaping, and the closing quote.
    private func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
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

    /// "00" ... "99" (a literal: no lazy global to check on every use).
    static let decimalPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// A decimal unsigned integer (digits written backwards into place, two at a time: at most 20).
    public func unsigned(_ value: UInt64) {
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let digits = withUnsafeMutableBytes(of: &scratch) { raw -> Int in
            let end = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + 24
            let pairs = Self.decimalPairs.utf8Start
            var cursor = end
            var n = value
            while n >= 100 {
                let pair = Int(truncatingIfNeeded: n % 100) &* 2
                n /= 100
                cursor -= 2
                cursor[0] = pairs[pair]
                cursor[1] = pairs[pair + 1]
            }
            if n >= 10 {
                cursor -= 2
                cursor[0] = pairs[Int(n) &* 2]
                cursor[1] = pairs[Int(n) &* 2 + 1]
            } else {
                cursor -= 1
                cursor[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n)
            }
            let count = end - cursor
            reserve(count).update(from: cursor, count: count)
            return count
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

    // MARK: Protobuf

    /// A base-128 varint.
    public func varint(_ value: UInt64) {
        let out = reserve(10)
        var n = value
        var index = 0
        while n >= 0x80 {
            out[index] = UInt8(truncatingIfNeeded: n) | 0x80
            n >>= 7
            index += 1
        }
        out[index] = UInt8(n)
        count += index + 1
    }

    /// Bytes of `value` as a varint.
    public static func varintSize(_ value: UInt64) -> Int {
        var n = value
        var size = 1
        while n >= 0x80 {
            n >>= 7
            size += 1
        }
        return size
    }

    /// A field's tag (`number << 3 | wire type`; every tag here fits one byte).
    @inline(__always)
    public func tag(_ number: UInt8, _ wireType: UInt8) {
        byte(number << 3 | wireType)
    }

    /// A length-delimited field holding `value`'s UTF-8.
    public func protoString(_ number: UInt8, _ value: String) {
        var copy = value
        copy.withUTF8 { protoBytes(number, $0) }
    }

    /// A length-delimited field holding `bytes`.
    public func protoBytes(_ number: UInt8, _ bytes: UnsafeBufferPointer<UInt8>) {
        tag(number, 2)
        varint(UInt64(bytes.count))
        append(UnsafeRawBufferPointer(bytes))
    }

    /// A fixed64 field.
    public func fixed64(_ number: UInt8, _ value: UInt64) {
        tag(number, 1)
        withUnsafeBytes(of: value.littleEndian) { append($0) }
    }

    /// A length-delimited field of an 8-byte id (span ids), big-endian.
    public func id64(_ number: UInt8, _ value: UInt64) {
        tag(number, 2)
        byte(8)
        withUnsafeBytes(of: value.bigEndian) { append($0) }
    }

    /// A length-delimited field of a 16-byte id (trace ids), big-endian.
    public func id128(_ number: UInt8, high: UInt64, low: UInt64) {
        tag(number, 2)
        byte(16)
        withUnsafeBytes(of: high.bigEndian) { append($0) }
        withUnsafeBytes(of: low.bigEndian) { append($0) }
    }

    /// A `KeyValue` in field `number` with a string `AnyValue` (its field 1).
    public func keyValue(_ number: UInt8, _ key: StaticString, _ value: String) {
        var copy = value
        copy.withUTF8 { keyValue(number, key, bytes: $0) }
    }

    /// A `KeyValue` in field `number` with a string `AnyValue` of UTF-8 `bytes`.
    public func keyValue(_ number: UInt8, _ key: StaticString, bytes: UnsafeBufferPointer<UInt8>) {
        keyValueHead(number, key, anySize: 1 + Self.varintSize(UInt64(bytes.count)) + bytes.count)
        protoBytes(1, bytes)
    }

    /// A `KeyValue` in field `number` with an int `AnyValue` (its field 3).
    public func keyValue(_ number: UInt8, _ key: StaticString, int value: Int) {
        let bits = UInt64(bitPattern: Int64(value))
        keyValueHead(number, key, anySize: 1 + Self.varintSize(bits))
        tag(3, 0)
        varint(bits)
    }

    /// A `KeyValue`'s tag, length and key (field 1), and its value's tag and length (field 2).
    private func keyValueHead(_ number: UInt8, _ key: StaticString, anySize: Int) {
        let keySize = key.utf8CodeUnitCount
        tag(number, 2)
        varint(UInt64(1 + Self.varintSize(UInt64(keySize)) + keySize + 1 + Self.varintSize(UInt64(anySize)) + anySize))
        tag(1, 2)
        varint(UInt64(keySize))
        raw(key)
        tag(2, 2)
        varint(UInt64(anySize))
    }

    /// Reserves a 3-byte length of a length-delimited value written next; pass the result to
    /// `endLength` once it is written (a padded varint: protobuf readers accept it).
    public func beginLength() -> Int {
        _ = reserve(3)
        count += 3
        return count
    }

    /// Fills in the length reserved by `beginLength` (at most 2 MiB).
    public func endLength(_ start: Int) {
        let length = count - start
        precondition(length < 1 << 21, "a protobuf record over 2 MiB")
        base[start - 3] = UInt8(length & 0x7f) | 0x80
        base[start - 2] = UInt8(length >> 7 & 0x7f) | 0x80
        base[start - 1] = UInt8(length >> 14)
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

/// The `grpc-timeout` header: parsing into nanoseconds and formatting a remaining time.
public enum GRPCTimeout {
    /// Parses `1*8DIGIT unit` (H, M, S, m, u, n) into nanoseconds; nil when malformed.
    public static func parse(_ text: String) -> UInt64? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8.count <= 9 else { return nil }
        var value: UInt64 = 0
        for byte in utf8.dropLast() {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        let multiplier: UInt64
        switch utf8.last! {
        case UInt8(ascii: "H"): multiplier = 3_600_000_000_000
        case UInt8(ascii: "M"): multiplier = 60_000_000_000
        case UInt8(ascii: "S"): multiplier = 1_000_000_000
        case UInt8(ascii: "m"): multiplier = 1_000_000
        case UInt8(ascii: "u"): multiplier = 1_000
        case UInt8(ascii: "n"): multiplier = 1
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? UInt64.max : product
    }

    /// Formats nanoseconds with the finest unit that fits in 8 digits, rounding up.
    public static func format(nanoseconds: UInt64) -> String {
        let units: [(UInt64, String)] = [(1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"),
                                         (60_000_000_000, "M"), (3_600_000_000_000, "H")]
        for (size, unit) in units {
            let value = nanoseconds / size + (nanoseconds % size == 0 ? 0 : 1)
            if value <= 99_999_999 { return "\(value)\(unit)" }
        }
        return "99999999H"
    }
}

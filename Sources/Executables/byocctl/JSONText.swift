import Foundation

/// A small JSON writer: sorted keys, two-space indentation, arrays of scalars on one line,
/// numbers in their shortest round-trip form (a Float prints as 5.1, not 5.099999904632568).
enum JSONText {
    static func render(_ value: Any) -> String {
        var out = ""
        write(value, indent: 0, into: &out)
        return out
    }

    private static func write(_ value: Any, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent + 2)
        let closePad = String(repeating: " ", count: indent)
        switch value {
        case let object as [String: Any]:
            if object.isEmpty { out += "{}"; return }
            out += "{\n"
            let keys = object.keys.sorted()
            for (i, key) in keys.enumerated() {
                out += pad + quote(key) + ": "
                write(object[key]!, indent: indent + 2, into: &out)
                out += i == keys.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "}"
        case let object as [String: String]:
            write(object as [String: Any], indent: indent, into: &out)
        case let array as [Any]:
            if array.isEmpty { out += "[]"; return }
            if array.allSatisfy(isScalar) {
                out += "[" + array.map(scalar).joined(separator: ", ") + "]"
                return
            }
            out += "[\n"
            for (i, element) in array.enumerated() {
                out += pad
                write(element, indent: indent + 2, into: &out)
                out += i == array.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "]"
        default:
            out += scalar(value)
        }
    }

    private static func isScalar(_ value: Any) -> Bool {
        !(value is [String: Any] || value is [Any] || value is [String: String])
    }

    private static func scalar(_ value: Any) -> String {
        if let v = value as? String { return quote(v) }
        if let text = number(value, nonFinite: (nan: "\"NaN\"", negativeInfinity: "\"-Infinity\"", infinity: "\"Infinity\"")) {
            return text
        }
        switch value {
        case is NSNull, Optional<Any>.none: return "null"
        default: return quote("\(value)")
        }
    }

    /// A boolean or number as `-o json` and `-o yaml` both write it (a Float in its shortest
    /// round-trip form: 5.1, not 5.099999904632568; "1.0e-05" is valid JSON and YAML), NaN and
    /// the infinities as `nonFinite` names them; nil for any other value.
    static func number(_ value: Any, nonFinite: (nan: String, negativeInfinity: String, infinity: String)) -> String? {
        let double: Double
        switch value {
        case let v as Bool: return v ? "true" : "false"
        case let v as Int: return String(v)
        case let v as Int32: return String(v)
        case let v as Int64: return String(v)
        case let v as UInt8: return String(v)
        case let v as Float:
            if v.isFinite { return v.description }
            double = Double(v)
        case let v as Double:
            if v.isFinite { return v.description }
            double = v
        default: return nil
        }
        return double.isNaN ? nonFinite.nan : (double < 0 ? nonFinite.negativeInfinity : nonFinite.infinity)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

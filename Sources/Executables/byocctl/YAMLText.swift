import Foundation

/// A small YAML writer for `-o yaml`: block style, sorted keys, the same values as `-o json`.
///
/// Strings are plain when YAML would read them back as the same string, else double-quoted
/// with JSON escapes (a JSON string is a valid YAML double-quoted scalar).
enum YAMLText {
    static func render(_ value: Any) -> String {
        var lines: [String] = []
        write(value, indent: 0, into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func write(_ value: Any, indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        if let object = dictionary(value) {
            guard !object.isEmpty else { lines.append(pad + "{}"); return }
            for key in object.keys.sorted() {
                entry(pad + scalarText(key) + ":", object[key]!, indent: indent, into: &lines)
            }
        } else if let array = value as? [Any] {
            guard !array.isEmpty else { lines.append(pad + "[]"); return }
            for element in array {
                if let object = dictionary(element), !object.isEmpty {
                    // The first key shares the dash's line: "- key: value".
                    var nested: [String] = []
                    write(object, indent: indent + 2, into: &nested)
                    nested[0] = pad + "- " + nested[0].dropFirst(indent + 2)
                    lines += nested
                } else {
                    entry(pad + "-", element, indent: indent, into: &lines)
                }
            }
        } else {
            lines.append(pad + scalar(value))
        }
    }

    /// `prefix value` for scalars and empty collections, else `prefix` then the nested block.
    private static func entry(_ prefix: String, _ value: Any, indent: Int, into lines: inout [String]) {
        if let object = dictionary(value), !object.isEmpty {
            lines.append(prefix)
            write(object, indent: indent + 2, into: &lines)
        } else if let array = value as? [Any], !array.isEmpty {
            lines.append(prefix)
            write(array, indent: indent + 2, into: &lines)
        } else if let object = dictionary(value), object.isEmpty {
            lines.append(prefix + " {}")
        } else if let array = value as? [Any], array.isEmpty {
            lines.append(prefix + " []")
        } else {
            lines.append(prefix + " " + scalar(value))
        }
    }

    private static func dictionary(_ value: Any) -> [String: Any]? {
        if let object = value as? [String: Any] { return object }
        if let object = value as? [String: String] { return object }
        return nil
    }

    private static func scalar(_ value: Any) -> String {
        if let v = value as? String { return scalarText(v) }
        if let text = JSONText.number(value, nonFinite: (nan: ".nan", negativeInfinity: "-.inf", infinity: ".inf")) { return text }
        return value is NSNull ? "null" : scalarText("\(value)")
    }

    /// Words YAML 1.1 or 1.2 readers take as booleans, null or special floats.
    private static let reserved: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "nan", "inf",
    ]

    /// A string as a plain scalar when that reads back as the same string, else quoted.
    static func scalarText(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return "\"\"" }
        let indicators: Set<Unicode.Scalar> = ["-", "?", ":", ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">",
                                               "'", "\"", "%", "@", "`", " ", "."]
        let plain = !indicators.contains(first) && last != " " && last != ":"
            && !s.contains(": ") && !s.contains(" #")
            && s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7f }
            && !reserved.contains(s.lowercased())
            // Numbers, YAML 1.1 sexagesimals (1:30), dates (2030-01-01) and versions alike: quoted.
            && !("0"..."9").contains(first) && first != "+" && first != "<" && first != "="
        return plain ? s : JSONText.quote(s)
    }
}

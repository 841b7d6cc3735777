import Foundation

/// The last line a replica wrote, for the message of a version whose replica exited.
///
/// A replica's stdout and stderr share its log file (`replica-N.log`), and every start appends
/// a `--- byoc: starting replica ...` header first: the line wanted is the last non-blank line
/// after the newest header, i.e. written by the run that just ended (usually the error the
/// program printed last, e.g. Python's `ModuleNotFoundError: No module named 'torch'`).
enum LogTail {
    /// Bytes read from the end of the log: enough for the last lines of a traceback.
    static let window = 8192
    /// Longest line kept in a message (longer ones are cut, with "...").
    static let maxLineLength = 300
    /// Written before each start (see `LocalRuntime`'s launch).
    static let headerPrefix = "--- byoc: starting replica "

    /// The last line of the run that wrote `path` last; nil when there is none.
    static func lastLine(ofFile path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd() else { return nil }
        let start = end > UInt64(window) ? end - UInt64(window) : 0
        do { try handle.seek(toOffset: start) } catch { return nil }
        guard let data = try? handle.readToEnd() else { return nil }
        return lastLine(of: String(decoding: data, as: UTF8.self))
    }

    /// The last non-blank line after the newest start header of `text` (all of it when there is
    /// no header), trimmed, control characters dropped, at most `maxLineLength` characters.
    static func lastLine(of text: String) -> String? {
        var run = Substring(text)
        if let header = text.range(of: "\n" + headerPrefix, options: .backwards) ?? (text.hasPrefix(headerPrefix) ? text.range(of: headerPrefix) : nil) {
            let afterHeader = text[header.upperBound...]
            run = afterHeader.firstIndex(of: "\n").map { afterHeader[afterHeader.index(after: $0)...] } ?? ""
        }
        for line in run.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).reversed() {
            let cleaned = String(line.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f })
                .trimmingCharacters(in: .whitespaces)
            guard !cleaned.isEmpty else { continue }
            return cleaned.count > maxLineLength ? String(cleaned.prefix(maxLineLength - 3)) + "..." : cleaned
        }
        return nil
    }
}

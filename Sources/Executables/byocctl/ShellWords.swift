/// Splits and joins command lines the way a POSIX shell does for words (no expansions).
enum ShellWords {
    struct SplitError: Error { var message: String }

    /// Splits on unquoted blanks; supports '...', "..." (with \" \\ \$ \` escapes) and backslash.
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            switch c {
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                guard let end = chars.firstIndex(of: "'") else { throw SplitError(message: "unterminated single quote") }
                current += String(chars[chars.startIndex..<end])
                chars = chars[(end + 1)...]
            case "\"":
                inWord = true
                var closed = false
                while let d = chars.popFirst() {
                    if d == "\"" { closed = true; break }
                    if d == "\\", let next = chars.first, "\"\\$`\n".contains(next) {
                        chars.removeFirst()
                        if next != "\n" { current.append(next) }
                    } else {
                        current.append(d)
                    }
                }
                if !closed { throw SplitError(message: "unterminated double quote") }
            case "\\":
                inWord = true
                guard let next = chars.popFirst() else { throw SplitError(message: "trailing backslash") }
                if next != "\n" { current.append(next) }
            default:
                inWord = true
                current.append(c)
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Joins words so that `split` gives them back; plain words stay unquoted.
    static func join(_ words: [String]) -> String {
        words.map(quote).joined(separator: " ")
    }

    static func quote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

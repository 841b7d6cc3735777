import ArgumentParser

/// "did you mean" for a mistyped verb: the known verb closest to what was typed.
enum VerbSuggestion {
    /// A mistyped word and the verb it is probably.
    struct Suggestion: Equatable {
        var typed: String
        var verb: String
    }

    /// The suggestion when `arguments` (after ArgumentOrder) stop at a word that is no verb of
    /// the command they reached but is within `maxDistance(word)` edits of one; nil otherwise.
    static func suggestion(for arguments: [String], root: ParsableCommand.Type = Byocctl.self) -> Suggestion? {
        let path = ArgumentOrder.commandPath(arguments, root: root)
        guard path.count < arguments.count else { return nil }
        let typed = arguments[path.count]
        guard !typed.hasPrefix("-") else { return nil }
        var command: ParsableCommand.Type = root
        for word in path {
            for sub in command.configuration.subcommands where sub._commandName == word { command = sub }
        }
        var verbs: [String] = []
        for sub in command.configuration.subcommands { verbs.append(sub._commandName) }
        if path.isEmpty { verbs.append("help") }
        var best: Suggestion?
        var bestDistance = Int.max
        for verb in verbs.sorted() {
            let d = distance(typed.lowercased(), verb)
            if d < bestDistance {
                bestDistance = d
                best = Suggestion(typed: typed, verb: verb)
            }
        }
        guard bestDistance > 0, bestDistance <= maxDistance(typed) else { return nil }
        return best
    }

    /// Edits allowed: 1 for words up to 4 characters, 2 above.
    static func maxDistance(_ word: String) -> Int { word.count <= 4 ? 1 : 2 }

    /// Damerau-Levenshtein distance (optimal string alignment): insertions, deletions,
    /// substitutions and swaps of neighbours each cost one.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }
}

import ArgumentParser

/// Lets the global options (GlobalOptions: --server, --token, -o/--output, ...) come before the
/// verb as well as after it.
///
/// ArgumentParser only accepts a verb's options after the verb, and the root command has no
/// options of its own, so `byocctl --server URL list` would be "Unknown option '--server'".
/// `movingGlobalOptionsAfterVerb` rewrites the arguments before parsing:
///
///     byocctl [GLOBAL...] VERB [SUBVERB] REST...  ->  byocctl VERB [SUBVERB] GLOBAL... REST...
///
/// so a global option means the same on either side of the verb. The moved options land
/// directly after the verb, ahead of the ones typed after it, and the last value of an option
/// wins: when an option is given on both sides, the one after the verb wins.
enum ArgumentOrder {
    /// Global options followed by a value (`--server URL`, `--server=URL`, `-o json`, `-o=json`).
    static let valueOptions: Set<String> = ["--server", "--ca-file", "--token", "-o", "--output", "--timeout"]
    /// Global flags (no value).
    static let flagOptions: Set<String> = ["--insecure"]

    /// The arguments with the global options that precede the verb moved to just after the verb
    /// (after `token create`-style sub-verbs too). Scanning stops at the first word that is not a
    /// global option (the verb), and at `--`.
    ///
    /// - Nothing before the verb, or no global option there: the arguments, unchanged.
    /// - Global options followed by something that is not a verb (`--help`, `help VERB`, an
    ///   unknown word or option): the global options are dropped (they change nothing there)
    ///   and the rest is parsed as usual, so help still works and an error names the real culprit.
    /// - Global options and nothing else: a usage error (there is no verb to apply them to).
    /// - A value option at the end, or followed by an option, before the verb: a usage error.
    static func movingGlobalOptionsAfterVerb(_ arguments: [String],
                                             root: ParsableCommand.Type = Byocctl.self) throws -> [String] {
        var globals: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let word = arguments[index]
            if flagOptions.contains(word) || isValueOptionWithAttachedValue(word) {
                globals.append(word)
                index += 1
            } else if valueOptions.contains(word) {
                let valueIndex = index + 1
                guard valueIndex < arguments.endIndex, !looksLikeOption(arguments[valueIndex]) else {
                    throw CLIError.usage("missing value for '\(word)' (see 'byocctl --help')")
                }
                globals += [word, arguments[valueIndex]]
                index += 2
            } else {
                break
            }
        }
        if globals.isEmpty { return arguments }
        let rest = Array(arguments[index...])
        if rest.isEmpty {
            throw CLIError.usage("no verb after '\(globals.joined(separator: " "))' (see 'byocctl --help')")
        }
        let path = commandPath(rest, root: root)
        if path.isEmpty { return rest }
        return path + globals + rest[path.count...]
    }

    /// The leading words of `arguments` that name a (sub)command: `["token", "create"]` for
    /// `token create --scope admin`, `["list"]` for `list -o json`, `[]` for `--help`.
    static func commandPath(_ arguments: [String], root: ParsableCommand.Type = Byocctl.self) -> [String] {
        var path: [String] = []
        var command = root
        for word in arguments {
            guard let sub = command.configuration.subcommands.first(where: {
                $0._commandName == word || $0.configuration.aliases.contains(word)
            }) else { break }
            path.append(word)
            command = sub
        }
        return path
    }

    /// `--server=URL`, `-o=json`: a value option and its value in one word.
    static func isValueOptionWithAttachedValue(_ word: String) -> Bool {
        guard let eq = word.firstIndex(of: "=") else { return false }
        return valueOptions.contains(String(word[..<eq]))
    }

    /// What ArgumentParser would not take as an option's value: `-x`, `--x` (but `-` and
    /// negative numbers are values).
    static func looksLikeOption(_ word: String) -> Bool {
        guard word.hasPrefix("-"), word.count > 1 else { return false }
        return Double(word) == nil
    }
}

import ArgumentParser
import Foundation

/// Runs the root command and maps errors to messages and exit statuses.
enum CLIMain {
    static func run(_ rawArguments: [String]) async -> Never {
        let outcome = await execute(rawArguments)
        if !outcome.text.isEmpty {
            if outcome.toStdout { Stdout.write(outcome.text) } else { Stderr.line(outcome.text) }
        }
        exit(outcome.exitCode)
    }

    /// Parses and runs one command line; what is left to print, and the exit status.
    static func execute(_ rawArguments: [String]) async -> Outcome {
        var arguments = rawArguments
        do {
            arguments = try ArgumentOrder.movingGlobalOptionsAfterVerb(rawArguments)
            var command = try Byocctl.parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return Outcome(text: "", toStdout: true, exitCode: 0)
        } catch {
            return Outcome(error: error, arguments: arguments)
        }
    }

    /// What a failed (or help-requesting) run prints and its exit status: help on stdout with
    /// status 0; anything else as one line `byocctl: MESSAGE` on stderr with status 2 for usage
    /// errors and 1 for failed calls.
    struct Outcome: Equatable {
        var text: String
        var toStdout: Bool
        var exitCode: Int32

        /// The lines of `text`, trimmed and joined with spaces.
        static func oneLine(_ text: String) -> String {
            text.split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
                .joined(separator: " ")
        }

        /// "Missing expected argument" -> "missing expected argument" (not "NOT_FOUND", "URL").
        static func lowercasingFirstWord(_ text: String) -> String {
            guard let first = text.first, first.isUppercase,
                  let second = text.dropFirst().first, second.isLowercase else { return text }
            return first.lowercased() + text.dropFirst()
        }
    }
}

extension CLIMain.Outcome {
    /// `arguments`: what was parsed (after ArgumentOrder), to name the verb in the hint.
    init(error: Error, arguments: [String]) {
        if let error = error as? CLIError {
            self.init(text: "byocctl: \(Self.oneLine(error.message))", toStdout: false, exitCode: error.exitCode)
            return
        }
        let code = Byocctl.exitCode(for: error)
        if code == .success {  // --help, help VERB, a bare byocctl: the full help on stdout.
            self.init(text: Byocctl.fullMessage(for: error), toStdout: true, exitCode: 0)
            return
        }
        let message = Self.oneLine(Byocctl.message(for: error))
        // ArgumentParser reports usage errors as EX_USAGE (64); byocctl's usage status is 2.
        guard code == .validationFailure else {
            self.init(text: message.isEmpty ? "" : "byocctl: \(message)", toStdout: false, exitCode: code.rawValue)
            return
        }
        let verb = (["byocctl"] + ArgumentOrder.commandPath(arguments)).joined(separator: " ")
        if let near = VerbSuggestion.suggestion(for: arguments) {
            self.init(text: "byocctl: unknown verb '\(near.typed)': did you mean '\(near.verb)'? (see '\(verb) --help')",
                      toStdout: false, exitCode: CLIError.usage)
            return
        }
        let text = message.isEmpty ? "usage error" : Self.lowercasingFirstWord(message)
        self.init(text: "byocctl: \(text) (see '\(verb) --help')", toStdout: false, exitCode: CLIError.usage)
    }
}

/// A failure reported as `byocctl: MESSAGE` with an exit status.
struct CLIError: Error {
    static let failed: Int32 = 1
    static let usage: Int32 = 2

    var message: String
    var exitCode: Int32

    init(_ message: String, exitCode: Int32 = CLIError.failed) {
        self.message = message
        self.exitCode = exitCode
    }

    static func usage(_ message: String) -> CLIError { CLIError(message, exitCode: usage) }
}

/// Writes to standard error without buffering surprises.
enum Stderr {
    static func line(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

/// Writes to standard output and flushes, so output interleaves sanely with stderr progress.
enum Stdout {
    static func write(_ text: String) {
        print(text)
        fflush(stdout)
    }
}

import ArgumentParser
import Foundation

/// Runs the root command and maps errors to messages and exit statuses.
enum CLIMain {
    static func run(_ arguments: [String]) async -> Never {
        do {
            var command = try Byocctl.parseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let error as CLIError {
            Stderr.line("byocctl: \(error.message)")
            exit(error.exitCode)
        } catch {
            let code = Byocctl.exitCode(for: error)
            let message = Byocctl.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                exit(0)
            }
            if !message.isEmpty { Stderr.line(message) }
            // ArgumentParser reports usage errors as EX_USAGE (64); byocctl's usage status is 2.
            exit(code == .validationFailure ? CLIError.usage : code.rawValue)
        }
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

import ArgumentParser
import Foundation
import GRPC
import Messages

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a version's replica logs (stdout and stderr), optionally following new lines.",
        discussion: """
        Each line is prefixed with its replica (local: the replica's index; Kubernetes: the pod
        name). VERSION defaults to the model's default version.
          byocctl logs iris              # the last 100 lines of each replica
          byocctl logs iris 2 --tail 20 -f
        With -o json, one JSON object per line: {"replica", "line", "time_unix_ms"}.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model.") var model: String
    @Argument(help: "The version (default: the model's default version).") var version: String?

    @Option(name: .long, help: ArgumentHelp("The last N lines of each replica first (default 100).", valueName: "n"))
    var tail: Int32 = 0

    @Flag(name: [.short, .long], help: "Keep printing new lines until interrupted.")
    var follow = false

    func validate() throws {
        guard tail >= 0 else { throw ValidationError("--tail must not be negative") }
    }

    func run() async throws {
        let request = GetLogsRequest(model: model, version: version ?? "", tailLines: tail, follow: follow)
        let connection = try global.connect()
        // A follow has no deadline; a tail has the usual one.
        let messages = connection.client.serverStreaming(path: RPC.getLogs, request: request.serializedBytes(),
                                                         metadata: connection.metadata,
                                                         timeoutMs: follow ? nil : connection.timeoutMs)
        do {
            for try await bytes in messages {
                let line: LogLine
                do { line = try LogLine(serializedBytes: bytes) } catch {
                    throw CLIError("cannot decode a log line from \(connection.endpoint.text): \(error)")
                }
                print(Self.render(line, json: global.json))
                fflush(stdout)
            }
        } catch let status as GRPCStatus {
            throw connection.failure(status)
        }
    }

    /// `replica: line`, or one compact JSON object.
    static func render(_ line: LogLine, json: Bool) -> String {
        guard json else { return "\(line.replica): \(line.line)" }
        return "{\"replica\": \(JSONText.quote(line.replica)), \"line\": \(JSONText.quote(line.line)), "
            + "\"time_unix_ms\": \(line.timeUnixMs)}"
    }
}

import ArgumentParser
import Routing

/// The root command: only holds the verbs.
struct Byocctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "byocctl",
        abstract: "Manage models on a BYOC Inference Platform gateway.",
        usage: "byocctl [--server URL] [--token TOKEN] [-o table|json|yaml] <subcommand> ...",
        discussion: """
        Options every verb takes, before or after the verb (byocctl -o json list
        is byocctl list -o json; given on both sides, the one after the verb wins):
          --server URL       http://HOST:PORT or HOST:PORT (port defaults to 8080);
                             default $BYOC_SERVER, else http://127.0.0.1:8080
          -o, --output FMT   table (default), json or yaml
          --timeout SECONDS  deadline of each call (default 30)
          --token TOKEN      API token, sent as authorization: Bearer (default
                             $BYOC_TOKEN); needed when the gateway runs --require-auth
          --ca-file PEM      CA certificates that verify an https:// server (default
                             $BYOC_CA_FILE, else the system's); --insecure skips that

        Exit status: 0 on success; otherwise one line on stderr, and 1 when a call
        failed (CODE: message, or why the gateway could not be reached), 2 on a
        usage error.
        """,
        version: "byocctl \(BuildInfo.version)",
        subcommands: [RegisterCommand.self, ListCommand.self, GetCommand.self, SetDefaultCommand.self,
                      AliasCommand.self, TrafficCommand.self, ScaleCommand.self, DeleteCommand.self, PredictCommand.self,
                      StatusCommand.self, TokenCommand.self, EventsCommand.self, LogsCommand.self, GCCommand.self])
}

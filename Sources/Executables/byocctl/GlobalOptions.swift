import ArgumentParser
import Foundation
import TLS

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

/// The options every verb takes.
struct GlobalOptions: ParsableArguments {
    static let defaultServer = "http://127.0.0.1:8080"

    @Option(name: .long, help: ArgumentHelp(
        "The gateway, http://HOST:PORT or HOST:PORT (default: $BYOC_SERVER, else http://127.0.0.1:8080).",
        valueName: "url"))
    var server: String?

    @Option(name: .long, help: ArgumentHelp(
        "PEM file of CA certificates that verify an https server (default: $BYOC_CA_FILE, else the system's).",
        valueName: "pem"))
    var caFile: String?

    @Flag(name: .long, help: "Do not verify the https server's certificate (development only; also $BYOC_INSECURE=1).")
    var insecure = false

    @Option(name: .long, help: ArgumentHelp(
        "API token sent as authorization: Bearer (default: $BYOC_TOKEN).", valueName: "token"))
    var token: String?

    @Option(name: [.short, .long], help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    @Option(name: .long, help: ArgumentHelp("Deadline of each call, in seconds.", valueName: "seconds"))
    var timeout: Double = 30

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    /// The server URL as the user gave it (flag, then environment, then the default).
    var serverText: String {
        if let server, !server.isEmpty { return server }
        if let env = ProcessInfo.processInfo.environment["BYOC_SERVER"], !env.isEmpty { return env }
        return Self.defaultServer
    }

    var json: Bool { output == .json }

    /// Opens (lazily) a connection to the server: TLS for https:// (verified with --ca-file or
    /// the system's CAs, unless --insecure), h2c otherwise.
    func connect() throws -> Connection {
        let endpoint = try ServerEndpoint(parsing: serverText)
        var tls: TLSClientContext?
        if endpoint.tls {
            let environment = ProcessInfo.processInfo.environment
            let caFile = caFile ?? environment["BYOC_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
            let insecure = insecure || ["1", "true", "yes"].contains(environment["BYOC_INSECURE"]?.lowercased() ?? "")
            do {
                tls = try TLSClientContext(caFile: insecure ? nil : caFile, insecure: insecure)
            } catch {
                throw CLIError("\(error)")
            }
        }
        return Connection(endpoint: endpoint, timeoutMs: Int((timeout * 1000).rounded(.up)), tls: tls, token: tokenText)
    }

    /// The API token (flag, then $BYOC_TOKEN), trimmed; nil when none.
    var tokenText: String? {
        let given = token ?? ProcessInfo.processInfo.environment["BYOC_TOKEN"]
        guard let text = given?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }
}

/// A parsed `--server` value.
struct ServerEndpoint: Equatable {
    /// What the user typed, for messages.
    var text: String
    var host: String
    var port: Int
    /// https:// (TLS); the default port is then 443.
    var tls = false

    init(parsing text: String) throws {
        self.text = text
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        let lower = rest.lowercased()
        if lower.hasPrefix("https://") {
            rest = rest.dropFirst("https://".count)
            tls = true
        } else if lower.hasPrefix("http://") {
            rest = rest.dropFirst("http://".count)
        } else if let scheme = rest.range(of: "://") {
            throw CLIError.usage("unsupported scheme \"\(rest[..<scheme.lowerBound])\" in --server \(text) (use http://HOST:PORT or https://HOST:PORT)")
        }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") {
            throw CLIError.usage("--server takes http://HOST:PORT without a path, got \(text)")
        }
        var hostPart = rest
        var portPart: Substring?
        if rest.hasPrefix("[") {  // [v6]:port
            guard let close = rest.firstIndex(of: "]") else {
                throw CLIError.usage("invalid --server \(text): unterminated [")
            }
            hostPart = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw CLIError.usage("invalid --server \(text)") }
                portPart = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            portPart = rest[rest.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw CLIError.usage("invalid --server \(text): no host") }
        host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else {
                throw CLIError.usage("invalid --server \(text): port must be 1-65535")
            }
            self.port = port
        } else {
            port = tls ? 443 : 8080
        }
    }
}

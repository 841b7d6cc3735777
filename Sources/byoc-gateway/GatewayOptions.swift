import Foundation

/// The gateway's flags; each also reads an environment variable BYOC_<FLAG> (e.g.
/// `--max-message-bytes` from BYOC_MAX_MESSAGE_BYTES). Flags win over the environment.
struct GatewayOptions {
    var listenHost = "127.0.0.1"
    var listenPort = 8080
    var db: String?
    var runtime = "local"
    var workers = ProcessInfo.processInfo.activeProcessorCount
    var maxMessageBytes = 64 << 20
    var stateDir = "byoc-state"
    var routes: String?
    var gracePeriodMs = 10_000
    var maxConcurrentStreams = 256
    var maxReplicas = 16
    var resyncMs = 5_000
    var connectTimeoutMs = 1_000
    var idleTimeoutMs = 60_000

    /// One line per flag for `--help`.
    static let usage = """
    usage: byoc-gateway [flags]   (each flag also from env BYOC_<FLAG>, e.g. BYOC_LISTEN)
      --listen HOST:PORT          h2c listen address (default 127.0.0.1:8080; port 0 picks one)
      --db PATH                   SQLite registry file (default STATE_DIR/registry.sqlite)
      --runtime local|kubernetes  where model versions run (default local)
      --workers N                 event-loop worker threads (default: one per core)
      --max-message-bytes N       largest request message (default 67108864)
      --state-dir DIR             local runtime's logs and files (default ./byoc-state)
      --routes FILE               static routes JSON instead of the registry (pure router)
      --grace-period-ms N         how long in-flight calls may finish on SIGTERM (default 10000)
      --max-concurrent-streams N  SETTINGS_MAX_CONCURRENT_STREAMS per client connection (default 256)
      --max-replicas N            ceiling for min/max replicas in the Admin API (default 16)
      --resync-ms N               reconciler's periodic resync (default 5000)
      --connect-timeout-ms N      connect timeout to model endpoints (default 1000)
      --idle-timeout-ms N         close idle upstream connections after (default 60000)
    """

    struct UsageError: Error {
        var message: String
    }

    static func parse(_ arguments: [String], environment: [String: String]) throws -> GatewayOptions {
        var values: [String: String] = [:]
        let known = ["listen", "db", "runtime", "workers", "max-message-bytes", "state-dir", "routes", "grace-period-ms",
                     "max-concurrent-streams", "max-replicas", "resync-ms", "connect-timeout-ms", "idle-timeout-ms"]
        for flag in known {
            let name = "BYOC_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[name], !value.isEmpty { values[flag] = value }
        }
        var index = 0
        while index < arguments.count {
            var argument = arguments[index]
            if argument == "-h" || argument == "--help" { throw UsageError(message: usage) }
            guard argument.hasPrefix("--") else { throw UsageError(message: "unexpected argument \(argument)") }
            argument.removeFirst(2)
            var value: String
            if let equals = argument.firstIndex(of: "=") {
                value = String(argument[argument.index(after: equals)...])
                argument = String(argument[..<equals])
            } else {
                index += 1
                guard index < arguments.count else { throw UsageError(message: "--\(argument) needs a value") }
                value = arguments[index]
            }
            guard known.contains(argument) else { throw UsageError(message: "unknown flag --\(argument)\n\(usage)") }
            values[argument] = value
            index += 1
        }

        var options = GatewayOptions()
        func int(_ flag: String, min: Int = 1) throws -> Int? {
            guard let text = values[flag] else { return nil }
            guard let value = Int(text), value >= min else {
                throw UsageError(message: "--\(flag) must be an integer >= \(min), got \"\(text)\"")
            }
            return value
        }
        if let listen = values["listen"] {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                  port >= 0, port < 65536 else {
                throw UsageError(message: "--listen must be HOST:PORT, got \"\(listen)\"")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            options.listenHost = host.isEmpty ? "0.0.0.0" : host
            options.listenPort = port
        }
        options.db = values["db"]
        if let runtime = values["runtime"] {
            guard runtime == "local" || runtime == "kubernetes" else {
                throw UsageError(message: "--runtime must be local or kubernetes, got \"\(runtime)\"")
            }
            options.runtime = runtime
        }
        if let value = try int("workers") { options.workers = value }
        if let value = try int("max-message-bytes") { options.maxMessageBytes = value }
        if let value = values["state-dir"] { options.stateDir = value }
        options.routes = values["routes"]
        if let value = try int("grace-period-ms", min: 0) { options.gracePeriodMs = value }
        if let value = try int("max-concurrent-streams") { options.maxConcurrentStreams = value }
        if let value = try int("max-replicas") { options.maxReplicas = value }
        if let value = try int("resync-ms") { options.resyncMs = value }
        if let value = try int("connect-timeout-ms") { options.connectTimeoutMs = value }
        if let value = try int("idle-timeout-ms") { options.idleTimeoutMs = value }
        return options
    }
}

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
    /// Per client connection (HTTP/2): header list size, stream resets and frames that move
    /// nothing per second, and how long the connection preface may take.
    var maxHeaderListBytes = 16_384
    var maxResetsPerSecond = 33
    var maxControlFramesPerSecond = 1_000
    var prefaceTimeoutMs = 3_000
    var clientIdleTimeoutMs = 300_000
    /// `--first-message-timeout-ms`: a call's first request message must be whole this long
    /// after its first byte arrived (0: no limit).
    var firstMessageTimeoutMs = 10_000
    /// `--first-message-buffer-bytes`: bytes of incomplete first messages one worker buffers
    /// before their calls reach a model.
    var firstMessageBufferBytes = 64 << 20
    var maxReplicas = 16
    var resyncMs = 5_000
    var connectTimeoutMs = 1_000
    var idleTimeoutMs = 60_000
    /// `--stats-interval-ms`: how often the console's charts sample the counters (720 kept).
    var statsIntervalMs = 5_000
    /// `--shadow-max-in-flight`: shadow copies per shadow version per worker, at most.
    var shadowMaxInFlight = 64
    /// HTTP/1.1 (UI, API, metrics, probes): a request's headers must arrive within this time.
    var httpHeaderTimeoutMs = 10_000
    /// HTTP/1.1: an idle keep-alive connection is closed after this time.
    var httpIdleTimeoutMs = 60_000
    /// `--tls-listen`: a second, TLS-only port (nil: none).
    var tlsListenHost: String?
    var tlsListenPort = 0
    /// `--tls-cert` / `--tls-key`: PEM files (nil: a development certificate in the state dir).
    var tlsCert: String?
    var tlsKey: String?
    /// `--runtime kubernetes`: the API (`--kube-api`, else in-cluster), credentials, namespace,
    /// leader election and where followers find the route table (see deploy/ROUTING.md).
    var kubeAPI: String?
    var kubeTokenFile: String?
    var kubeCAFile: String?
    var namespace: String?
    var leaseName = "byoc-gateway-leader"
    var podName: String?
    var advertiseAddress: String?
    var routesConfigMap = "byoc-gateway-routes"
    /// `--tokens-secret`: the Secret the leader publishes the token table (hashes) to.
    var tokensSecret = "byoc-gateway-tokens"
    var role = "all"
    var leaseDurationS = 15
    var leaseRenewS = 5
    /// `--require-auth`: Admin RPCs, the JSON API and the UI need an admin token, Predict a
    /// token for the model (`authorization: Bearer <token>`).
    var requireAuth = false
    /// `--admin-token-file`: the full text of the first admin token (created in the registry
    /// when its id is unknown); without it, the first start with --require-auth prints one.
    var adminTokenFile: String?
    /// `--gc-unused-after`: delete versions not called for this many seconds (0: off), and the
    /// text given (`90s`, `36h`, `7d`).
    var gcUnusedAfterSeconds: Int64 = 0
    var gcUnusedAfterText = ""
    /// `--hold-max-calls`: calls held per model version (all workers together) while it wakes.
    var holdMaxCalls = 1000
    /// `--wake-timeout-ms`: how long held calls wait for the woken version to become ready.
    var wakeTimeoutMs = 60_000
    /// `--access-log PATH|-`: one JSON line per call (nil: off).
    var accessLog: String?
    /// `--otlp-endpoint http://HOST:PORT`: spans exported over OTLP/HTTP (nil: no tracing).
    var otlpEndpoint: String?
    /// `--trace-sample-ratio`: the share of new traces recorded (a caller's sampled flag wins).
    var traceSampleRatio = 1.0
    /// `--otlp-protocol`: http/json (default) or http/protobuf.
    var otlpProtocol = "http/json"

    /// One line per flag for `--help`.
    static let usage = """
    usage: byoc-gateway [flags]   (each flag also from env BYOC_<FLAG>, e.g. BYOC_LISTEN)
           byoc-gateway backup --to FILE | restore --from FILE   (see byoc-gateway backup --help)
      --listen HOST:PORT          h2c listen address (default 127.0.0.1:8080; port 0 picks one)
      --db PATH                   SQLite registry file (default STATE_DIR/registry.sqlite)
      --runtime local|kubernetes  where model versions run (default local)
      --workers N                 event-loop worker threads (default: one per core)
      --max-message-bytes N       largest request message (default 67108864)
      --state-dir DIR             local runtime's logs and files (default ./byoc-state)
      --routes FILE               static routes JSON instead of the registry (pure router)
      --grace-period-ms N         how long in-flight calls may finish on SIGTERM (default 10000)
      --max-concurrent-streams N  SETTINGS_MAX_CONCURRENT_STREAMS per client connection (default 256)
      --max-header-list-bytes N   SETTINGS_MAX_HEADER_LIST_SIZE per client connection, enforced:
                                  a longer request header list is answered RESOURCE_EXHAUSTED
                                  naming the limit (as are more than 100 fields); the same on
                                  the connections to models (default 16384)
      --max-resets-per-second N   streams a client connection may reset per second after a burst
                                  of 1000; over it: GOAWAY (rapid reset; default 33)
      --max-control-frames-per-second N
                                  PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA frames and
                                  frames of unknown types a client connection may send per second (burst the same; each
                                  HEADERS or DATA frame with bytes, either way, allows 10
                                  more); over it: GOAWAY
                                  ENHANCE_YOUR_CALM (default 1000; 0 = no limit)
      --preface-timeout-ms N      a client's HTTP/2 preface, through its SETTINGS frame, must
                                  arrive within this; else GOAWAY and close (default 3000)
      --client-idle-timeout-ms N  a client HTTP/2 connection with no stream and no input for this
                                  long gets GOAWAY, and is closed after as long again
                                  (default 300000; 0 = never)
      --first-message-timeout-ms N
                                  a call's first request message must be whole this long after
                                  its first byte; else DEADLINE_EXCEEDED and its model call is
                                  cancelled (default 10000; 0 = no limit)
      --first-message-buffer-bytes N
                                  bytes of unfinished first messages (up to 4 MiB each) a worker
                                  buffers so that a call reaches its model only once its first
                                  message is whole; beyond it a call goes on after 64 KiB
                                  (default 67108864; 0 = only the 64 KiB)
      --max-replicas N            ceiling for min/max replicas in the Admin API (default 16)
      --resync-ms N               reconciler's periodic resync (default 5000)
      --connect-timeout-ms N      connect timeout to model endpoints, until their HTTP/2 SETTINGS (default 1000)
      --idle-timeout-ms N         close idle upstream connections after (default 60000)
      --shadow-max-in-flight N    shadow copies in flight per shadow version and worker; a call
                                  beyond that gets no copy, counted as dropped "behind" (default 64)
      --http-header-timeout-ms N  HTTP/1.1 request headers must arrive within (default 10000)
      --http-idle-timeout-ms N    close idle HTTP/1.1 keep-alive connections after (default 60000)
      --stats-interval-ms N       sampling period of the console's charts; the last 720 samples
                                  are kept (default 5000: the last hour)
      --tls-listen HOST:PORT      also serve gRPC over TLS (ALPN h2) on this address
      --tls-cert PEM              TLS certificate chain (default: a self-signed development
                                  certificate generated once into STATE_DIR/tls/)
      --tls-key PEM               TLS private key (with --tls-cert); both re-read on SIGHUP
      --kube-api URL              Kubernetes API, https://HOST:PORT (http:// = h2c, tests);
                                  default in-cluster (KUBERNETES_SERVICE_HOST/PORT)
      --kube-token-file PATH      bearer token, re-read when it changes (default: the
                                  service-account token when it exists)
      --kube-ca-file PATH         cluster CA bundle (default: the service-account ca.crt)
      --namespace NS              namespace of the model workloads (default: the pod's own)
      --lease-name NAME           coordination.k8s.io Lease electing the reconciling replica
                                  (default byoc-gateway-leader)
      --pod-name NAME             this replica's Lease identity (default env POD_NAME, else
                                  HOSTNAME-PID)
      --advertise-address H:P     where other replicas forward Admin calls while this one leads
                                  (default env POD_IP with the listen port, else the listen address)
      --routes-configmap NAME     ConfigMap the leader writes the route table to, which the other
                                  replicas route with (default byoc-gateway-routes)
      --tokens-secret NAME        Secret the leader writes the API-token table to (ids, SHA-256
                                  hashes, scopes, expiry, revocation; never a secret), which every
                                  replica checks tokens with (default byoc-gateway-tokens)
      --role all|router           router = never lead, only route (default all)
      --lease-duration-s N        Lease duration (default 15); --lease-renew-s N renew period (default 5)
      --require-auth[=true|false] require API tokens (authorization: Bearer <token>): an admin
                                  token for the Admin API, the JSON API and the UI, a predict
                                  token for the model (or an admin token) for Predict
      --admin-token-file PATH     the first admin token's full text (byoc_<id>_<secret>), created
                                  in the registry if unknown; without it the first start with
                                  --require-auth prints a new admin token once to stderr
      --gc-unused-after DURATION  delete versions not called for this long (90s, 30m, 36h, 7d;
                                  never called: since registered), unless the default or named
                                  by an alias, split or shadow (default off; byocctl gc --dry-run)
      --hold-max-calls N          calls held per version (the whole gateway) while a version that
                                  scales to zero wakes; over it UNAVAILABLE "hold queue full"
                                  (default 1000; 0 = hold nothing: wake, answer UNAVAILABLE)
      --wake-timeout-ms N         how long held calls wait for a woken version to become ready,
                                  then UNAVAILABLE (default 60000)
      --access-log PATH|-         one JSON line per call to PATH (appended) or stdout (-)
      --otlp-endpoint URL         trace calls (W3C traceparent kept or started) and export the
                                  spans over OTLP/HTTP to URL/v1/traces (http://HOST:PORT)
      --otlp-protocol P           http/json (default) or http/protobuf (a third of the bytes,
                                  less CPU per span)
      --trace-sample-ratio R      share of new traces recorded, 0..1 (default 1; a caller's
                                  sampled flag wins)
    """

    struct UsageError: Error {
        var message: String
    }

    static func parse(_ arguments: [String], environment: [String: String]) throws -> GatewayOptions {
        var values: [String: String] = [:]
        let known = ["listen", "db", "runtime", "workers", "max-message-bytes", "state-dir", "routes", "grace-period-ms",
                     "max-concurrent-streams", "max-header-list-bytes", "max-resets-per-second",
                     "max-control-frames-per-second", "preface-timeout-ms", "client-idle-timeout-ms",
                     "first-message-timeout-ms", "first-message-buffer-bytes",
                     "max-replicas", "resync-ms", "connect-timeout-ms", "idle-timeout-ms", "shadow-max-in-flight",
                     "http-header-timeout-ms", "http-idle-timeout-ms", "stats-interval-ms",
                     "tls-listen", "tls-cert", "tls-key",
                     "kube-api", "kube-token-file", "kube-ca-file", "namespace", "lease-name", "pod-name",
                     "advertise-address", "routes-configmap", "tokens-secret", "role", "lease-duration-s", "lease-renew-s",
                     "require-auth", "admin-token-file", "gc-unused-after", "hold-max-calls", "wake-timeout-ms",
                     "access-log", "otlp-endpoint", "trace-sample-ratio", "otlp-protocol"]
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
            } else if argument == "require-auth" {
                value = "true"  // a bare boolean flag
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
        /// `HOST:PORT` (IPv6 in brackets, port 0 allowed, empty host = all interfaces).
        func hostPort(_ flag: String) throws -> (host: String, port: Int)? {
            guard let text = values[flag] else { return nil }
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                  port >= 0, port < 65536 else {
                throw UsageError(message: "--\(flag) must be HOST:PORT, got \"\(text)\"")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host.isEmpty ? "0.0.0.0" : host, port)
        }
        if let (host, port) = try hostPort("listen") {
            options.listenHost = host
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
        if let value = try int("max-header-list-bytes", min: 1024) {
            guard value <= Int(UInt32.max) else { throw UsageError(message: "--max-header-list-bytes must be at most \(UInt32.max)") }
            options.maxHeaderListBytes = value
        }
        if let value = try int("max-resets-per-second") { options.maxResetsPerSecond = value }
        if let value = try int("max-control-frames-per-second", min: 0) { options.maxControlFramesPerSecond = value }
        if let value = try int("preface-timeout-ms") { options.prefaceTimeoutMs = value }
        if let value = try int("client-idle-timeout-ms", min: 0) { options.clientIdleTimeoutMs = value }
        if let value = try int("first-message-timeout-ms", min: 0) { options.firstMessageTimeoutMs = value }
        if let value = try int("first-message-buffer-bytes", min: 0) { options.firstMessageBufferBytes = value }
        if let value = try int("max-replicas") { options.maxReplicas = value }
        if let value = try int("resync-ms") { options.resyncMs = value }
        if let value = try int("connect-timeout-ms") { options.connectTimeoutMs = value }
        if let value = try int("idle-timeout-ms") { options.idleTimeoutMs = value }
        if let value = try int("shadow-max-in-flight") { options.shadowMaxInFlight = value }
        if let value = try int("http-header-timeout-ms") { options.httpHeaderTimeoutMs = value }
        if let value = try int("http-idle-timeout-ms") { options.httpIdleTimeoutMs = value }
        if let value = try int("hold-max-calls", min: 0) { options.holdMaxCalls = value }
        if let value = try int("wake-timeout-ms") { options.wakeTimeoutMs = value }
        if let value = try int("stats-interval-ms") { options.statsIntervalMs = value }
        if let (host, port) = try hostPort("tls-listen") {
            options.tlsListenHost = host
            options.tlsListenPort = port
        }
        options.tlsCert = values["tls-cert"].flatMap { $0.isEmpty ? nil : $0 }
        options.tlsKey = values["tls-key"].flatMap { $0.isEmpty ? nil : $0 }
        if (options.tlsCert == nil) != (options.tlsKey == nil) {
            throw UsageError(message: "--tls-cert and --tls-key go together")
        }
        if options.tlsCert != nil && options.tlsListenHost == nil {
            throw UsageError(message: "--tls-cert and --tls-key need --tls-listen HOST:PORT")
        }
        func text(_ flag: String) -> String? { values[flag].flatMap { $0.isEmpty ? nil : $0 } }
        options.kubeAPI = text("kube-api")
        options.kubeTokenFile = text("kube-token-file")
        options.kubeCAFile = text("kube-ca-file")
        options.namespace = text("namespace")
        if let value = text("lease-name") { options.leaseName = value }
        options.podName = text("pod-name") ?? environment["POD_NAME"].flatMap { $0.isEmpty ? nil : $0 }
        options.advertiseAddress = text("advertise-address")
        if let value = text("routes-configmap") { options.routesConfigMap = value }
        if let value = text("tokens-secret") { options.tokensSecret = value }
        if let role = text("role") {
            guard role == "all" || role == "router" else { throw UsageError(message: "--role must be all or router, got \"\(role)\"") }
            options.role = role
        }
        if let value = try int("lease-duration-s") { options.leaseDurationS = value }
        if let value = try int("lease-renew-s") { options.leaseRenewS = value }
        if let value = values["require-auth"] {
            switch value.lowercased() {
            case "1", "true", "yes", "on": options.requireAuth = true
            case "0", "false", "no", "off", "": options.requireAuth = false
            default: throw UsageError(message: "--require-auth must be true or false, got \"\(value)\"")
            }
        }
        options.adminTokenFile = text("admin-token-file")
        if let value = text("gc-unused-after") {
            guard let seconds = parseDuration(value), seconds > 0 else {
                throw UsageError(message: "--gc-unused-after must be a duration like 90s, 30m, 36h or 7d, got \"\(value)\"")
            }
            options.gcUnusedAfterSeconds = seconds
            options.gcUnusedAfterText = value
        }
        options.accessLog = text("access-log")
        options.otlpEndpoint = text("otlp-endpoint")
        if let value = text("trace-sample-ratio") {
            guard let ratio = Double(value), ratio >= 0, ratio <= 1 else {
                throw UsageError(message: "--trace-sample-ratio must be a number from 0 to 1, got \"\(value)\"")
            }
            guard options.otlpEndpoint != nil else {
                throw UsageError(message: "--trace-sample-ratio needs --otlp-endpoint (where the spans go)")
            }
            options.traceSampleRatio = ratio
        }
        if let value = text("otlp-protocol") {
            guard value == "http/protobuf" || value == "http/json" else {
                throw UsageError(message: "--otlp-protocol must be http/protobuf or http/json, got \"\(value)\"")
            }
            guard options.otlpEndpoint != nil else {
                throw UsageError(message: "--otlp-protocol needs --otlp-endpoint (where the spans go)")
            }
            options.otlpProtocol = value
        }
        guard options.leaseRenewS * 3 <= options.leaseDurationS * 2 else {
            throw UsageError(message: "--lease-renew-s must be at most two thirds of --lease-duration-s")
        }
        return options
    }
}

/// Seconds in `90s`, `30m`, `36h` or `7d` (a whole number and one unit); nil otherwise.
func parseDuration(_ text: String) -> Int64? {
    guard let unit = text.last, let count = Int64(text.dropLast()), count >= 0 else { return nil }
    let scale: Int64
    switch unit {
    case "s": scale = 1
    case "m": scale = 60
    case "h": scale = 3_600
    case "d": scale = 86_400
    default: return nil
    }
    let (seconds, overflow) = count.multipliedReportingOverflow(by: scale)
    return overflow || seconds > 100 * 365 * 86_400 ? nil : seconds
}

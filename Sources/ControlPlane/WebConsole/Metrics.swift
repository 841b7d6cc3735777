import Foundation
import GRPC
import HTTP1
import Routing

/// What one worker reports when scraped (copied on its own loop).
public struct WorkerSample: @unchecked Sendable {
    public var router = RouterCounters()
    public var http2Connections = 0
    public var http2Streams = 0
    public var http1Connections = 0
    public var http1 = HTTP1Counters()
    public var routeGeneration: UInt64 = 0
    /// Models and versions in the worker's route table (static mode's registry size).
    public var routeModels = 0
    public var routeVersions = 0
    /// The worker's route table: per-version series are kept only for versions in the newest
    /// one (nil: no filter), so a deleted version's series disappear from the next scrape.
    public var routeTable: RouteTable?

    public init() {}
}

/// Control-plane numbers, read asynchronously at scrape time.
public struct ControlSample: Sendable {
    public var reconcileRuns = 0
    public var reconcileErrors = 0
    public var registryModels = 0
    public var registryVersions = 0
    /// Replicas each registered version's runtime aims for, and those ready (the registry's
    /// last observed status).
    public var desiredReplicas: [VersionLabel: Int] = [:]
    public var readyReplicas: [VersionLabel: Int] = [:]

    public init(reconcileRuns: Int = 0, reconcileErrors: Int = 0, registryModels: Int = 0, registryVersions: Int = 0) {
        self.reconcileRuns = reconcileRuns
        self.reconcileErrors = reconcileErrors
        self.registryModels = registryModels
        self.registryVersions = registryVersions
    }
}

/// The access log's and the span export's counts (nil: that one is off).
public struct TelemetrySample: Sendable {
    public var accessLogLines: Int?
    public var accessLogDropped: Int?
    public var spansExported: Int?
    public var spansDropped: Int?

    public init(accessLogLines: Int?, accessLogDropped: Int?, spansExported: Int?, spansDropped: Int?) {
        self.accessLogLines = accessLogLines
        self.accessLogDropped = accessLogDropped
        self.spansExported = spansExported
        self.spansDropped = spansDropped
    }
}

/// A model version as a metric label pair.
public struct VersionLabel: Hashable, Comparable, Sendable {
    public var model: String
    public var version: String

    public init(model: String, version: String) {
        self.model = model
        self.version = version
    }

    /// Splits a RouterCounters key (`model \u{1} version`).
    init(key: String) {
        self = MetricsSnapshot.labelAndLast(key).0
    }

    public static func < (a: VersionLabel, b: VersionLabel) -> Bool {
        (a.model, a.version) < (b.model, b.version)
    }
}

/// Every worker's counters summed, plus the control plane's numbers: what `/metrics` renders.
public struct MetricsSnapshot: Sendable {
    /// Calls by model version and gRPC status code name.
    public var calls: [VersionLabel: [String: Int]] = [:]
    public var latency: [VersionLabel: LatencyHistogram] = [:]
    public var inFlight: [VersionLabel: Int] = [:]
    public var connectFailures: [VersionLabel: Int] = [:]
    public var retries: [VersionLabel: Int] = [:]
    /// Shadow copies by the shadow's model version and code name; their latency; drops by reason.
    public var shadowCalls: [VersionLabel: [String: Int]] = [:]
    public var shadowLatency: [VersionLabel: LatencyHistogram] = [:]
    public var shadowDropped: [VersionLabel: [String: Int]] = [:]
    /// Calls held while their version wakes, hold-queue refusals, and wake latency.
    public var held: [VersionLabel: Int] = [:]
    public var holdRejections: [VersionLabel: Int] = [:]
    public var wakeLatency: [VersionLabel: LatencyHistogram] = [:]
    /// Ready endpoints (replicas) of every version in the newest route table.
    public var readyEndpoints: [VersionLabel: Int] = [:]
    public var http2Connections = 0
    public var http2Streams = 0
    public var http1Connections = 0
    public var http1Requests = 0
    public var http1Refused: [Int: Int] = [:]
    public var routeGeneration: UInt64 = 0
    public var workers = 0
    public var control = ControlSample()
    /// The `process_*` numbers (nil: not read, or no /proc).
    public var process: ProcessSample?
    /// `byoc_build_info`'s version label ("" leaves the metric out).
    public var buildVersion = ""
    /// The access log and span export (nil: both off).
    public var telemetry: TelemetrySample?

    public init() {}

    /// Sums worker samples (counters add up; the route generation is the newest). Per-version
    /// series of versions missing from the newest route table are dropped (calls that never
    /// resolved to a version, model "" version "", are always kept).
    public init(workers samples: [WorkerSample], control: ControlSample) {
        self.control = control
        workers = samples.count
        let newest = samples.compactMap(\.routeTable).max(by: { $0.generation < $1.generation })
        for (model, routes) in newest?.models ?? [:] {
            for (version, endpoints) in routes.versions {
                readyEndpoints[VersionLabel(model: model, version: version)] = endpoints.count
            }
        }
        func routed(_ label: VersionLabel) -> Bool {
            guard let newest, newest.generation > 0, !label.model.isEmpty else { return true }
            return newest.models[label.model]?.versions[label.version] != nil
        }
        /// Adds one worker's per-version numbers (keys `model \u{1} version`) to `total`.
        func add<Value>(_ total: inout [VersionLabel: Value], _ numbers: [String: Value], _ zero: Value,
                        _ merge: (inout Value, Value) -> Void) {
            for (key, value) in numbers {
                let label = VersionLabel(key: key)
                if routed(label) { merge(&total[label, default: zero], value) }
            }
        }
        /// Adds one worker's counts keyed `model \u{1} version \u{1} last` to `total`, by
        /// `name(last)` (a code name, a reason).
        func addCounts(_ total: inout [VersionLabel: [String: Int]], _ counts: [String: Int], by name: (String) -> String) {
            for (key, count) in counts {
                let (label, last) = Self.labelAndLast(key)
                if routed(label) { total[label, default: [:]][name(last), default: 0] += count }
            }
        }
        for sample in samples {
            let router = sample.router
            addCounts(&calls, router.calls, by: MetricsSnapshot.codeName)
            addCounts(&shadowCalls, router.shadowCalls, by: MetricsSnapshot.codeName)
            addCounts(&shadowDropped, router.shadowDropped, by: { $0 })
            add(&inFlight, router.inFlight, 0, +=)
            add(&connectFailures, router.connectFailures, 0, +=)
            add(&retries, router.retries, 0, +=)
            add(&held, router.held, 0, +=)
            add(&holdRejections, router.holdRejections, 0, +=)
            add(&latency, router.latency, LatencyHistogram()) { $0.merge($1) }
            add(&shadowLatency, router.shadowLatency, LatencyHistogram()) { $0.merge($1) }
            add(&wakeLatency, router.wakeLatency, LatencyHistogram()) { $0.merge($1) }
            http2Connections += sample.http2Connections
            http2Streams += sample.http2Streams
            http1Connections += sample.http1Connections
            http1Requests += sample.http1.requests
            for (status, n) in sample.http1.refused { http1Refused[status, default: 0] += n }
            routeGeneration = max(routeGeneration, sample.routeGeneration)
        }
    }

    /// Splits `model \u{1} version \u{1} last` into the version label and the last part ("" when
    /// the key has none).
    static func labelAndLast(_ key: String) -> (VersionLabel, String) {
        let parts = key.split(separator: "\u{1}", omittingEmptySubsequences: false)
        return (VersionLabel(model: parts.count > 0 ? String(parts[0]) : "", version: parts.count > 1 ? String(parts[1]) : ""),
                parts.count > 2 ? String(parts[2]) : "")
    }

    /// The `code` label: the gRPC status code name (`OK`, `NOT_FOUND`, ...); a missing or
    /// unrecognised grpc-status is `UNKNOWN`.
    public static func codeName(_ status: String) -> String {
        guard let number = Int(status), let code = GRPCStatusCode(rawValue: number) else { return "UNKNOWN" }
        return code.name
    }

    /// Total calls of a model version (every status).
    public func totalCalls(_ label: VersionLabel) -> Int {
        calls[label]?.values.reduce(0, +) ?? 0
    }
}

/// The exposition formats `/metrics` speaks.
public enum MetricsFormat: Sendable, Equatable {
    /// Prometheus text 0.0.4 (the default).
    case prometheus
    /// OpenMetrics 1.0.0 text: counter families named without `_total`, `# EOF` at the end.
    case openMetrics

    public var contentType: String {
        switch self {
        case .prometheus: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// OpenMetrics when the scrape's `Accept` names `application/openmetrics-text` (with a q
    /// above 0), else Prometheus text.
    public static func negotiate(accept: String?) -> MetricsFormat {
        guard let accept else { return .prometheus }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == "application/openmetrics-text" else { continue }
            let q = parts.dropFirst().first(where: { $0.hasPrefix("q=") }).flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return .openMetrics }
        }
        return .prometheus
    }
}

/// Renders a `MetricsSnapshot` in the Prometheus text exposition format 0.0.4, or OpenMetrics.
public enum PrometheusText {
    public static let contentType = MetricsFormat.prometheus.contentType

    public static func render(_ s: MetricsSnapshot, format: MetricsFormat = .prometheus) -> String {
        var out = ""
        out.reserveCapacity(4096)
        let openMetrics = format == .openMetrics
        /// `# HELP` and `# TYPE` of a family; OpenMetrics names a counter's family without
        /// `_total` and an info family without `_info`.
        func header(_ name: String, _ type: String, _ help: String) {
            var family = name
            var kind = type
            if openMetrics {
                if type == "counter", name.hasSuffix("_total") { family = String(name.dropLast("_total".count)) }
                if type == "info" { family = String(name.dropLast("_info".count)) }
                let text = help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                out += "# HELP \(family) \(text)\n# TYPE \(family) \(kind)\n"
                return
            }
            if type == "info" { kind = "gauge" }
            out += "# HELP \(family) \(help)\n# TYPE \(family) \(kind)\n"
        }
        func labels(_ label: VersionLabel, _ extra: String = "") -> String {
            "{model=\"\(escape(label.model))\",version=\"\(escape(label.version))\"\(extra)}"
        }

        /// A family of one series without labels.
        func single<Value: CustomStringConvertible>(_ name: String, _ type: String, _ help: String, _ value: Value) {
            header(name, type, help)
            out += "\(name) \(value)\n"
        }
        /// A family with one series per model version.
        func perVersion(_ name: String, _ type: String, _ help: String, _ values: [VersionLabel: Int]) {
            header(name, type, help)
            for label in values.keys.sorted() { out += "\(name)\(labels(label)) \(values[label]!)\n" }
        }
        /// One counter family over version labels and one more label (code, reason).
        func counters(_ name: String, _ help: String, _ values: [VersionLabel: [String: Int]], label extra: String) {
            header(name, "counter", help)
            for label in values.keys.sorted() {
                for (value, n) in values[label]!.sorted(by: { $0.key < $1.key }) {
                    out += "\(name)\(labels(label, ",\(extra)=\"\(escape(value))\"")) \(n)\n"
                }
            }
        }
        /// One latency histogram family over version labels.
        func histograms(_ name: String, _ help: String, _ values: [VersionLabel: LatencyHistogram]) {
            header(name, "histogram", help)
            for label in values.keys.sorted() {
                let h = values[label]!
                var cumulative = 0
                for (index, bound) in LatencyHistogram.boundsNanos.enumerated() {
                    cumulative += h.buckets[index]
                    out += "\(name)_bucket\(labels(label, ",le=\"\(seconds(bound))\"")) \(cumulative)\n"
                }
                cumulative += h.buckets[LatencyHistogram.boundsNanos.count]
                out += "\(name)_bucket\(labels(label, ",le=\"+Inf\"")) \(cumulative)\n"
                out += "\(name)_sum\(labels(label)) \(Double(h.sumNanos) / 1e9)\n"
                out += "\(name)_count\(labels(label)) \(h.count)\n"
            }
        }

        if let p = s.process {
            single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpuSeconds)
            single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.residentBytes)
            single("process_open_fds", "gauge", "Number of open file descriptors.", p.openFDs)
            single("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.maxFDs)
            single("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", p.startTimeSeconds)
        }
        if !s.buildVersion.isEmpty {
            header("byoc_build_info", "info", "The gateway's build: its version in the label; the value is always 1.")
            out += "byoc_build_info{version=\"\(escape(s.buildVersion))\"} 1\n"
        }

        counters("byoc_requests_total",
                 "Predict-path calls by model, version and gRPC status code name (model=\"\" version=\"\": calls that never resolved to a version).",
                 s.calls, label: "code")
        histograms("byoc_request_duration_seconds", "Time from the request headers to the call's status, by model and version.", s.latency)
        counters("byoc_shadow_requests_total",
                 "Shadow copies sent to a model version (answers dropped), by the shadow's model, version and gRPC status code name.",
                 s.shadowCalls, label: "code")
        histograms("byoc_shadow_request_duration_seconds",
                   "Time from the primary's request headers to the shadow copy's status, by the shadow's model and version.",
                   s.shadowLatency)
        counters("byoc_shadow_dropped_total",
                 "Shadow copies dropped before their answer (reason: unavailable = no endpoint took it, behind = it fell behind the primary's request bytes).",
                 s.shadowDropped, label: "reason")

        perVersion("byoc_requests_in_flight", "gauge", "Calls routed to a model version and not finished yet.", s.inFlight)
        perVersion("byoc_held_calls", "gauge",
                   "Calls held for a model version with no ready endpoint while it wakes (scale to zero).", s.held)
        perVersion("byoc_hold_rejections_total", "counter",
                   "Calls refused UNAVAILABLE because the version's hold queue was full (--hold-max-calls).", s.holdRejections)
        histograms("byoc_wake_latency_seconds",
                   "Time from the first call held for a waking version to its held calls going on to a ready endpoint, per wake and worker.",
                   s.wakeLatency)
        perVersion("byoc_desired_replicas", "gauge", "Replicas the runtime aims for, by model version (0 while IDLE).",
                   s.control.desiredReplicas)
        perVersion("byoc_ready_replicas", "gauge", "Ready replicas, by model version.", s.control.readyReplicas)
        perVersion("byoc_upstream_connect_failures_total", "counter", "Failed connection attempts to model endpoints.",
                   s.connectFailures)
        perVersion("byoc_upstream_retries_total", "counter", "Calls retried on another endpoint before any byte reached a model.",
                   s.retries)

        header("byoc_open_connections", "gauge", "Open client connections by protocol (h2 = gRPC/HTTP/2, http1 = HTTP/1.1).")
        out += "byoc_open_connections{protocol=\"h2\"} \(s.http2Connections)\n"
        out += "byoc_open_connections{protocol=\"http1\"} \(s.http1Connections)\n"
        single("byoc_open_streams", "gauge", "Open HTTP/2 streams over all client connections.", s.http2Streams)
        single("byoc_route_table_generation", "gauge", "Generation of the newest route table installed on the workers.",
               s.routeGeneration)
        single("byoc_reconcile_runs_total", "counter", "Reconcile passes completed.", s.control.reconcileRuns)
        single("byoc_reconcile_errors_total", "counter", "Reconciler failures (registry or runtime calls).", s.control.reconcileErrors)
        single("byoc_registry_models", "gauge", "Registered models.", s.control.registryModels)
        single("byoc_registry_versions", "gauge", "Registered model versions.", s.control.registryVersions)
        single("byoc_http_requests_total", "counter", "Plain HTTP/1.1 requests handled (UI, JSON API, metrics, probes).",
               s.http1Requests)
        header("byoc_http_refused_total", "counter",
               "HTTP/1.1 requests refused while being read, by status (400 malformed or smuggling, 408 too slow, 413, 414, 431).")
        for status in s.http1Refused.keys.sorted() {
            out += "byoc_http_refused_total{status=\"\(status)\"} \(s.http1Refused[status]!)\n"
        }

        if let t = s.telemetry {
            if let lines = t.accessLogLines, let dropped = t.accessLogDropped {
                single("byoc_access_log_lines_total", "counter", "Access-log lines written.", lines)
                single("byoc_access_log_dropped_total", "counter",
                       "Access-log lines dropped because the writer fell behind (or a write failed) instead of holding up calls.",
                       dropped)
            }
            if let exported = t.spansExported, let dropped = t.spansDropped {
                single("byoc_spans_exported_total", "counter", "Spans the OTLP collector accepted.", exported)
                single("byoc_spans_dropped_total", "counter",
                       "Spans dropped because the exporter fell behind or the collector refused them.", dropped)
            }
        }
        single("byoc_workers", "gauge", "Worker event loops.", s.workers)
        if openMetrics { out += "# EOF\n" }
        return out
    }

    /// A bucket bound in seconds, shortest exact form (0.0005, 0.001, 2.5, 10).
    static func seconds(_ nanos: UInt64) -> String {
        let value = Double(nanos) / 1e9
        if value == value.rounded() { return String(format: "%.1f", value) }
        var text = String(format: "%.6f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// Label value escaping: backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}

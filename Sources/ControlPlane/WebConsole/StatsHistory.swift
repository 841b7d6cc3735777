import Foundation
import Routing

/// Requests per second, error rate, p50/p99 latency and ready replicas per model version over
/// the last hour, for the UI's sparklines and charts: a ring buffer of samples taken every few
/// seconds off the request path (from the same summed worker counters as /metrics).
public final class StatsHistory: @unchecked Sendable {
    /// One point of one series.
    public struct Point: Sendable, Equatable {
        public var rps: Double
        /// Latency quantiles of the interval's calls; nil when it had none.
        public var p50Ms: Double?
        public var p99Ms: Double?
        /// Share of the interval's calls that did not end OK (0...1); nil when it had none.
        public var errorRate: Double?
        /// Ready replicas at the sample (endpoints in the route table).
        public var replicas: Int
    }

    public let capacity: Int
    private let lock = NSLock()
    private var timestamps: [Int64] = []
    private var series: [VersionLabel: [Point?]] = [:]
    private var previousCalls: [VersionLabel: Int] = [:]
    private var previousErrors: [VersionLabel: Int] = [:]
    private var previousLatency: [VersionLabel: LatencyHistogram] = [:]
    private var previousAt: UInt64?

    public init(capacity: Int = 720) {
        self.capacity = max(2, capacity)
    }

    /// Adds a sample from a snapshot taken at `nanos` (monotonic) / `unixMs` (wall clock).
    /// The first call only sets the baseline.
    public func record(_ snapshot: MetricsSnapshot, nanos: UInt64, unixMs: Int64) {
        lock.lock()
        defer { lock.unlock() }
        var calls: [VersionLabel: Int] = [:]
        var errors: [VersionLabel: Int] = [:]
        for (label, byCode) in snapshot.calls where !label.model.isEmpty {
            calls[label] = snapshot.totalCalls(label)
            errors[label] = byCode.filter { $0.key != "OK" }.values.reduce(0, +)
        }
        let latency = snapshot.latency.filter { !$0.key.model.isEmpty }
        defer {
            previousCalls = calls
            previousErrors = errors
            previousLatency = latency
            previousAt = nanos
        }
        guard let previousAt, nanos > previousAt else { return }
        let seconds = Double(nanos - previousAt) / 1e9
        timestamps.append(unixMs)
        let labels = Set(calls.keys).union(series.keys).union(snapshot.readyEndpoints.filter { $0.value > 0 }.keys)
        for label in labels {
            let delta = max(0, (calls[label] ?? 0) - (previousCalls[label] ?? 0))
            let failed = max(0, (errors[label] ?? 0) - (previousErrors[label] ?? 0))
            var histogram = latency[label] ?? LatencyHistogram()
            if let before = previousLatency[label] {
                for index in histogram.buckets.indices { histogram.buckets[index] -= before.buckets[index] }
                histogram.count -= before.count
            }
            let point = Point(rps: Double(delta) / seconds,
                              p50Ms: Self.quantile(0.5, histogram).map { $0 * 1000 },
                              p99Ms: Self.quantile(0.99, histogram).map { $0 * 1000 },
                              errorRate: delta > 0 ? min(1, Double(failed) / Double(delta)) : nil,
                              replicas: snapshot.readyEndpoints[label] ?? 0)
            var points = series[label] ?? Array(repeating: nil, count: timestamps.count - 1)
            points.append(point)
            series[label] = points
        }
        if timestamps.count > capacity {
            let drop = timestamps.count - capacity
            timestamps.removeFirst(drop)
            for key in series.keys { series[key]!.removeFirst(min(drop, series[key]!.count)) }
        }
        // Forget series with neither a call nor a replica in the whole window.
        series = series.filter { _, points in points.contains { ($0?.rps ?? 0) > 0 || ($0?.replicas ?? 0) > 0 } }
    }

    /// The `q` quantile in seconds of a histogram's observations (linear within a bucket);
    /// nil when it has none.
    public static func quantile(_ q: Double, _ h: LatencyHistogram) -> Double? {
        guard h.count > 0 else { return nil }
        let target = q * Double(h.count)
        var cumulative = 0
        let bounds = LatencyHistogram.boundsNanos
        for (index, n) in h.buckets.enumerated() where n > 0 {
            if Double(cumulative + n) >= target {
                let lower = index == 0 ? 0 : Double(bounds[index - 1])
                let upper = index < bounds.count ? Double(bounds[index]) : Double(bounds[bounds.count - 1])
                let fraction = max(0, min(1, (target - Double(cumulative)) / Double(n)))
                return (lower + (upper - lower) * fraction) / 1e9
            }
            cumulative += n
        }
        return Double(bounds[bounds.count - 1]) / 1e9
    }

    /// Which part of the history `GET /api/v1/stats` returns.
    public struct Query: Sendable, Equatable {
        /// Only this model's (and with `version`, this version's) series; nil: every series.
        public var model: String?
        public var version: String?
        /// The newest samples covering this many seconds; nil: the whole history.
        public var seconds: Double?

        public init(model: String? = nil, version: String? = nil, seconds: Double? = nil) {
            self.model = model
            self.version = version
            self.seconds = seconds
        }
    }

    /// The JSON of `GET /api/v1/stats`: timestamps and, per version, one list per figure.
    public func jsonObject(intervalSeconds: Double, _ query: Query = Query()) -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        var keep = timestamps.count
        if let seconds = query.seconds, intervalSeconds > 0 {
            keep = min(keep, max(1, Int((seconds / intervalSeconds).rounded(.up))))
        }
        var list: [[String: Any]] = []
        for label in series.keys.sorted() {
            if let model = query.model, label.model != model { continue }
            if let version = query.version, label.version != version { continue }
            let points = series[label]!.suffix(keep)
            func column(_ value: (Point) -> Double?) -> [Any] {
                points.map { point in point.flatMap(value).map { round3($0) as Any } ?? NSNull() }
            }
            list.append(["model": label.model, "version": label.version, "rps": column { $0.rps },
                         "p50Ms": column { $0.p50Ms }, "p99Ms": column { $0.p99Ms },
                         "errorRate": column { $0.errorRate }, "replicas": column { Double($0.replicas) },
                         "lastRps": round3(points.last??.rps ?? 0),
                         "lastP99Ms": points.last??.p99Ms.map { round3($0) as Any } ?? NSNull()])
        }
        return ["intervalSeconds": intervalSeconds, "timestamps": Array(timestamps.suffix(keep)), "series": list]
    }

    private func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

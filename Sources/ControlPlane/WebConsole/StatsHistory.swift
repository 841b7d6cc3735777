import Foundation
import Routing

/// Requests per second and p99 latency per model version over the last minutes, for the UI's
/// sparklines: a ring buffer of samples taken every few seconds off the request path (from
/// the same summed worker counters as /metrics).
public final class StatsHistory: @unchecked Sendable {
    /// One point of one series.
    public struct Point: Sendable, Equatable {
        public var rps: Double
        /// nil when the interval had no calls.
        public var p99Ms: Double?
    }

    public let capacity: Int
    private let lock = NSLock()
    private var timestamps: [Int64] = []
    private var series: [VersionLabel: [Point?]] = [:]
    private var previousCalls: [VersionLabel: Int] = [:]
    private var previousLatency: [VersionLabel: LatencyHistogram] = [:]
    private var previousAt: UInt64?

    public init(capacity: Int = 60) {
        self.capacity = max(2, capacity)
    }

    /// Adds a sample from a snapshot taken at `nanos` (monotonic) / `unixMs` (wall clock).
    /// The first call only sets the baseline.
    public func record(_ snapshot: MetricsSnapshot, nanos: UInt64, unixMs: Int64) {
        lock.lock()
        defer { lock.unlock() }
        var calls: [VersionLabel: Int] = [:]
        for label in snapshot.calls.keys where !label.model.isEmpty { calls[label] = snapshot.totalCalls(label) }
        let latency = snapshot.latency.filter { !$0.key.model.isEmpty }
        defer {
            previousCalls = calls
            previousLatency = latency
            previousAt = nanos
        }
        guard let previousAt, nanos > previousAt else { return }
        let seconds = Double(nanos - previousAt) / 1e9
        timestamps.append(unixMs)
        for label in Set(calls.keys).union(series.keys) {
            let delta = max(0, (calls[label] ?? 0) - (previousCalls[label] ?? 0))
            var histogram = latency[label] ?? LatencyHistogram()
            if let before = previousLatency[label] {
                for index in histogram.buckets.indices { histogram.buckets[index] -= before.buckets[index] }
                histogram.count -= before.count
            }
            let point = Point(rps: Double(delta) / seconds, p99Ms: Self.quantile(0.99, histogram).map { $0 * 1000 })
            var points = series[label] ?? Array(repeating: nil, count: timestamps.count - 1)
            points.append(point)
            series[label] = points
        }
        if timestamps.count > capacity {
            let drop = timestamps.count - capacity
            timestamps.removeFirst(drop)
            for key in series.keys { series[key]!.removeFirst(min(drop, series[key]!.count)) }
        }
        // Forget series without a call in the whole window.
        series = series.filter { _, points in points.contains { ($0?.rps ?? 0) > 0 } }
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

    /// The JSON of `GET /api/v1/stats`.
    public func jsonObject(intervalSeconds: Double) -> [String: Any] {
        lock.lock()
        defer { lock.unlock() }
        var list: [[String: Any]] = []
        for label in series.keys.sorted() {
            let points = series[label]!
            let rps: [Any] = points.map { $0.map { round3($0.rps) as Any } ?? NSNull() }
            let p99: [Any] = points.map { $0?.p99Ms.map { round3($0) as Any } ?? NSNull() }
            list.append(["model": label.model, "version": label.version, "rps": rps, "p99Ms": p99,
                         "lastRps": round3(points.last??.rps ?? 0),
                         "lastP99Ms": points.last??.p99Ms.map { round3($0) as Any } ?? NSNull()])
        }
        return ["intervalSeconds": intervalSeconds, "timestamps": timestamps, "series": list]
    }

    private func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

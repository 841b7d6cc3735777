// What each worker counts of the calls it routes, read by the metrics endpoint and the console.

/// Per-worker counters, read by the metrics endpoint through the worker's loop.
///
/// Keys are `model + "\u{1}" + version` (calls: `+ "\u{1}" + grpc-status`). Calls that never
/// resolved to a model version (unknown model or version, unparsable request) are counted
/// under model "" and version "" so that client-chosen names cannot grow the key set.
public struct RouterCounters {
    /// Calls by model, version and grpc-status (the number as text; "" when none was seen).
    public var calls: [String: Int] = [:]
    /// Retries by model and version.
    public var retries: [String: Int] = [:]
    /// Latency (request headers received -> status known) by model and version.
    public var latency: [String: LatencyHistogram] = [:]
    /// Calls routed to a version and not finished yet, by model and version.
    public var inFlight: [String: Int] = [:]
    /// Failed connection attempts to model endpoints, by model and version.
    public var connectFailures: [String: Int] = [:]
    /// Shadow copies (answers dropped) by the shadow's model, version and grpc-status.
    public var shadowCalls: [String: Int] = [:]
    /// Latency of shadow copies by model and version.
    public var shadowLatency: [String: LatencyHistogram] = [:]
    /// Shadow copies dropped, by model, version and reason (`unavailable`, `behind`).
    public var shadowDropped: [String: Int] = [:]
    /// Calls held for a version with no ready endpoint (it is waking), by model and version.
    public var held: [String: Int] = [:]
    /// First held call -> held calls released, per wake, by model and version.
    public var wakeLatency: [String: LatencyHistogram] = [:]
    /// Calls refused because the version's hold queue was full, by model and version.
    public var holdRejections: [String: Int] = [:]

    public init() {}
}

/// A fixed-bucket latency histogram (plain counters; one per model version per worker).
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds of the buckets in nanoseconds: 0.5 ms ... 10 s (plus +Inf).
    public static let boundsNanos: [UInt64] = [
        500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
        250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]
    /// Observations per bucket (not cumulative); the last one is +Inf.
    public var buckets = [Int](repeating: 0, count: LatencyHistogram.boundsNanos.count + 1)
    /// Sum of all observations in nanoseconds.
    public var sumNanos: UInt64 = 0
    public var count = 0

    public init() {}

    public mutating func observe(nanos: UInt64) {
        var index = 0
        let bounds = Self.boundsNanos
        while index < bounds.count && nanos > bounds[index] { index += 1 }
        buckets[index] += 1
        sumNanos &+= nanos
        count += 1
    }

    /// Adds another histogram's observations (summing workers on scrape).
    public mutating func merge(_ other: LatencyHistogram) {
        for index in buckets.indices { buckets[index] += other.buckets[index] }
        sumNanos &+= other.sumNanos
        count += other.count
    }
}

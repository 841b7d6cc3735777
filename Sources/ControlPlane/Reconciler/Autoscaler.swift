/// One version's concurrency autoscaler: fed the in-flight calls the gateway sees (summed over
/// its workers, once a second), it decides the replica count.
///
/// desired = ceil(average in-flight over `upWindowNanos` / target), clamped to [min, max].
/// A higher desired count is acted on at once (a burst adds replicas within the short window);
/// a lower one only after demand stayed lower for the scale-down delay, and then to the highest
/// count wanted during that time, so a dip shorter than the delay removes nothing (no flapping).
/// Pure: time is passed in, so tests drive it without clocks.
public struct ConcurrencyAutoscaler: Sendable, Equatable {
    /// What the autoscaler aims at; from the version's registered spec (built with the
    /// memberwise initializer, internal to the reconciler and its tests).
    public struct Settings: Sendable, Equatable {
        /// In-flight calls per replica (> 0).
        public var target: Int32
        public var minReplicas: Int32
        public var maxReplicas: Int32
        public var scaleDownDelayNanos: UInt64
    }

    /// A change of the replica count and why.
    public struct Decision: Sendable, Equatable, CustomStringConvertible {
        public var from: Int32
        public var to: Int32
        /// The average in-flight calls that asked for `to` (the peak of the lower period when scaling down).
        public var inFlight: Double
        public var target: Int32

        /// `scaled 1 -> 4: 14 calls in flight, target 4`.
        public var description: String {
            let calls = inFlight == inFlight.rounded() ? String(Int(inFlight)) : String(format1(inFlight))
            return "scaled \(from) -> \(to): \(calls) calls in flight, target \(target)"
        }

        private func format1(_ value: Double) -> String {
            let tenths = Int((value * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }
    }

    /// How far back scale-up decisions average the samples.
    public static let upWindowNanos: UInt64 = 2_000_000_000

    /// The replica count in force.
    public private(set) var replicas: Int32
    /// Recent samples (time, in-flight), newest last, within `upWindowNanos`.
    private var samples: [Sample] = []
    /// Since when the desired count has been below `replicas`, and the highest desired count
    /// (with its in-flight average) seen since then; nil while demand is not lower.
    private var lower: Lower?

    struct Sample: Sendable, Equatable {
        var at: UInt64
        var inFlight: Int
    }

    struct Lower: Sendable, Equatable {
        var since: UInt64
        var peak: Int32
        var peakInFlight: Double
    }

    /// Starts at `replicas` (the version's minimum, or the count the runtime runs).
    public init(replicas: Int32) {
        self.replicas = replicas
    }

    /// The replica count `inFlight` calls ask for.
    public static func desired(averageInFlight: Double, settings: Settings) -> Int32 {
        let target = Double(max(1, settings.target))
        let wanted = (averageInFlight / target).rounded(.up)
        let capped = wanted > Double(Int32.max) ? Int32.max : Int32(wanted)
        return min(max(capped, settings.minReplicas), settings.maxReplicas)
    }

    /// A sample at `now` (monotonic nanoseconds): returns the change to make, if any.
    public mutating func observe(inFlight: Int, at now: UInt64, settings: Settings) -> Decision? {
        samples.append(Sample(at: now, inFlight: max(0, inFlight)))
        let oldest = now >= Self.upWindowNanos ? now - Self.upWindowNanos : 0
        samples.removeAll { $0.at < oldest }
        let average = Double(samples.reduce(0) { $0 + $1.inFlight }) / Double(samples.count)
        let desired = Self.desired(averageInFlight: average, settings: settings)

        // Bounds changed: follow them at once.
        if replicas < settings.minReplicas || replicas > settings.maxReplicas {
            return change(to: min(max(replicas, settings.minReplicas), settings.maxReplicas), inFlight: average, settings)
        }
        if desired > replicas { return change(to: desired, inFlight: average, settings) }
        guard desired < replicas else {
            lower = nil
            return nil
        }
        var period = lower ?? Lower(since: now, peak: desired, peakInFlight: average)
        if desired > period.peak {
            period.peak = desired
            period.peakInFlight = average
        }
        lower = period
        guard now - period.since >= settings.scaleDownDelayNanos else { return nil }
        return change(to: period.peak, inFlight: period.peakInFlight, settings)
    }

    private mutating func change(to count: Int32, inFlight: Double, _ settings: Settings) -> Decision? {
        lower = nil
        guard count != replicas else { return nil }
        let decision = Decision(from: replicas, to: count, inFlight: inFlight, target: settings.target)
        replicas = count
        return decision
    }
}

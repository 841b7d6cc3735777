// How a model's calls are spread over its versions: aliases, the weighted split of calls that
// name no version (sticky per split key), and the shadow copy. Resolved per call by the
// workers from the route table snapshot, without locks or allocation.

/// A share of a model's calls: a concrete version and its percent (1...100).
public struct TrafficShare: Sendable, Equatable {
    public var version: String
    public var percent: Int

    public init(version: String, percent: Int) {
        self.version = version
        self.percent = percent
    }
}

/// A model's aliases, split and shadow, with every version already concrete (aliases resolved
/// when the table was built).
public struct ModelTraffic: Sendable, Equatable {
    /// Alias -> concrete version.
    public var aliases: [String: String]
    /// The split of calls that name no version (percents sum to 100); empty = the default version.
    public var split: [TrafficShare]
    /// The version that also gets a copy of that percent of those calls.
    public var shadow: TrafficShare?

    public init(aliases: [String: String] = [:], split: [TrafficShare] = [], shadow: TrafficShare? = nil) {
        self.aliases = aliases
        self.split = split
        self.shadow = shadow
    }

    /// No aliases, no split, no shadow.
    public var isEmpty: Bool { aliases.isEmpty && split.isEmpty && shadow == nil }
}

/// Where a call falls in a split: a bucket in 0..<10,000 (hundredths of a percent).
///
/// With a `byoc-split-key` the bucket is a stable hash of the key (FNV-1a, the same on every
/// gateway replica and across restarts), so a key stays on one target while the split is
/// unchanged; without one it comes from the worker's random numbers.
public enum TrafficBucket {
    /// Buckets per 100 %.
    public static let count: UInt32 = 10_000

    /// The bucket of a split key (its UTF-8 bytes).
    public static func of(key: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: fnv1a(key, seed: 0xcbf2_9ce4_8422_2325) % UInt64(count))
    }

    /// The shadow's bucket of a split key: a second hash, so which keys are shadowed does not
    /// follow which target they were split to.
    public static func shadowOf(key: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: fnv1a(key, seed: 0x84_2222_5ce4_9cf2) % UInt64(count))
    }

    /// The bucket of a string key.
    public static func of(key: String) -> UInt32 {
        var key = key
        return key.withUTF8 { of(key: UnsafeRawBufferPointer($0)) }
    }

    /// The shadow bucket of a string key.
    public static func shadowOf(key: String) -> UInt32 {
        var key = key
        return key.withUTF8 { shadowOf(key: UnsafeRawBufferPointer($0)) }
    }

    private static func fnv1a(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var hash = seed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        // Finalise (xorshift-multiply) so keys that differ in their last byte spread evenly.
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}

extension ModelRoutes {
    /// The concrete version of a call's requested version: itself when it is a version, the
    /// version it names when it is an alias, nil when it is neither. An empty request takes
    /// the split's target for `bucket` (or the default version when there is no split).
    public func concreteVersion(_ requested: String, bucket: UInt32) -> String? {
        if requested.isEmpty {
            guard !traffic.split.isEmpty else { return defaultVersion }
            var bound = 0
            let bucket = Int(bucket)
            for share in traffic.split {
                bound += share.percent * 100
                if bucket < bound { return share.version }
            }
            return traffic.split[traffic.split.count - 1].version
        }
        if versions[requested] != nil { return requested }
        return traffic.aliases[requested]
    }

    /// The shadow version that a call naming no version with shadow bucket `bucket` is also
    /// sent to (nil: no shadow for this call).
    public func shadowVersion(bucket: UInt32) -> String? {
        guard let shadow = traffic.shadow, Int(bucket) < shadow.percent * 100 else { return nil }
        return shadow.version
    }
}

import Routing
/// A small, fast pseudo-random generator (xorshift64*) owned by one worker.
public struct FastRandom {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    /// The next 64-bit value.
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// A value in `0..<bound` (bound > 0).
    public mutating func next(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// A non-zero 64-bit value (span and trace ids: unique, not unpredictable).
    public mutating func nextNonZero() -> UInt64 {
        while true {
            let value = next()
            if value != 0 { return value }
        }
    }
}

/// Power-of-two-choices: sample two candidates at random, take the one with fewer in-flight
/// requests (ties broken by the first sample, itself random).
public enum PowerOfTwoChoices {
    /// Picks an index of `load` (in-flight counts) among indices where `eligible` is true.
    public static func pick(load: [Int], eligible: [Bool], random: inout FastRandom) -> Int? {
        var candidates: [Int] = []
        candidates.reserveCapacity(load.count)
        for index in load.indices where eligible[index] { candidates.append(index) }
        switch candidates.count {
        case 0: return nil
        case 1: return candidates[0]
        default:
            let first = random.next(below: candidates.count)
            var second = random.next(below: candidates.count - 1)
            if second >= first { second += 1 }
            let a = candidates[first]
            let b = candidates[second]
            return load[b] < load[a] ? b : a
        }
    }
}

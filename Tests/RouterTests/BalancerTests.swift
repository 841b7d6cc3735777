import TestSupport
import XCTest
@testable import Router

final class FastRandomTests: XCTestCase {
    func testValuesStayBelowTheBound() {
        var random = FastRandom(seed: 42)
        for bound in 1...100 {
            for _ in 0..<200 {
                let value = random.next(below: bound)
                XCTAssertTrue((0..<bound).contains(value), "\(value) not below \(bound)")
            }
        }
    }

    func testSameSeedSameSequenceAndZeroSeedIsUsable() {
        var a = FastRandom(seed: 7)
        var b = FastRandom(seed: 7)
        var c = FastRandom(seed: 8)
        let seqA = (0..<100).map { _ in a.next(below: 1_000_000) }
        XCTAssertEqual(seqA, (0..<100).map { _ in b.next(below: 1_000_000) })
        XCTAssertNotEqual(seqA, (0..<100).map { _ in c.next(below: 1_000_000) })
        // xorshift has a fixed point at 0: seed 0 must be replaced, not produce all zeros.
        var zero = FastRandom(seed: 0)
        XCTAssertGreaterThan(Set((0..<100).map { _ in zero.next(below: 1_000) }).count, 50)
    }

    /// Span and trace ids (`WorkerTelemetry`) come from `nextNonZero`.
    func testNonZeroValuesDoNotRepeatSoon() {
        var ids = FastRandom(seed: 42)
        var seen = Set<UInt64>()
        for _ in 0..<10_000 { seen.insert(ids.nextNonZero()) }
        XCTAssertEqual(seen.count, 10_000)
        XCTAssertFalse(seen.contains(0))
    }

    func testRoughlyUniform() {
        var random = FastRandom(seed: 0xDEAD_BEEF)
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 { buckets[random.next(below: 10)] += 1 }
        for (index, count) in buckets.enumerated() {
            XCTAssertTrue((9_000...11_000).contains(count), "bucket \(index): \(count)")
        }
    }
}

final class PowerOfTwoChoicesTests: XCTestCase {
    func testNoEligibleCandidateIsNil() {
        var random = FastRandom(seed: 1)
        XCTAssertNil(PowerOfTwoChoices.pick(load: [], eligible: [], random: &random))
        XCTAssertNil(PowerOfTwoChoices.pick(load: [0, 0, 0], eligible: [false, false, false], random: &random))
    }

    func testSingleEligibleCandidateIsAlwaysPicked() {
        var random = FastRandom(seed: 1)
        for _ in 0..<1_000 {
            XCTAssertEqual(PowerOfTwoChoices.pick(load: [0, 1_000, 0], eligible: [false, true, false], random: &random), 1)
        }
        XCTAssertEqual(PowerOfTwoChoices.pick(load: [99], eligible: [true], random: &random), 0)
    }

    func testNeverPicksAnIneligibleIndex() {
        var random = FastRandom(seed: 3)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let count = Int.random(in: 1...8, using: &generator)
            let load = (0..<count).map { _ in Int.random(in: 0...5, using: &generator) }
            let eligible = (0..<count).map { _ in Bool.random(using: &generator) }
            let picked = PowerOfTwoChoices.pick(load: load, eligible: eligible, random: &random)
            if eligible.contains(true) {
                let index = try! XCTUnwrap(picked)
                XCTAssertTrue(eligible[index], "picked ineligible \(index) of \(eligible)")
            } else {
                XCTAssertNil(picked)
            }
        }
    }

    /// With two candidates both are always sampled, so the lower load always wins.
    func testTwoCandidatesAlwaysPickTheLowerLoad() {
        var random = FastRandom(seed: 5)
        var counts = [0, 0]
        for _ in 0..<10_000 { counts[PowerOfTwoChoices.pick(load: [0, 100], eligible: [true, true], random: &random)!] += 1 }
        XCTAssertEqual(counts, [10_000, 0])
        counts = [0, 0]
        for _ in 0..<10_000 { counts[PowerOfTwoChoices.pick(load: [3, 2], eligible: [true, true], random: &random)!] += 1 }
        XCTAssertEqual(counts, [0, 10_000])
        // The ineligible third endpoint with the lowest load changes nothing.
        for _ in 0..<1_000 {
            XCTAssertEqual(PowerOfTwoChoices.pick(load: [7, 0, 5], eligible: [true, false, true], random: &random), 2)
        }
    }

    func testEqualLoadSplitsEvenly() {
        var random = FastRandom(seed: 11)
        var counts = [0, 0]
        for _ in 0..<10_000 { counts[PowerOfTwoChoices.pick(load: [4, 4], eligible: [true, true], random: &random)!] += 1 }
        XCTAssertTrue((4_000...6_000).contains(counts[0]), "\(counts)")
        XCTAssertTrue((4_000...6_000).contains(counts[1]), "\(counts)")

        var five = [Int](repeating: 0, count: 5)
        for _ in 0..<50_000 { five[PowerOfTwoChoices.pick(load: [1, 1, 1, 1, 1], eligible: [Bool](repeating: true, count: 5), random: &random)!] += 1 }
        for count in five { XCTAssertTrue((8_500...11_500).contains(count), "\(five)") }
    }

    /// Three candidates [5, 1, 9]: the pair is uniform among {0,1}, {0,2}, {1,2}; index 1 wins two of
    /// the three pairs, index 0 one, and the most loaded never wins.
    func testThreeCandidatesMostLoadedNeverWins() {
        var random = FastRandom(seed: 13)
        var counts = [0, 0, 0]
        let total = 30_000
        for _ in 0..<total { counts[PowerOfTwoChoices.pick(load: [5, 1, 9], eligible: [true, true, true], random: &random)!] += 1 }
        XCTAssertEqual(counts[2], 0)
        XCTAssertEqual(Double(counts[1]) / Double(total), 2.0 / 3.0, accuracy: 0.03)
        XCTAssertEqual(Double(counts[0]) / Double(total), 1.0 / 3.0, accuracy: 0.03)
    }
}

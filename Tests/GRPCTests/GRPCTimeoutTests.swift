import TestSupport
import XCTest
import GRPC

final class GRPCTimeoutTests: XCTestCase {
    func testParseEveryUnit() {
        XCTAssertEqual(GRPCTimeout.parse("1H"), 3_600_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("1M"), 60_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("1S"), 1_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("1m"), 1_000_000)
        XCTAssertEqual(GRPCTimeout.parse("1u"), 1_000)
        XCTAssertEqual(GRPCTimeout.parse("1n"), 1)
        XCTAssertEqual(GRPCTimeout.parse("50m"), 50_000_000)
        XCTAssertEqual(GRPCTimeout.parse("0S"), 0)
        XCTAssertEqual(GRPCTimeout.parse("007S"), 7_000_000_000, "leading zeros are digits")
        XCTAssertEqual(GRPCTimeout.parse("12345678n"), 12_345_678)
        XCTAssertEqual(GRPCTimeout.parse("99999999S"), 99_999_999_000_000_000)
    }

    func testParseRejectsMalformed() {
        for text in ["", "S", "1", "123456789S", "1x", "-1S", "+1S", " 1S", "1S ", "1 S", "1.5S", "1s", "1h",
                     "m", "٣S", "１S", "0x1S", "1SS", "S1"] {
            XCTAssertNil(GRPCTimeout.parse(text), "\"\(text)\" should be rejected")
        }
    }

    func testParseEightDigitsIsTheLimit() {
        XCTAssertEqual(GRPCTimeout.parse("12345678S"), 12_345_678_000_000_000)
        XCTAssertNil(GRPCTimeout.parse("123456789n"))
        XCTAssertNil(GRPCTimeout.parse("000000001S"), "nine digits even when the value is small")
    }

    func testParseOverflowSaturates() {
        // 99999999 hours is about 3.6e20 ns, beyond UInt64.
        XCTAssertEqual(GRPCTimeout.parse("99999999H"), UInt64.max)
        XCTAssertEqual(GRPCTimeout.parse("99999999M"), 5_999_999_940_000_000_000)
        // 5124095 hours is the largest whole number of hours below UInt64.max nanoseconds.
        XCTAssertEqual(GRPCTimeout.parse("5124095H"), 5_124_095 * 3_600_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("5124096H"), UInt64.max)
    }

    func testFormatPicksTheFinestUnitThatFits() {
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 0), "0n")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 1), "1n")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999), "99999999n")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 100_000_000), "100000u")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 100_000_001), "100001u", "rounds up")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_000), "99999999u")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_001), "100000m")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 5_000_000_000), "5000000u")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_000_000), "99999999m")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_000_001), "100000S")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_000_000_000), "99999999S")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 99_999_999_000_000_001), "1666667M")
    }

    func testFormatNeverExceedsEightDigits() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let value = UInt64.random(in: 0...(UInt64.max / 2), using: &generator) >> UInt64.random(in: 0...63, using: &generator)
            let text = GRPCTimeout.format(nanoseconds: value)
            XCTAssertLessThanOrEqual(text.utf8.count, 9, text)
            let parsed = GRPCTimeout.parse(text)
            XCTAssertNotNil(parsed, text)
            // Rounding up: never shorter than asked, and never more than one unit longer.
            if let parsed {
                XCTAssertGreaterThanOrEqual(parsed, value, text)
            }
        }
    }

    func testFormatRoundTripsExactValues() {
        for (nanos, text) in [(UInt64(0), "0n"), (42, "42n"), (42_000, "42000n"), (3_600_000_000_000, "3600000m")] {
            XCTAssertEqual(GRPCTimeout.format(nanoseconds: nanos), text)
            XCTAssertEqual(GRPCTimeout.parse(text), nanos)
        }
    }

    /// Probe for testFormatOfHugeValuesDoesNotTrap (runs in a child process).
    func testProbeFormatMax() throws {
        guard isCrashProbe else { throw XCTSkip("runs only as a crash probe in a child process") }
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: .max), "5124096H")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: .max - 500), "5124096H")
    }

    /// `format` computes `(nanoseconds + size - 1) / size`, which overflows (a trap) for values
    /// within `size` of UInt64.max, e.g. the saturated value parse("99999999H") returns.
    func testFormatOfHugeValuesDoesNotTrap() throws {
        guard !isCrashProbe else { throw XCTSkip("parent-only test") }
        let probe = try runCrashProbe("GRPCTests.GRPCTimeoutTests/testProbeFormatMax")
        XCTAssertTrue(probe.normalExit && probe.status == 0,
                      "GRPCTimeout.format(nanoseconds: UInt64.max) crashed the process (normal exit: \(probe.normalExit), status \(probe.status))")
    }
}

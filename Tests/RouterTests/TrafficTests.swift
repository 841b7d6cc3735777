import Foundation
import Routing
import XCTest

final class TrafficTests: XCTestCase {
    private let e1 = Endpoint(host: "127.0.0.1", port: 9001)
    private let e2 = Endpoint(host: "127.0.0.1", port: 9002)
    private let e3 = Endpoint(host: "127.0.0.1", port: 9003)

    private func routes(split: [TrafficShare] = [], shadow: TrafficShare? = nil) -> ModelRoutes {
        ModelRoutes(defaultVersion: "1", versions: ["1": [e1], "2": [e2], "3": [e3]],
                    traffic: ModelTraffic(aliases: ["stable": "2"], split: split, shadow: shadow))
    }

    func testExplicitVersionsAndAliases() {
        let r = routes(split: [TrafficShare(version: "3", percent: 100)])
        XCTAssertEqual(r.concreteVersion("2", bucket: 0), "2")
        XCTAssertEqual(r.concreteVersion("stable", bucket: 0), "2", "an alias names its version")
        XCTAssertNil(r.concreteVersion("canary", bucket: 0))
        XCTAssertEqual(r.concreteVersion("", bucket: 9_999), "3", "only calls naming no version are split")
        XCTAssertEqual(routes().concreteVersion("", bucket: 5_000), "1", "no split: the default")
    }

    func testSplitBoundariesInHundredthsOfAPercent() {
        let r = routes(split: [TrafficShare(version: "1", percent: 90), TrafficShare(version: "2", percent: 10)])
        XCTAssertEqual(r.concreteVersion("", bucket: 0), "1")
        XCTAssertEqual(r.concreteVersion("", bucket: 8_999), "1")
        XCTAssertEqual(r.concreteVersion("", bucket: 9_000), "2")
        XCTAssertEqual(r.concreteVersion("", bucket: 9_999), "2")
        var counts: [String: Int] = [:]
        for bucket in 0..<TrafficBucket.count { counts[r.concreteVersion("", bucket: bucket)!, default: 0] += 1 }
        XCTAssertEqual(counts, ["1": 9_000, "2": 1_000])
    }

    func testShadowPercent() {
        let r = routes(shadow: TrafficShare(version: "3", percent: 25))
        XCTAssertEqual(r.shadowVersion(bucket: 0), "3")
        XCTAssertEqual(r.shadowVersion(bucket: 2_499), "3")
        XCTAssertNil(r.shadowVersion(bucket: 2_500))
        XCTAssertNil(routes().shadowVersion(bucket: 0))
    }

    /// The bucket of a key is part of the contract between gateway replicas (and releases): a
    /// sticky key must land on the same target everywhere. These values must never change.
    func testSplitKeyBucketsAreStable() {
        XCTAssertEqual(TrafficBucket.of(key: "user-1"), TrafficBucket.of(key: "user-1"))
        let golden = ["user-1", "user-2", "", "a-much-longer-split-key-with-unicode-ü"].map { TrafficBucket.of(key: $0) }
        XCTAssertEqual(golden, Self.goldenBuckets, "the split-key hash changed: sticky keys would move between targets")
        XCTAssertNotEqual(TrafficBucket.of(key: "user-1"), TrafficBucket.shadowOf(key: "user-1"))
    }

    /// Computed independently (a Python FNV-1a with the same finaliser).
    static let goldenBuckets: [UInt32] = [2749, 7487, 7458, 5630]

    /// Keys spread evenly: over 20,000 keys a 10 % target gets 10 % ± 1.
    func testSplitKeysSpreadEvenly() {
        let r = routes(split: [TrafficShare(version: "1", percent: 90), TrafficShare(version: "2", percent: 10)])
        var two = 0
        for key in 0..<20_000 where r.concreteVersion("", bucket: TrafficBucket.of(key: "key-\(key)")) == "2" { two += 1 }
        XCTAssertEqual(Double(two) / 20_000, 0.10, accuracy: 0.01)
    }

    func testRouteFileWithTraffic() throws {
        let text = #"""
        {"models": {"iris": {"default": "1", "versions": {"1": ["127.0.0.1:9001"], "2": ["127.0.0.1:9002"]},
          "aliases": {"stable": "2"}, "split": [{"version": "1", "percent": 60}, {"version": "stable", "percent": 40}],
          "shadow": {"version": "stable", "percent": 5}}}}
        """#
        let table = try RouteTable.parse(Data(text.utf8))
        XCTAssertEqual(table.models["iris"]?.traffic,
                       ModelTraffic(aliases: ["stable": "2"], split: [TrafficShare(version: "1", percent: 60), TrafficShare(version: "2", percent: 40)],
                                    shadow: TrafficShare(version: "2", percent: 5)))
        XCTAssertEqual(table.resolve(model: "iris", version: "", bucket: 6_000), .found(version: "2", endpoints: [e2]))
        XCTAssertEqual(table.resolve(model: "iris", version: "stable"), .found(version: "2", endpoints: [e2]))
        for (bad, why) in [
            (#"{"models": {"i": {"versions": {"1": []}, "split": [{"version": "1", "percent": 50}]}}}"#, "sum to 100"),
            (#"{"models": {"i": {"versions": {"1": []}, "split": [{"version": "9", "percent": 100}]}}}"#, "split[0]"),
            (#"{"models": {"i": {"versions": {"1": []}, "aliases": {"1": "1"}}}}"#, "aliases.1"),
            (#"{"models": {"i": {"versions": {"1": []}, "shadow": {"version": "1", "percent": 0}}}}"#, "shadow"),
        ] {
            XCTAssertThrowsError(try RouteTable.parse(Data(bad.utf8))) { error in
                XCTAssertTrue("\(error)".contains(why), "\(error)")
            }
        }
    }
}

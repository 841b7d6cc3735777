import Registry
import XCTest
@testable import Kubernetes

final class KubeNamesTests: XCTestCase {
    func testPlainNameWhenItIsADNSLabel() {
        XCTAssertEqual(KubeNames(VersionKey(model: "iris", version: "1")).name, "iris-1")
        XCTAssertEqual(KubeNames(VersionKey(model: "sentiment-en", version: "v2")).name, "sentiment-en-v2")
    }

    func testDashesInVersionsGetAHashSoModelAndVersionCannotCollide() {
        // Without the hash both would be "a-1-2".
        let first = KubeNames(VersionKey(model: "a-1", version: "2")).name
        let second = KubeNames(VersionKey(model: "a", version: "1-2")).name
        XCTAssertEqual(first, "a-1-2")
        XCTAssertNotEqual(first, second)
        XCTAssertTrue(second.hasPrefix("a-1-2-"))
        XCTAssertTrue(KubeNames.isDNSLabel(second))
        XCTAssertTrue(KubeNames(VersionKey(model: "sentiment-en", version: "v2-rc1")).name.hasPrefix("sentiment-en-v2-rc1-"))
    }

    func testDottedVersionsGetAHashSoTheyCannotCollide() {
        let dotted = KubeNames(VersionKey(model: "iris", version: "1.2")).name
        let dashed = KubeNames(VersionKey(model: "iris", version: "1-2")).name
        XCTAssertNotEqual(dotted, dashed)
        XCTAssertTrue(dotted.hasPrefix("iris-1-2-"))
        XCTAssertEqual(dotted.count, "iris-1-2-".count + 8)
        XCTAssertTrue(KubeNames.isDNSLabel(dotted))
        // Stable across calls (and processes: FNV-1a, not Hasher).
        XCTAssertEqual(dotted, KubeNames(VersionKey(model: "iris", version: "1.2")).name)
    }

    func testLongNamesAreCutToSixtyThreeWithAHash() {
        // Today's limits (model 40, version 20) fit 63 unless the version needs a hash.
        let model = String(repeating: "m", count: 40)
        XCTAssertEqual(KubeNames(VersionKey(model: model, version: String(repeating: "v", count: 20))).name.count, 61)
        let a = KubeNames(VersionKey(model: model, version: "1.2.3.4.5.6.7.8.9.10")).name
        let b = KubeNames(VersionKey(model: model, version: "1.2.3.4.5.6.7.8.9.11")).name
        XCTAssertEqual(a.count, 63)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(KubeNames.isDNSLabel(a))
        XCTAssertTrue(KubeNames.isDNSLabel(b))
        let longer = KubeNames.objectName(VersionKey(model: String(repeating: "x", count: 80), version: "1"))
        XCTAssertEqual(longer.count, 63)
        XCTAssertTrue(KubeNames.isDNSLabel(longer))
    }

    func testModelsStartingWithADigitStillGiveServiceNames() {
        let name = KubeNames(VersionKey(model: "3d-detector", version: "1")).name
        XCTAssertTrue(name.hasPrefix("m3d-detector-1-"), name)
        XCTAssertTrue(KubeNames.isDNSLabel(name))
    }

    func testEveryValidKeyGivesADNSLabel() {
        for model in ["a", "0", "iris", "a-b-c", String(repeating: "9", count: 40)] {
            for version in ["1", "1.0.0", "v-1", String(repeating: "1.", count: 9) + "99"] {
                let name = KubeNames(VersionKey(model: model, version: version)).name
                XCTAssertTrue(KubeNames.isDNSLabel(name), "\(model)/\(version) -> \(name)")
            }
        }
    }

    func testLabelsAndKeyRoundTrip() {
        let names = KubeNames(VersionKey(model: "iris", version: "2.0"))
        XCTAssertEqual(names.labels, ["app.kubernetes.io/managed-by": "byoc", "byoc.dev/model": "iris", "byoc.dev/version": "2.0"])
        XCTAssertEqual(KubeNames.key(ofLabels: names.labels), VersionKey(model: "iris", version: "2.0"))
        XCTAssertNil(KubeNames.key(ofLabels: ["byoc.dev/model": "iris", "byoc.dev/version": "1"]))
        XCTAssertNil(KubeNames.key(ofLabels: ["app.kubernetes.io/managed-by": "byoc", "byoc.dev/model": "iris"]))
        XCTAssertEqual(names.labelSelector, "app.kubernetes.io/managed-by=byoc,byoc.dev/model=iris,byoc.dev/version=2.0")
    }
}

import XCTest
final class PlaceholderControlPlaneTests: XCTestCase { func testNothing() {} }

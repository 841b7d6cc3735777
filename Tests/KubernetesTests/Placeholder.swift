import XCTest
final class PlaceholderKube: XCTestCase { func testNothing() {} }

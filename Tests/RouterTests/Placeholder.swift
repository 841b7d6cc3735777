import XCTest
final class PlaceholderRouterTests: XCTestCase { func testNothing() {} }

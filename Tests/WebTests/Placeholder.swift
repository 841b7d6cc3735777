import XCTest
final class PlaceholderWeb: XCTestCase { func testNothing() {} }

import XCTest
final class PlaceholderGRPCTests: XCTestCase { func testNothing() {} }

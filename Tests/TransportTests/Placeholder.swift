import XCTest
final class PlaceholderTransportTests: XCTestCase { func testNothing() {} }

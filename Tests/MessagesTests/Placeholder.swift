import XCTest
final class PlaceholderMessagesTests: XCTestCase { func testNothing() {} }

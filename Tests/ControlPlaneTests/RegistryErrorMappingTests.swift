import CSQLite
import XCTest
@testable import Admin
@testable import Registry

/// SQLite failures become registry errors whose gRPC status tells the caller what to do: a full
/// disk is RESOURCE_EXHAUSTED, a read-only or busy database UNAVAILABLE (retry), anything else
/// INTERNAL. (The full disk is also exercised end to end by test_faults.py.)
final class RegistryErrorMappingTests: XCTestCase {
    private func mapped(_ code: Int32) -> RegistryError? {
        Registry.wrap(SQLiteError(code: code, message: "m")) as? RegistryError
    }

    func testSQLiteResultCodesMapToTheirStatus() {
        XCTAssertEqual(mapped(SQLITE_FULL)?.code, .resourceExhausted)
        XCTAssertTrue(mapped(SQLITE_FULL)?.message.contains("full") ?? false)
        XCTAssertEqual(mapped(SQLITE_READONLY)?.code, .unavailable)
        XCTAssertTrue(mapped(SQLITE_READONLY)?.message.contains("read-only") ?? false)
        XCTAssertEqual(mapped(SQLITE_READONLY | (1 << 8))?.code, .unavailable, "extended codes map by their primary code")
        XCTAssertEqual(mapped(SQLITE_BUSY)?.code, .unavailable)
        XCTAssertEqual(mapped(SQLITE_LOCKED)?.code, .unavailable)
        XCTAssertEqual(mapped(SQLITE_IOERR)?.code, .internal)
        XCTAssertEqual(mapped(SQLITE_CORRUPT)?.code, .internal)
        let refused = RegistryError(.notFound, "x")
        XCTAssertEqual(Registry.wrap(refused) as? RegistryError, refused, "registry errors pass unchanged")
    }

    func testTheStatusesAdminAnswers() {
        XCTAssertEqual(AdminService.status(RegistryError(.resourceExhausted, "full")).code, .resourceExhausted)
        XCTAssertEqual(AdminService.status(RegistryError(.unavailable, "busy")).code, .unavailable)
    }
}

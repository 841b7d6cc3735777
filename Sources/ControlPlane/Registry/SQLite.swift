import CSQLite

/// A failed SQLite call: the (extended) result code and SQLite's message.
struct SQLiteError: Error, CustomStringConvertible {
    /// The extended result code, e.g. `SQLITE_CONSTRAINT_PRIMARYKEY`.
    var code: Int32
    /// SQLite's explanation, with the statement that failed when known.
    var message: String

    /// True for any UNIQUE / PRIMARY KEY / CHECK / FOREIGN KEY violation.
    var isConstraintViolation: Bool { code & 0xff == SQLITE_CONSTRAINT }

    var description: String { "sqlite error \(code): \(message)" }
}

/// A value bound to a statement parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case null
}

/// One SQLite connection with a cache of prepared statements.
///
/// Not thread-safe by itself: the owner (the `Registry` actor) serialises every call.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens the database file at `path`: read-write, creating it if needed (`create`), or
    /// read-only (`readOnly`, never creating).
    init(path: String, create: Bool = true, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0))
            | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "cannot open \(path): \(message)")
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
    }

    deinit { close() }

    /// Finalises every cached statement and closes the connection; later calls fail.
    func close() {
        for statement in cache.values { statement.finalize() }
        cache.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// The cached prepared statement for `sql`, reset and with its bindings cleared.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Runs a one-off statement (DDL, PRAGMA) without caching it; returns the first column of
    /// the first row as text when the statement produces rows.
    @discardableResult
    func executeOnce(_ sql: String) throws -> String? {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        return try statement.step() ? statement.optionalText(0) : nil
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT`, rolling back when it throws.
    ///
    /// IMMEDIATE takes the write lock up front, so two connections racing on the same rows
    /// serialise on the busy timeout instead of failing with SQLITE_BUSY at commit.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try statement("BEGIN IMMEDIATE").run()
        do {
            let result = try body()
            try statement("COMMIT").run()
            return result
        } catch {
            _ = try? statement("ROLLBACK").run()
            throw error
        }
    }

    /// Copies this whole database into `destination` with SQLite's online backup API: one
    /// consistent snapshot even while other connections write (a step that meets a lock is
    /// retried after the busy timeout).
    func backup(into destination: SQLiteConnection) throws {
        let source = try open()
        let target = try destination.open()
        guard let backup = sqlite3_backup_init(target, "main", source, "main") else {
            throw SQLiteError(code: sqlite3_extended_errcode(target), message: "backup: \(String(cString: sqlite3_errmsg(target)))")
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(50) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finished = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finished == SQLITE_OK else {
            throw SQLiteError(code: rc == SQLITE_DONE ? finished : rc, message: "backup: \(String(cString: sqlite3_errmsg(target)))")
        }
    }

    /// Sets the busy timeout: how long a call waits for another connection's lock.
    func setBusyTimeout(milliseconds: Int32) throws {
        try check(sqlite3_busy_timeout(try open(), milliseconds), "busy_timeout")
    }

    /// A prepared statement for `sql` (persistent: statements are cached by the caller).
    private func prepare(_ sql: String) throws -> SQLiteStatement {
        let db = try open()
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else {
            throw SQLiteError(code: rc, message: "\(String(cString: sqlite3_errmsg(db))) in: \(sql)")
        }
        return SQLiteStatement(raw, connection: db, sql: sql)
    }

    private func open() throws -> OpaquePointer {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database is closed") }
        return handle
    }

    private func check(_ rc: Int32, _ what: String) throws {
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? ""
            throw SQLiteError(code: rc, message: "\(what): \(message)")
        }
    }
}

/// A prepared statement: bind parameters, step, read columns.
final class SQLiteStatement {
    private var raw: OpaquePointer?
    private let connection: OpaquePointer
    private let sql: String

    fileprivate init(_ raw: OpaquePointer, connection: OpaquePointer, sql: String) {
        self.raw = raw
        self.connection = connection
        self.sql = sql
    }

    /// Releases the statement; the owning connection does this on close.
    func finalize() {
        if let raw { sqlite3_finalize(raw) }
        raw = nil
    }

    /// Resets the statement and clears its bindings for the next use.
    func reset() {
        guard let raw else { return }
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    /// Binds `values` to parameters 1...n.
    func bind(_ values: [SQLiteValue]) throws {
        guard let raw else { throw SQLiteError(code: SQLITE_MISUSE, message: "statement finalised: \(sql)") }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(raw, index, number)
            case .text(let text): rc = sqlite3_bind_text(raw, index, text, -1, byoc_sqlite_transient())
            case .null: rc = sqlite3_bind_null(raw, index)
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    /// Advances to the next row; false when the statement is done.
    func step() throws -> Bool {
        guard let raw else { throw SQLiteError(code: SQLITE_MISUSE, message: "statement finalised: \(sql)") }
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let failure = error(rc)
            sqlite3_reset(raw)
            throw failure
        }
    }

    /// Binds `values` and runs the statement to completion, ignoring rows.
    func run(_ values: [SQLiteValue] = []) throws {
        try bind(values)
        while try step() {}
        sqlite3_reset(raw)
    }

    /// Binds `values` and maps every row with `row`.
    func query<T>(_ values: [SQLiteValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        try bind(values)
        var rows: [T] = []
        while try step() { rows.append(try row(self)) }
        sqlite3_reset(raw)
        return rows
    }

    /// Column `index` of the current row as an integer (0 for NULL).
    func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(raw, index) }

    /// Column `index` of the current row as an Int32 (0 for NULL).
    func int32(_ index: Int32) -> Int32 { Int32(truncatingIfNeeded: sqlite3_column_int64(raw, index)) }

    /// Column `index` of the current row as text ("" for NULL).
    func text(_ index: Int32) -> String { optionalText(index) ?? "" }

    /// Column `index` of the current row as text, nil for NULL.
    func optionalText(_ index: Int32) -> String? {
        guard let bytes = sqlite3_column_text(raw, index) else { return nil }
        return String(cString: bytes)
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(connection),
                    message: "\(String(cString: sqlite3_errmsg(connection))) in: \(sql)")
    }
}

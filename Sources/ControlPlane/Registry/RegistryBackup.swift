#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What a registry file holds, as checked before a backup is kept or restored.
public struct RegistrySummary: Sendable, Equatable, CustomStringConvertible {
    public var schemaVersion: Int
    public var models: Int
    public var versions: Int
    public var tokens: Int

    public var description: String {
        "\(models) models, \(versions) versions, \(tokens) tokens (schema \(schemaVersion))"
    }
}

/// A backup or restore that did not happen, and why (the registry is left as it was).
public struct RegistryBackupError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Online backup and restore of the registry file.
///
/// `backup` copies a live registry with SQLite's backup API (a consistent snapshot while a
/// gateway keeps writing), checks the copy, and moves it into place atomically. `restore`
/// checks a backup and replaces the registry with it, the same way; the caller must hold the
/// registry's `RegistryLock` (no gateway may be running on it).
public enum RegistryBackup {
    /// Copies the registry at `registryPath` to `destination` (replaced atomically).
    public static func backup(registry registryPath: String, to destination: String) throws -> RegistrySummary {
        guard FileManager.default.fileExists(atPath: registryPath) else {
            throw RegistryBackupError("no registry at \(registryPath)")
        }
        // Read-write (never creating): a WAL database is read through its -shm index, which a
        // read-only connection cannot create when no gateway has it open.
        return try copy(from: registryPath, readOnly: false, to: destination, what: "back up \(registryPath)")
    }

    /// Replaces the registry at `registryPath` with the backup at `backupPath` (checked first;
    /// the registry's WAL files are removed so no older page survives).
    public static func restore(backup backupPath: String, to registryPath: String) throws -> RegistrySummary {
        guard FileManager.default.fileExists(atPath: backupPath) else {
            throw RegistryBackupError("no backup at \(backupPath)")
        }
        _ = try inspect(backupPath)
        for suffix in ["-wal", "-shm"] { unlink(registryPath + suffix) }
        return try copy(from: backupPath, readOnly: true, to: registryPath, what: "restore \(backupPath)")
    }

    /// Checks that `path` is an intact registry and counts what it holds.
    public static func inspect(_ path: String) throws -> RegistrySummary {
        do {
            let db = try SQLiteConnection(path: path, create: false, readOnly: true)
            defer { db.close() }
            try db.setBusyTimeout(milliseconds: 5_000)
            let integrity = try db.executeOnce("PRAGMA integrity_check") ?? ""
            guard integrity == "ok" else {
                throw RegistryBackupError("\(path) is damaged: \(integrity)")
            }
            let tables = Set(try db.statement("SELECT name FROM sqlite_master WHERE type = 'table'").query { $0.text(0) })
            for table in ["schema_migrations", "models", "versions", "tokens"] where !tables.contains(table) {
                throw RegistryBackupError("\(path) is not a byoc registry (no \(table) table)")
            }
            let schema = try db.statement("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").query { Int($0.int64(0)) }.first ?? 0
            let newest = registryMigrations.map(\.version).max() ?? 0
            guard schema <= newest else {
                throw RegistryBackupError("\(path) has schema \(schema), newer than this gateway's \(newest)")
            }
            func count(_ table: String) throws -> Int {
                try db.statement("SELECT COUNT(*) FROM \(table)").query { Int($0.int64(0)) }.first ?? 0
            }
            return RegistrySummary(schemaVersion: schema, models: try count("models"), versions: try count("versions"),
                                   tokens: try count("tokens"))
        } catch let error as RegistryBackupError {
            throw error
        } catch {
            throw RegistryBackupError("cannot read \(path): \(error)")
        }
    }

    /// Backs `source` up into a temporary file beside `destination`, checks it, renames it over
    /// `destination`, and syncs the folder.
    private static func copy(from source: String, readOnly: Bool, to destination: String, what: String) throws -> RegistrySummary {
        let temporary = destination + ".tmp-\(getpid())"
        unlink(temporary)
        do {
            let from = try SQLiteConnection(path: source, create: false, readOnly: readOnly)
            defer { from.close() }
            try from.setBusyTimeout(milliseconds: 5_000)
            let to = try SQLiteConnection(path: temporary)
            do {
                try from.backup(into: to)
                // A standalone file: no WAL beside it.
                try to.executeOnce("PRAGMA journal_mode = DELETE")
                to.close()
            } catch {
                to.close()
                throw error
            }
            let summary = try inspect(temporary)
            try syncFile(temporary)
            guard rename(temporary, destination) == 0 else {
                throw RegistryBackupError("cannot move the copy to \(destination): \(String(cString: strerror(errno)))")
            }
            try syncFile((destination as NSString).deletingLastPathComponent.isEmpty ? "." : (destination as NSString).deletingLastPathComponent)
            return summary
        } catch {
            unlink(temporary)
            if let error = error as? RegistryBackupError { throw RegistryBackupError("cannot \(what): \(error.message)") }
            throw RegistryBackupError("cannot \(what): \(error)")
        }
    }

    private static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RegistryBackupError("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw RegistryBackupError("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Why the registry lock could not be taken.
public struct RegistryLockError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The lock file.
    public var path: String
    /// What its holder wrote in it (e.g. `pid 1234, --listen 127.0.0.1:8080`), or the system
    /// error when the file could not be opened at all.
    public var holder: String
    /// True when another process holds the lock (false: the file could not be opened).
    public var held: Bool

    public var description: String {
        held ? "the registry is in use by another byoc-gateway (\(holder)); lock \(path)"
            : "cannot open the registry lock \(path): \(holder)"
    }
}

/// One gateway per registry file: an exclusive `flock` on `DB.lock`, held for the process's
/// life (the kernel drops it when the process dies, so a crash never leaves it stale). The
/// holder writes who it is into the file, so a second gateway can name it.
///
/// SQLite's own locks only serialise transactions; two gateways on one file would both
/// reconcile it, each starting (and killing) the other's replicas.
public final class RegistryLock: @unchecked Sendable {
    /// The lock file (the registry path plus `.lock`).
    public let path: String
    private var fd: Int32

    /// Takes the lock of the registry at `registryPath`, writing `holder` into the lock file;
    /// throws `RegistryLockError` naming the holder when another process has it.
    public init(registryPath: String, holder: String) throws {
        path = registryPath + ".lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RegistryLockError(path: path, holder: String(cString: strerror(errno)), held: false)
        }
        var rc: Int32
        repeat { rc = flock(fd, LOCK_EX | LOCK_NB) } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let code = errno
            let text = Self.read(fd)
            close(fd)
            if code == EWOULDBLOCK {
                throw RegistryLockError(path: path, holder: text.isEmpty ? "holder unknown" : text, held: true)
            }
            throw RegistryLockError(path: path, holder: String(cString: strerror(code)), held: false)
        }
        let line = Array((holder + "\n").utf8)
        _ = ftruncate(fd, 0)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { release() }

    /// Releases the lock (also done when the process exits).
    public func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    private static func read(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

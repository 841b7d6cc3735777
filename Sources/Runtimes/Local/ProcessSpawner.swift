import CByocSys
import Foundation

/// What to start: the program and arguments, the whole environment, and where output goes.
struct SpawnRequest: Sendable {
    /// `argv[0]` is searched on the child's PATH.
    var arguments: [String]
    /// The child's complete environment.
    var environment: [String: String]
    /// File that receives both stdout and stderr (appended; parent directories are created);
    /// nil sends output to /dev/null.
    var logPath: String?
    /// A line written to the log file before the child starts.
    var logHeader: String?
}

/// Starting a child process failed before it could run.
struct SpawnError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Starts child processes from one dedicated, never-ending thread.
///
/// `byoc_spawn` sets PR_SET_PDEATHSIG, which fires when the *thread* that forked exits, not
/// the process; Swift concurrency threads come and go, so every fork happens here instead.
final class ProcessSpawner: @unchecked Sendable {
    /// The process-wide spawner; its thread lives as long as the process.
    static let shared = ProcessSpawner()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var threadStarted = false

    /// Starts `request` on the spawner thread; returns the child's pid (also its process group).
    func spawn(_ request: SpawnRequest) async throws -> pid_t {
        try await withCheckedThrowingContinuation { continuation in
            enqueue { continuation.resume(with: Result { try Self.launch(request) }) }
        }
    }

    private func enqueue(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        if !threadStarted {
            threadStarted = true
            let thread = Thread { [self] in runLoop() }
            thread.name = "byoc-spawner"
            thread.start()
        }
        condition.signal()
        condition.unlock()
    }

    private func runLoop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Opens the log, forks and execs; runs on the spawner thread.
    private static func launch(_ request: SpawnRequest) throws -> pid_t {
        guard let program = request.arguments.first, !program.isEmpty else {
            throw SpawnError(message: "empty command")
        }
        let output = try openOutput(request)
        defer { close(output) }

        let argv = request.arguments.map { strdup($0) }
        let envp = request.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let cArgv: [UnsafePointer<CChar>?] = argv.map { UnsafePointer($0) } + [nil]
        let cEnvp: [UnsafePointer<CChar>?] = envp.map { UnsafePointer($0) } + [nil]
        let pid = byoc_spawn(cArgv, cEnvp, output, output, nil)
        guard pid > 0 else {
            throw SpawnError(message: "cannot start \(program): \(String(cString: strerror(-pid)))")
        }
        return pid
    }

    private static func openOutput(_ request: SpawnRequest) throws -> Int32 {
        guard let logPath = request.logPath else {
            let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SpawnError(message: "cannot open /dev/null: \(String(cString: strerror(errno)))") }
            return fd
        }
        let directory = (logPath as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SpawnError(message: "cannot create log directory \(directory): \(error.localizedDescription)")
        }
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpawnError(message: "cannot open log \(logPath): \(String(cString: strerror(errno)))") }
        if let header = request.logHeader {
            let line = Array("\(header)\n".utf8)
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
        return fd
    }
}

import Foundation
import Local
import Reconciler
import Registry
import Routing
import XCTest

/// A fresh temporary directory, removed by `cleanUp()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "byoc-cp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Polls `condition` every `interval` until it holds (a thrown error counts as not yet);
/// fails the test after `timeout`.
@discardableResult
func eventually(_ what: String, timeout: Duration = .seconds(10), interval: Duration = .milliseconds(50),
                file: StaticString = #filePath, line: UInt = #line,
                _ condition: () async throws -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    var lastError: Error?
    while true {
        do {
            if try await condition() { return true }
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        try? await Task.sleep(for: interval)
    }
    XCTFail("timed out after \(timeout) waiting for: \(what)" + (lastError.map { " (last error: \($0))" } ?? ""),
            file: file, line: line)
    return false
}

/// True while a process with `pid` exists (including an unreaped zombie).
func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

/// Ready when something accepts TCP connections on the endpoint (stands in for gRPC health).
struct TCPConnectProber: HealthProber {
    func isServing(_ endpoint: Endpoint) async -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.port).bigEndian)
        address.sin_addr.s_addr = inet_addr(endpoint.host)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// Model commands: a python3 server that listens on $PORT, optionally recording its env.
enum TestModels {
    /// Writes its environment to `$ENV_DIR/env-<replica>-<pid>.json` (when ENV_DIR is set),
    /// then accepts and closes connections on 127.0.0.1:$PORT forever.
    static let listenerScript = """
        import json, os, socket
        d = os.environ.get("ENV_DIR")
        if d:
            path = os.path.join(d, "env-%s-%d.json" % (os.environ.get("BYOC_REPLICA", "x"), os.getpid()))
            with open(path + ".tmp", "w") as f:
                json.dump(dict(os.environ), f)
            os.rename(path + ".tmp", path)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(os.environ["PORT"])))
        s.listen(16)
        while True:
            c, _ = s.accept()
            c.close()
        """

    static let listener = [python, "-c", listenerScript]

    /// A listener that ignores SIGTERM (so only SIGKILL stops it).
    static let stubbornListener = [python, "-c", "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + listenerScript]

    /// The real python3 interpreter (not a version-manager shim, which would add its own env).
    static let python: String = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys; print(sys.executable)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return "python3" }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let path = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !path.isEmpty ? path : "python3"
    }()
}

/// A scriptable in-memory runtime for reconciler tests.
actor FakeRuntime: Runtime {
    /// Applies that should throw before succeeding, per key.
    var failuresToInject: [VersionKey: Int] = [:]
    /// Every apply call: key and when.
    private(set) var applies: [(key: VersionKey, at: ContinuousClock.Instant)] = []
    private(set) var removed: [VersionKey] = []
    private(set) var shutDown = false
    private var running: [VersionKey: VersionSpec] = [:]
    private var ports: [VersionKey: Int] = [:]
    private var handler: (@Sendable () -> Void)?
    /// While closed, `apply` waits (a pass stuck on a slow runtime); `blockedApplies` counts them.
    private var gateClosed = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []
    private(set) var blockedApplies = 0
    /// Keys whose `apply` waits until `openGate(for:)` (one slow version among others).
    private var closedKeys: Set<VersionKey> = []
    private var keyWaiters: [VersionKey: [CheckedContinuation<Void, Never>]] = [:]
    private var blockedByKey: [VersionKey: Int] = [:]
    /// Keys whose `apply` throws a terminal `invalidSpec` error.
    private var invalidSpecs: Set<VersionKey> = []
    /// Applies running now, and the most that ever ran at once, per key.
    private var inFlight: [VersionKey: Int] = [:]
    private(set) var maxInFlight: [VersionKey: Int] = [:]

    func injectFailures(_ key: VersionKey, count: Int) { failuresToInject[key] = count }

    func rejectSpec(_ key: VersionKey) { invalidSpecs.insert(key) }

    func closeGate() { gateClosed = true }

    func openGate() {
        gateClosed = false
        let waiters = gateWaiters
        gateWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    func closeGate(for key: VersionKey) { closedKeys.insert(key) }

    func openGate(for key: VersionKey) {
        closedKeys.remove(key)
        for waiter in keyWaiters.removeValue(forKey: key) ?? [] { waiter.resume() }
    }

    /// Applies of `key` waiting at its gate now.
    func blockedApplies(_ key: VersionKey) -> Int { blockedByKey[key] ?? 0 }

    /// Simulates a runtime-side change (e.g. a replica died) and notifies the reconciler.
    func fireChange() { handler?() }

    func setChangeHandler(_ handler: @escaping @Sendable () -> Void) { self.handler = handler }

    func apply(_ spec: VersionSpec) async throws -> ObservedVersion {
        inFlight[spec.key, default: 0] += 1
        maxInFlight[spec.key] = max(maxInFlight[spec.key] ?? 0, inFlight[spec.key]!)
        defer { inFlight[spec.key]! -= 1 }
        if gateClosed {
            blockedApplies += 1
            await withCheckedContinuation { gateWaiters.append($0) }
        }
        if closedKeys.contains(spec.key) {
            blockedByKey[spec.key, default: 0] += 1
            await withCheckedContinuation { keyWaiters[spec.key, default: []].append($0) }
            blockedByKey[spec.key, default: 0] -= 1
        }
        applies.append((spec.key, .now))
        if invalidSpecs.contains(spec.key) {
            throw RuntimeError(.invalidSpec, "\(spec.key) cannot run here")
        }
        if let remaining = failuresToInject[spec.key], remaining > 0 {
            failuresToInject[spec.key] = remaining - 1
            throw RuntimeError("injected failure \(remaining)")
        }
        running[spec.key] = spec
        let base = ports[spec.key] ?? 9000 + ports.count * 10
        ports[spec.key] = base
        let replicas = spec.replicasToRun
        let endpoints = (0..<Int(replicas)).map { Endpoint(host: "127.0.0.1", port: base + $0) }
        return ObservedVersion(state: replicas == 0 ? .idle : .ready, readyReplicas: replicas, desiredReplicas: replicas,
                               message: "", endpoints: endpoints)
    }

    func remove(_ key: VersionKey) {
        removed.append(key)
        running[key] = nil
    }

    func observedKeys() -> [VersionKey] { Array(running.keys) }

    /// The spec last applied for `key` (nil: not running).
    func runningSpec(_ key: VersionKey) -> VersionSpec? { running[key] }

    func shutdown() {
        shutDown = true
        running.removeAll()
    }

    func applyCount(_ key: VersionKey) -> Int { applies.filter { $0.key == key }.count }

    func applyTimes(_ key: VersionKey) -> [ContinuousClock.Instant] { applies.filter { $0.key == key }.map(\.at) }

    /// Fake replicas write nothing.
    nonisolated func logs(_ key: VersionKey, tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error> {
        AsyncThrowingStream { $0.finish() }
    }
}

/// Collects published route tables.
final class TableRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var tables: [RouteTable] = []

    func record(_ table: RouteTable) { lock.withLock { tables.append(table) } }

    var all: [RouteTable] { lock.withLock { tables } }

    var latest: RouteTable? { all.last }
}

/// Counts calls to a wake closure.
final class WakeCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func wake() { lock.withLock { value += 1 } }

    var count: Int { lock.withLock { value } }
}

/// A spec for tests: `model/version` with `command`, `replicas` and extra env.
func testSpec(_ model: String, _ version: String, command: [String] = TestModels.listener, image: String = "",
              replicas: Int32 = 1, env: [String: String] = [:]) -> VersionSpec {
    VersionSpec(key: VersionKey(model: model, version: version), image: image, command: command, env: env,
                minReplicas: replicas, maxReplicas: max(replicas, 1))
}

import Foundation
@testable import Local
import Reconciler
import Registry
import XCTest

final class LocalRuntimeTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var runtime: LocalRuntime?

    override func setUpWithError() throws { directory = try TemporaryDirectory() }

    override func tearDown() async throws {
        await runtime?.shutdown()
        directory.cleanUp()
    }

    private func makeRuntime(grace: Duration = .seconds(2), tools: [String] = ["docker", "podman"]) -> LocalRuntime {
        let options = LocalRuntimeOptions(tickInterval: .milliseconds(20), probeInterval: .milliseconds(50),
                                          restartBackoff: Backoff(initial: .milliseconds(100), maximum: .seconds(1)),
                                          containerTools: tools, containerCheckTimeout: .seconds(5))
        let runtime = LocalRuntime(stateDir: directory.file("state"), prober: TCPConnectProber(), gracePeriod: grace,
                                   options: options)
        self.runtime = runtime
        return runtime
    }

    /// Applies `spec` (as the reconciler would) until `condition` holds for what is observed.
    @discardableResult
    private func applyUntil(_ runtime: LocalRuntime, _ spec: VersionSpec, _ what: String, timeout: Duration = .seconds(10),
                            file: StaticString = #filePath, line: UInt = #line,
                            _ condition: (ObservedVersion) -> Bool) async throws -> ObservedVersion {
        var last = try await runtime.apply(spec)
        let deadline = ContinuousClock.now + timeout
        while !condition(last) {
            guard ContinuousClock.now < deadline else {
                XCTFail("timed out waiting for \(what); last observed \(last)", file: file, line: line)
                return last
            }
            try await Task.sleep(for: .milliseconds(20))
            last = try await runtime.apply(spec)
        }
        return last
    }

    private func readEnvironments(_ directory: String) throws -> [[String: String]] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.map { name in
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
            return try JSONSerialization.jsonObject(with: data) as? [String: String] ?? [:]
        }
    }

    func testStartsReplicasWithTheirEnvironmentAndLogs() async throws {
        let runtime = makeRuntime()
        let envDir = directory.file("env")
        try FileManager.default.createDirectory(atPath: envDir, withIntermediateDirectories: true)
        let spec = testSpec("iris", "1.0", replicas: 2, env: ["ENV_DIR": envDir, "GREETING": "hello world"])
        let observed = try await applyUntil(runtime, spec, "READY 2/2") { $0.state == .ready }
        XCTAssertEqual(observed.readyReplicas, 2)
        XCTAssertEqual(observed.desiredReplicas, 2)
        XCTAssertEqual(observed.message, "")
        XCTAssertEqual(observed.endpoints.count, 2)

        await eventually("both children wrote their env") { (try? self.readEnvironments(envDir).count) == 2 }
        let environments = try readEnvironments(envDir)
        let ports = Set(environments.compactMap { $0["PORT"].flatMap(Int.init) })
        XCTAssertEqual(ports, Set(observed.endpoints.map(\.port)), "PORT is the routed endpoint")
        XCTAssertEqual(Set(environments.compactMap { $0["BYOC_REPLICA"] }), ["0", "1"])
        for environment in environments {
            XCTAssertEqual(environment["BYOC_MODEL"], "iris")
            XCTAssertEqual(environment["BYOC_VERSION"], "1.0")
            XCTAssertEqual(environment["GREETING"], "hello world")
            XCTAssertEqual(environment["PATH"], ProcessInfo.processInfo.environment["PATH"])
            // BYOC_REPLICA_OF marks the runtime's processes so a restart can kill what a crash left.
            XCTAssertEqual(environment["BYOC_HOST"], "127.0.0.1", "replicas are asked to bind loopback")
            XCTAssertEqual(environment["BYOC_REPLICA_OF"].map { URL(fileURLWithPath: $0).lastPathComponent }, "state")
            let unexpected = Set(environment.keys).subtracting(["PORT", "BYOC_MODEL", "BYOC_VERSION", "BYOC_REPLICA",
                                                                "BYOC_REPLICA_OF", "BYOC_HOST", "ENV_DIR", "GREETING", "PATH", "HOME",
                                                                "LANG", "LC_CTYPE"])
            XCTAssertEqual(unexpected, [], "only the documented variables reach the child")
        }
        let pids = await runtime.replicaPIDs(spec.key)
        XCTAssertEqual(pids.count, 2)
        let log = runtime.logPath(spec.key, replica: 1)
        XCTAssertTrue(log.hasSuffix("/state/logs/iris/1.0/replica-1.log"))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(text.contains("starting replica 1 of iris/1.0"), text)
    }

    func testRestartsAKilledReplica() async throws {
        let runtime = makeRuntime()
        let spec = testSpec("iris", "1")
        let ready = try await applyUntil(runtime, spec, "READY") { $0.state == .ready }
        let firstPids = await runtime.replicaPIDs(spec.key)
        let firstPid = try XCTUnwrap(firstPids.first)
        XCTAssertEqual(kill(firstPid, SIGKILL), 0)

        var messages: [String] = []
        let recovered = try await applyUntil(runtime, spec, "READY with a new process") { observed in
            messages.append(observed.message)
            return observed.state == .ready && observed.endpoints != ready.endpoints
        }
        XCTAssertEqual(recovered.readyReplicas, 1)
        XCTAssertTrue(messages.contains { $0.contains("replica 0 killed by signal 9; restarting in") }, "\(Set(messages))")
        let newPids = await runtime.replicaPIDs(spec.key)
        let newPid = try XCTUnwrap(newPids.first)
        XCTAssertNotEqual(newPid, firstPid)
        XCTAssertFalse(processExists(firstPid), "the killed replica is reaped, not a zombie")
    }

    func testScaleDownLeavesOneProcess() async throws {
        let runtime = makeRuntime()
        var spec = testSpec("iris", "1", replicas: 3)
        try await applyUntil(runtime, spec, "READY 3/3") { $0.state == .ready && $0.readyReplicas == 3 }
        let before = await runtime.replicaPIDs(spec.key)
        XCTAssertEqual(before.count, 3)

        spec.minReplicas = 1
        let observed = try await runtime.apply(spec)
        XCTAssertEqual(observed.state, .ready)
        XCTAssertEqual(observed.desiredReplicas, 1)
        XCTAssertEqual(observed.endpoints.count, 1)
        let after = await runtime.replicaPIDs(spec.key)
        XCTAssertEqual(after, [before[0]], "replica 0 keeps running")
        await eventually("scaled-down processes are gone") { !before[1...].contains(where: processExists) }
        XCTAssertTrue(processExists(before[0]))
    }

    func testRemoveStopsProcessesAndKillsAfterGrace() async throws {
        let runtime = makeRuntime(grace: .milliseconds(700))
        let polite = testSpec("polite", "1", replicas: 2)
        let stubborn = testSpec("stubborn", "1", command: TestModels.stubbornListener)
        try await applyUntil(runtime, polite, "polite READY") { $0.state == .ready }
        try await applyUntil(runtime, stubborn, "stubborn READY") { $0.state == .ready }
        let politePids = await runtime.replicaPIDs(polite.key)
        let stubbornPids = await runtime.replicaPIDs(stubborn.key)
        let stubbornPid = try XCTUnwrap(stubbornPids.first)

        await runtime.remove(polite.key)
        await runtime.remove(stubborn.key)
        let keys = await runtime.observedKeys()
        XCTAssertEqual(keys, [])
        await eventually("SIGTERM stops the polite replicas", timeout: .seconds(2)) { !politePids.contains(where: processExists) }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertTrue(processExists(stubbornPid), "a replica ignoring SIGTERM lives until the grace period ends")
        await eventually("SIGKILL after the grace period", timeout: .seconds(3)) { !processExists(stubbornPid) }
        let stopping = await runtime.stoppingPIDs()
        XCTAssertEqual(stopping, [])
    }

    func testCommandThatExitsAtOnceEndsFailed() async throws {
        let runtime = makeRuntime()
        let spec = testSpec("broken", "1", command: ["/bin/sh", "-c", "echo starting; exit 3"])
        let observed = try await applyUntil(runtime, spec, "FAILED") { $0.state == .failed }
        XCTAssertTrue(observed.message.contains("exited with status 3"), observed.message)
        XCTAssertTrue(observed.message.contains("3 times in a row"), observed.message)
        XCTAssertEqual(observed.readyReplicas, 0)
        let log = try String(contentsOfFile: runtime.logPath(spec.key, replica: 0), encoding: .utf8)
        XCTAssertTrue(log.contains("starting\n"), "stdout goes to the replica log: \(log)")

        let missing = testSpec("missing", "1", command: ["byoc-no-such-program-xyz"])
        let notFound = try await applyUntil(runtime, missing, "FAILED") { $0.state == .failed }
        XCTAssertTrue(notFound.message.contains("exited with status 127"), notFound.message)
    }

    func testFailedMessageEndsWithWhatTheReplicaWroteToStderr() async throws {
        let runtime = makeRuntime()
        let spec = testSpec("torch", "1", command: ["/bin/sh", "-c", "echo loading >&2; echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1"])
        let observed = try await applyUntil(runtime, spec, "FAILED") { $0.state == .failed }
        XCTAssertTrue(observed.message.hasPrefix("replica 0 exited with status 1 before becoming ready"), observed.message)
        XCTAssertTrue(observed.message.hasSuffix("ModuleNotFoundError: No module named 'torch'"), observed.message)
    }

    func testImageOnlyWithoutContainerToolFails() async throws {
        let runtime = makeRuntime(tools: ["byoc-no-such-docker", "byoc-no-such-podman"])
        let spec = testSpec("boxed", "1", command: [], image: "example.com/boxed:1")
        let observed = try await applyUntil(runtime, spec, "FAILED") { $0.state == .failed }
        XCTAssertEqual(observed.message, "image-only versions need docker or podman, and neither works on this machine")
        let pids = await runtime.replicaPIDs(spec.key)
        XCTAssertEqual(pids, [])
    }

    func testShutdownStopsEverythingAndRefusesWork() async throws {
        let runtime = makeRuntime(grace: .milliseconds(500))
        let spec = testSpec("iris", "1", replicas: 2)
        try await applyUntil(runtime, spec, "READY") { $0.state == .ready }
        let stubborn = testSpec("stubborn", "1", command: TestModels.stubbornListener)
        try await applyUntil(runtime, stubborn, "READY") { $0.state == .ready }
        let pids = await runtime.replicaPIDs(spec.key) + (await runtime.replicaPIDs(stubborn.key))
        await runtime.shutdown()
        for pid in pids { XCTAssertFalse(processExists(pid), "shutdown leaves no process (\(pid))") }
        do {
            _ = try await runtime.apply(spec)
            XCTFail("apply after shutdown must throw")
        } catch is RuntimeError {}
    }
}

/// A restarted runtime kills the processes a killed one left behind, wrapper children included.
final class OrphanReaperTests: XCTestCase {
    func testKillsOnlyProcessesCarryingTheMarker() throws {
        let marker = "\(OrphanReaper.markerName)=/tmp/orphan-test-\(UUID().uuidString)"
        func start(_ environment: [String: String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            // A wrapper whose child outlives it, like `sh -c "python serve.py"`.
            process.arguments = ["-c", "sleep 30 & wait"]
            process.environment = environment
            try process.run()
            return process
        }
        let parts = marker.split(separator: "=", maxSplits: 1).map(String.init)
        let ours = try start(["PATH": "/usr/bin:/bin", parts[0]: parts[1]])
        let other = try start(["PATH": "/usr/bin:/bin", parts[0]: parts[1] + "-other"])
        // The other wrapper's child too, not only the wrapper.
        defer { _ = OrphanReaper.killProcesses(withEnvironmentEntry: marker + "-other") }
        // Wait (bounded) until both wrappers started their `sleep` child.
        func hasChild(_ pid: Int32) -> Bool {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            return !children.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        let deadline = Date().addingTimeInterval(10)
        while !(hasChild(ours.processIdentifier) && hasChild(other.processIdentifier)) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let killed = OrphanReaper.killProcesses(withEnvironmentEntry: marker)
        XCTAssertTrue(killed.contains(ours.processIdentifier), "the marked wrapper is killed")
        XCTAssertEqual(killed.count, 2, "the wrapper and its sleeping child carry the marker: \(killed)")
        XCTAssertFalse(killed.contains(other.processIdentifier), "a process of another state dir is left alone")
        ours.waitUntilExit()
        XCTAssertTrue(other.isRunning)
    }

    func testContainerNamesOfDifferentVersionsNeverCollide() {
        // With "-" as the separator both would be byoc-a-1-0-0.
        let first = ContainerTool.containerName(VersionKey(model: "a-1", version: "0"), replica: 0)
        let second = ContainerTool.containerName(VersionKey(model: "a", version: "1-0"), replica: 0)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(first, "byoc_a-1_0_0")
    }

    func testTheGatewayAndItsParentsAreNeverKilled() {
        // A shell that started the gateway may carry the same variables; the reaper spares the
        // whole ancestor chain of the calling process.
        let chain = OrphanReaper.ancestors(of: getpid())
        XCTAssertEqual(chain.first, getpid())
        XCTAssertTrue(chain.contains(getppid()), "\(chain) must contain the parent \(getppid())")
    }
}

/// The last line of a replica's run, for its version's message.
final class LogTailTests: XCTestCase {
    func testLastLineOfTheNewestRun() {
        let log = """
            --- byoc: starting replica 0 of iris/1 on 127.0.0.1:1 at now: python3 serve.py
            old run
            --- byoc: starting replica 0 of iris/1 on 127.0.0.1:2 at now: python3 serve.py
            Traceback (most recent call last):
              File "serve.py", line 1, in <module>
            ModuleNotFoundError: No module named 'torch'\r

            """
        XCTAssertEqual(LogTail.lastLine(of: log), "ModuleNotFoundError: No module named 'torch'")
        XCTAssertNil(LogTail.lastLine(of: "--- byoc: starting replica 0 of iris/1: cmd\n"), "the run wrote nothing")
        XCTAssertNil(LogTail.lastLine(of: "--- byoc: starting replica 0 of iris/1: cmd\nprevious\n--- byoc: starting replica 0 of iris/1: cmd\n \n"))
        XCTAssertEqual(LogTail.lastLine(of: "no header\nlast\u{1b}[0m line\n"), "last[0m line", "control characters dropped")
        let long = String(repeating: "x", count: 1000)
        XCTAssertEqual(LogTail.lastLine(of: long)?.count, LogTail.maxLineLength)
    }

    func testTheFailureNoteEndsWithTheLastLine() {
        let version = LocalVersion(spec: testSpec("iris", "1"))
        version.slots[0] = ReplicaSlot(index: 0, phase: .launching(launch: 0))
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(4))
        for _ in 0..<3 {
            _ = version.replicaExited(0, status: .exited(1), wasReady: false, ranFor: .zero, backoff: backoff,
                                      resetAfter: .seconds(30), failAfter: 3,
                                      lastLine: "ModuleNotFoundError: No module named 'torch'")
        }
        let observed = version.observed()
        XCTAssertEqual(observed.state, .failed)
        XCTAssertTrue(observed.message.hasPrefix("replica 0 exited with status 1 before becoming ready (3 times in a row)"), observed.message)
        XCTAssertTrue(observed.message.hasSuffix(": ModuleNotFoundError: No module named 'torch'"), observed.message)
    }
}

import Foundation
import Reconciler
import Registry
import Routing

/// Tunables of the local runtime (defaults suit a laptop; tests shorten them).
public struct LocalRuntimeOptions: Sendable {
    /// How often processes are checked for exit, restarts fired and stop deadlines enforced.
    public var tickInterval: Duration
    /// How often a starting replica's health is probed (after `fastProbeWindow`).
    public var probeInterval: Duration
    /// How often a replica's health is probed during its first `fastProbeWindow`: a woken
    /// version's calls wait for this replica, so readiness is noticed within this much.
    public var fastProbeInterval: Duration
    public var fastProbeWindow: Duration
    /// Restart delays after a replica exits.
    public var restartBackoff: Backoff
    /// A replica that ran at least this long restarts with the initial delay again.
    public var backoffResetAfter: Duration
    /// Exits before becoming ready, in a row, after which the version is FAILED.
    public var failAfterEarlyExits: Int
    /// Container tools tried, in order, for image-only versions.
    public var containerTools: [String]
    /// How long `TOOL info` may take before the tool counts as not working.
    public var containerCheckTimeout: Duration
    /// How long a replica leaving (scale-down, removal, relaunch) keeps running after it left the
    /// routes, so the new route table reaches every worker before the replica is told to stop.
    public var drainDelay: Duration

    public init(tickInterval: Duration = .milliseconds(100), probeInterval: Duration = .milliseconds(250),
                fastProbeInterval: Duration = .milliseconds(5), fastProbeWindow: Duration = .seconds(10),
                restartBackoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30)),
                backoffResetAfter: Duration = .seconds(30), failAfterEarlyExits: Int = 3,
                containerTools: [String] = ["docker", "podman"], containerCheckTimeout: Duration = .seconds(15),
                drainDelay: Duration = .seconds(1)) {
        self.tickInterval = tickInterval
        self.probeInterval = probeInterval
        self.fastProbeInterval = fastProbeInterval
        self.fastProbeWindow = fastProbeWindow
        self.restartBackoff = restartBackoff
        self.backoffResetAfter = backoffResetAfter
        self.failAfterEarlyExits = failAfterEarlyExits
        self.containerTools = containerTools
        self.containerCheckTimeout = containerCheckTimeout
        self.drainDelay = drainDelay
    }
}

/// Runs each replica of a model version as a local child process (the `--runtime local` default).
///
/// A version with a `command` runs it once per replica with env `PORT` (a free port on
/// 127.0.0.1), `BYOC_MODEL`, `BYOC_VERSION`, `BYOC_REPLICA`, the version's env and the
/// gateway's PATH/HOME/LANG; stdout and stderr both go to
/// `<stateDir>/logs/<model>/<version>/replica-<n>.log`, and the last line a replica wrote
/// before it exited ends the version's message (`LogTail`). A version with only an image runs it
/// through docker or podman when `TOOL info` works, else it is FAILED. Children are started from
/// one dedicated thread with PR_SET_PDEATHSIG, so they die with the gateway; each leads its own
/// process group, which is what stop signals go to. A replica is ready when the prober says
/// SERVING (liveness afterwards is process exit only); exits are reaped on every tick and the
/// replica is restarted with exponential backoff. Scale-down, removal and shutdown send SIGTERM,
/// then SIGKILL after the grace period. See `LocalVersion` for the state rules.
public actor LocalRuntime: Runtime {
    /// The absolute state dir. Also set as `BYOC_REPLICA_OF` in every replica's environment: it
    /// marks the processes (and their descendants) this runtime started, so a restarted gateway
    /// can kill what a killed one left behind, even children of wrapper scripts. (Not
    /// `BYOC_STATE_DIR`: that is the gateway's own configuration variable, which its parent
    /// shell may carry.)
    private let stateDir: String
    private let prober: any HealthProber
    private let gracePeriod: Duration
    private let options: LocalRuntimeOptions

    private var versions: [VersionKey: LocalVersion] = [:]
    private var stopping: [StoppingProcess] = []
    private var changeHandler: (@Sendable () -> Void)?
    private var tickTask: Task<Void, Never>?
    private var nextLaunch = 0
    private var launchesInFlight = 0
    private var isShutDown = false

    private enum ToolCheck { case unchecked, checking, found(ContainerTool), missing }
    private var containerTool: ToolCheck = .unchecked

    /// A process being stopped: SIGTERM due at `termAt` (after draining), SIGKILL at `killAt`.
    private struct StoppingProcess {
        var pid: pid_t
        var termAt: ContinuousClock.Instant
        var killAt: ContinuousClock.Instant
        var termed = false
        var killed = false
        var containerName: String?
    }

    public init(stateDir: String, prober: any HealthProber, gracePeriod: Duration = .seconds(5),
                options: LocalRuntimeOptions = LocalRuntimeOptions()) {
        self.stateDir = URL(fileURLWithPath: stateDir).standardizedFileURL.path
        self.prober = prober
        self.gracePeriod = gracePeriod
        self.options = options
        OrphanReaper.killProcesses(withEnvironmentEntry: OrphanReaper.markerName + "=" + self.stateDir)
    }

    // MARK: - Runtime

    public func setChangeHandler(_ handler: @escaping @Sendable () -> Void) {
        changeHandler = handler
    }

    public func apply(_ spec: VersionSpec) async throws -> ObservedVersion {
        guard !isShutDown else { throw RuntimeError("the local runtime is shut down") }
        ensureTicking()
        let version: LocalVersion
        if let existing = versions[spec.key], !existing.needsRelaunch(for: spec) {
            existing.spec = spec
            version = existing
        } else {
            if let existing = versions[spec.key] { stopAll(existing) }
            version = LocalVersion(spec: spec)
            versions[spec.key] = version
        }

        if spec.command.isEmpty {
            switch containerTool {
            case .missing:
                stopAll(version)
                version.permanentFailure = ContainerTool.unavailableMessage
                return version.observed()
            case .unchecked, .checking:
                startContainerToolCheck()
                version.note = "checking for docker or podman"
                return version.observed()
            case .found:
                version.permanentFailure = nil
            }
        }

        for index in version.slots.keys where index >= version.desiredReplicas {
            if let slot = version.slots.removeValue(forKey: index), let pid = slot.pid {
                beginStopping(pid, containerName: slot.containerName, drain: slot.isReady)
            }
        }
        if version.desiredReplicas == 0 { version.wentIdle() }
        for index in 0..<version.desiredReplicas where version.slots[index] == nil {
            version.slots[index] = ReplicaSlot(index: index, phase: .launching(launch: 0))
            scheduleLaunch(spec.key, index: index)
        }
        return version.observed()
    }

    public func remove(_ key: VersionKey) {
        guard let version = versions.removeValue(forKey: key) else { return }
        stopAll(version)
    }

    public func observedKeys() -> [VersionKey] {
        Array(versions.keys)
    }

    public func shutdown() async {
        guard !isShutDown else { return }
        isShutDown = true
        tickTask?.cancel()
        tickTask = nil
        for version in versions.values { stopAll(version, drain: false) }
        versions.removeAll()
        // Replicas still draining are due their SIGTERM now: nothing routes to them any more.
        let now = ContinuousClock.now
        for index in stopping.indices where !stopping[index].termed {
            stopping[index].termAt = now
            stopping[index].killAt = now + gracePeriod
        }
        let hardDeadline = ContinuousClock.now + gracePeriod + .seconds(5)
        while (!stopping.isEmpty || launchesInFlight > 0) && ContinuousClock.now < hardDeadline {
            reapStopping(now: .now)
            try? await Task.sleep(for: .milliseconds(20))
        }
        for process in stopping { ChildProcess.killAndReap(process.pid) }
        stopping.removeAll()
    }

    // MARK: - Inspection

    /// Pids of the running replicas of `key`, by replica index.
    public func replicaPIDs(_ key: VersionKey) -> [Int32] {
        guard let version = versions[key] else { return [] }
        return version.slots.values.sorted { $0.index < $1.index }.compactMap(\.pid)
    }

    /// Pids still being stopped (SIGTERM sent, not yet reaped).
    public func stoppingPIDs() -> [Int32] { stopping.map(\.pid) }

    /// Every replica's log file: `ReplicaLogReader` (replica ids are the indexes).
    public nonisolated func logs(_ key: VersionKey, tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error> {
        ReplicaLogReader(directory: "\(stateDir)/logs/\(key.model)/\(key.version)").lines(tail: tail, follow: follow)
    }

    /// Where replica `index` of `key` writes its stdout and stderr.
    public nonisolated func logPath(_ key: VersionKey, replica index: Int) -> String {
        "\(stateDir)/logs/\(key.model)/\(key.version)/replica-\(index).log"
    }

    // MARK: - Launching

    private func scheduleLaunch(_ key: VersionKey, index: Int) {
        nextLaunch += 1
        let launch = nextLaunch
        versions[key]?.slots[index]?.phase = .launching(launch: launch)
        launchesInFlight += 1
        Task { await self.launch(key, index: index, launch: launch) }
    }

    private func launch(_ key: VersionKey, index: Int, launch: Int) async {
        defer { launchesInFlight -= 1 }
        guard let version = versions[key] else { return }
        let spec = version.spec
        var containerName: String?
        let outcome: Result<(pid: pid_t, port: Int), Error>
        do {
            let port = try FreePort.pick()
            var request = SpawnRequest(arguments: spec.command, environment: replicaEnvironment(spec, index: index, port: port),
                                       logPath: logPath(key, replica: index))
            if spec.command.isEmpty {
                guard case .found(let tool) = containerTool else { throw SpawnError(message: ContainerTool.unavailableMessage) }
                let name = ContainerTool.containerName(key, replica: index)
                containerName = name
                await runQuietly(tool.removeArguments(name: name))
                request.arguments = tool.runArguments(spec: spec, name: name, hostPort: port,
                                                      environment: containerEnvironment(spec, index: index))
                request.environment = Self.containerToolEnvironment()
            }
            request.logHeader = "\(LogTail.headerPrefix)\(index) of \(key) on 127.0.0.1:\(port) at \(Date()): "
                + request.arguments.joined(separator: " ")
            outcome = .success((try await ProcessSpawner.shared.spawn(request), port))
        } catch {
            outcome = .failure(error)
        }

        guard !isShutDown, let current = versions[key], current === version,
              case .launching(let pending)? = current.slots[index]?.phase, pending == launch else {
            // Never ready, so never routed: no need to drain.
            if case .success(let started) = outcome { beginStopping(started.pid, containerName: containerName, drain: false) }
            return
        }
        switch outcome {
        case .success(let started):
            current.slots[index]?.phase = .starting(pid: started.pid, port: started.port)
            current.slots[index]?.startedAt = .now
            current.slots[index]?.containerName = containerName
            current.slots[index]?.lastProbe = nil
            probe(key, index: index, pid: started.pid, port: started.port, now: .now)
        case .failure(let error):
            let delay = current.launchFailed(index, reason: "\(error)", backoff: options.restartBackoff)
            current.slots[index]?.phase = .waiting(until: .now + delay)
            notifyChange()
        }
    }

    /// The child's environment: PATH/HOME/LANG from the gateway, the version's env, then ours.
    private func replicaEnvironment(_ spec: VersionSpec, index: Int, port: Int) -> [String: String] {
        var environment = Self.inheritedEnvironment(extra: [])
        environment.merge(spec.env) { _, new in new }
        environment["PORT"] = String(port)
        environment["BYOC_MODEL"] = spec.key.model
        environment["BYOC_VERSION"] = spec.key.version
        environment["BYOC_REPLICA"] = String(index)
        // Local replicas are reached through the gateway only: ask them to bind loopback.
        environment["BYOC_HOST"] = "127.0.0.1"
        environment[OrphanReaper.markerName] = stateDir
        return environment
    }

    /// A container's environment: the version's env, PORT (the container port) and our names.
    private func containerEnvironment(_ spec: VersionSpec, index: Int) -> [String: String] {
        var environment = spec.env
        environment["PORT"] = String(spec.port == 0 ? 8080 : spec.port)
        environment["BYOC_MODEL"] = spec.key.model
        environment["BYOC_VERSION"] = spec.key.version
        environment["BYOC_REPLICA"] = String(index)
        return environment
    }

    /// What docker or podman needs from the gateway's environment to reach its engine.
    private static func containerToolEnvironment() -> [String: String] {
        inheritedEnvironment(extra: ["DOCKER_HOST", "DOCKER_CONFIG", "XDG_RUNTIME_DIR", "CONTAINER_HOST"])
    }

    private static func inheritedEnvironment(extra: [String]) -> [String: String] {
        let parent = ProcessInfo.processInfo.environment
        var environment: [String: String] = ["PATH": parent["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"]
        for name in ["HOME", "LANG"] + extra {
            if let value = parent[name] { environment[name] = value }
        }
        return environment
    }

    // MARK: - Supervision

    private func ensureTicking() {
        guard tickTask == nil, !isShutDown else { return }
        let interval = options.tickInterval
        tickTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                await self.tick()
            }
        }
    }

    /// Reaps exits, fires due restarts and probes, and enforces stop deadlines.
    private func tick() {
        let now = ContinuousClock.now
        var changed = false
        for (key, version) in versions {
            for index in version.slots.keys.sorted() {
                guard let slot = version.slots[index] else { continue }
                switch slot.phase {
                case .starting(let pid, let port), .ready(let pid, let port):
                    if let status = ChildProcess.reapIfExited(pid) {
                        handleExit(version, index: index, status: status, now: now)
                        changed = true
                    } else if case .starting = slot.phase, !slot.probing,
                              slot.lastProbe.map({ now - $0 >= options.probeInterval }) ?? true {
                        probe(key, index: index, pid: pid, port: port, now: now)
                    }
                case .waiting(let until) where until <= now:
                    scheduleLaunch(key, index: index)
                default:
                    break
                }
            }
        }
        reapStopping(now: now)
        if changed { notifyChange() }
    }

    private func handleExit(_ version: LocalVersion, index: Int, status: ExitStatus, now: ContinuousClock.Instant) {
        guard let slot = version.slots[index] else { return }
        let ranFor = slot.startedAt.map { now - $0 } ?? .zero
        let delay = version.replicaExited(index, status: status, wasReady: slot.isReady, ranFor: ranFor,
                                          backoff: options.restartBackoff, resetAfter: options.backoffResetAfter,
                                          failAfter: options.failAfterEarlyExits,
                                          lastLine: LogTail.lastLine(ofFile: logPath(version.spec.key, replica: index)))
        version.slots[index]?.phase = .waiting(until: now + delay)
        version.slots[index]?.probing = false
        if let name = slot.containerName { removeContainerLater(name) }
    }

    private func probe(_ key: VersionKey, index: Int, pid: pid_t, port: Int, now: ContinuousClock.Instant) {
        versions[key]?.slots[index]?.probing = true
        versions[key]?.slots[index]?.lastProbe = now
        let prober = self.prober
        let fast = options.fastProbeInterval
        Task {
            let endpoint = Endpoint(host: "127.0.0.1", port: port)
            var serving = await prober.isServing(endpoint)
            while !serving, self.probesFast(key, index: index, pid: pid) {
                try? await Task.sleep(for: fast)
                serving = await prober.isServing(endpoint)
            }
            self.probeFinished(key, index: index, pid: pid, serving: serving)
        }
    }

    /// True while replica `index` (process `pid`) is starting and within its fast-probe window.
    private func probesFast(_ key: VersionKey, index: Int, pid: pid_t) -> Bool {
        guard !isShutDown, let slot = versions[key]?.slots[index], slot.pid == pid, case .starting = slot.phase,
              let startedAt = slot.startedAt else { return false }
        return ContinuousClock.now - startedAt < options.fastProbeWindow
    }

    private func probeFinished(_ key: VersionKey, index: Int, pid: pid_t, serving: Bool) {
        guard let version = versions[key], let slot = version.slots[index], slot.pid == pid else { return }
        version.slots[index]?.probing = false
        version.slots[index]?.lastProbe = .now
        guard serving, case .starting(_, let port) = slot.phase else { return }
        version.slots[index]?.phase = .ready(pid: pid, port: port)
        version.replicaBecameReady()
        notifyChange()
    }

    // MARK: - Stopping

    private func stopAll(_ version: LocalVersion, drain: Bool = true) {
        for slot in version.slots.values {
            if let pid = slot.pid { beginStopping(pid, containerName: slot.containerName, drain: drain && slot.isReady) }
        }
        version.slots.removeAll()
    }

    /// Stops a replica that already left the observed endpoints: with `drain` (it was ready, so
    /// it may still be routed to), SIGTERM waits `drainDelay` so the route table without it is
    /// published first; SIGKILL follows after the grace period.
    private func beginStopping(_ pid: pid_t, containerName: String?, drain: Bool) {
        let now = ContinuousClock.now
        let termAt = drain && options.drainDelay > .zero ? now + options.drainDelay : now
        var process = StoppingProcess(pid: pid, termAt: termAt, killAt: termAt + gracePeriod, containerName: containerName)
        Self.signalIfDue(&process, now: now)
        stopping.append(process)
    }

    private func reapStopping(now: ContinuousClock.Instant) {
        stopping = stopping.compactMap { process in
            if ChildProcess.reapIfExited(process.pid) != nil {
                if let name = process.containerName { removeContainerLater(name) }
                return nil
            }
            var process = process
            Self.signalIfDue(&process, now: now)
            return process
        }
    }

    /// Sends SIGTERM, then SIGKILL, to a stopping replica's process group once each is due.
    private static func signalIfDue(_ process: inout StoppingProcess, now: ContinuousClock.Instant) {
        if !process.termed, now >= process.termAt {
            ChildProcess.signalGroup(process.pid, SIGTERM)
            process.termed = true
        }
        if !process.killed, now >= process.killAt {
            ChildProcess.signalGroup(process.pid, SIGKILL)
            process.killed = true
        }
    }

    // MARK: - Containers

    private func startContainerToolCheck() {
        guard case .unchecked = containerTool else { return }
        containerTool = .checking
        let candidates = options.containerTools
        let timeout = options.containerCheckTimeout
        let environment = Self.containerToolEnvironment()
        Task {
            let tool = await ContainerTool.detect(candidates: candidates, environment: environment, timeout: timeout)
            self.containerToolChecked(tool)
        }
    }

    private func containerToolChecked(_ tool: ContainerTool?) {
        containerTool = tool.map { .found($0) } ?? .missing
        notifyChange()
    }

    /// Removes a container whose CLI process is gone (it may outlive a SIGKILLed `docker run`).
    private func removeContainerLater(_ name: String) {
        guard case .found(let tool) = containerTool else { return }
        Task { await self.runQuietly(tool.removeArguments(name: name)) }
    }

    /// Runs a short helper command to completion (at most 30 s), output discarded.
    private func runQuietly(_ arguments: [String]) async {
        let request = SpawnRequest(arguments: arguments,
                                   environment: Self.containerToolEnvironment(),
                                   logPath: nil)
        guard let pid = try? await ProcessSpawner.shared.spawn(request) else { return }
        let deadline = ContinuousClock.now + .seconds(30)
        while ChildProcess.reapIfExited(pid) == nil {
            if ContinuousClock.now >= deadline { ChildProcess.killAndReap(pid); return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private func notifyChange() {
        changeHandler?()
    }
}

import Foundation
import Registry
import Routing

/// Settings of the reconcile loop.
public struct ReconcilerOptions: Sendable {
    /// A full pass runs at least this often even when nothing woke the reconciler.
    public var resyncInterval: Duration
    /// Retry delays for a version whose runtime call failed, and for registry read failures.
    public var errorBackoff: Backoff
    /// Where the reconciler reports failures (one line each).
    public var log: @Sendable (String) -> Void

    public init(resyncInterval: Duration = .seconds(5),
                errorBackoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30)),
                log: @escaping @Sendable (String) -> Void = { line in
                    FileHandle.standardError.write(Data("reconciler: \(line)\n".utf8))
                }) {
        self.resyncInterval = resyncInterval
        self.errorBackoff = errorBackoff
        self.log = log
    }
}

/// The level-triggered control loop: registry (desired) vs. runtime (observed), per version.
///
/// Each pass reads every version from the registry, calls `runtime.apply` for each (skipping
/// versions waiting out an error backoff), `runtime.remove` for each observed version the
/// registry no longer has, writes state/ready/desired/message back to the registry, and
/// publishes a new `RouteTable` (registry models and defaults + ready endpoints) when the
/// routes changed (unnumbered: the one publisher to the workers, the gateway, stamps each
/// table with its generation). Passes run one at a time; wake-ups
/// that arrive during a pass coalesce into one more pass.
public actor Reconciler {
    private let registry: Registry
    private let runtime: any Runtime
    private let options: ReconcilerOptions
    private let publish: @Sendable (RouteTable) -> Void

    private let signals: AsyncStream<Void>
    private nonisolated let signal: AsyncStream<Void>.Continuation
    private var loopTask: Task<Void, Never>?
    private var tickerTask: Task<Void, Never>?
    private var retryTask: Task<Void, Never>?
    private var stopped = false

    private var failures: [VersionKey: Int] = [:]
    private var retryAt: [VersionKey: ContinuousClock.Instant] = [:]
    private var registryFailures = 0
    private var registryRetryAt: ContinuousClock.Instant?
    private var endpoints: [VersionKey: [Endpoint]] = [:]
    private var publishedRoutes: [String: ModelRoutes]?
    /// The newest registry read so far: routes are always built from it, so a pass that read
    /// the registry before an Admin change cannot publish older routes than `syncRoutes` did
    /// while the pass was waiting on the runtime.
    private var newestModels: (models: [ModelRecord], revision: UInt64)?

    /// Passes completed so far.
    public private(set) var passCount = 0
    /// Failures so far (registry reads and writes, runtime apply and remove calls); for metrics.
    public private(set) var errorCount = 0

    /// - Parameters:
    ///   - publish: receives every new route table, unnumbered (generation 0: the gateway, the
    ///     one publisher to the workers, stamps each); called on the reconciler, must not block.
    public init(registry: Registry, runtime: any Runtime, options: ReconcilerOptions = ReconcilerOptions(),
                publish: @escaping @Sendable (RouteTable) -> Void) {
        self.registry = registry
        self.runtime = runtime
        self.options = options
        self.publish = publish
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts the loop: a first pass at once (this rebuilds everything after a restart), then
    /// one per `wake()`, per runtime change, per resync interval and per expiring backoff.
    public func start() async {
        guard loopTask == nil, !stopped else { return }
        await runtime.setChangeHandler { [signal] in signal.yield() }
        let signals = self.signals
        loopTask = Task {
            for await _ in signals {
                await self.runPass()
            }
        }
        let interval = options.resyncInterval
        tickerTask = Task { [signal] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                signal.yield()
            }
        }
        signal.yield()
    }

    /// Asks for a pass soon; calls made while one is pending or running coalesce.
    public nonisolated func wake() {
        signal.yield()
    }

    /// Stops the loop after the current pass, then shuts the runtime down (stopping replicas).
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        signal.finish()
        tickerTask?.cancel()
        retryTask?.cancel()
        await loopTask?.value
        await runtime.shutdown()
    }

    /// One reconcile pass (the loop calls this; tests may too).
    public func runPass() async {
        defer { passCount += 1 }
        let now = ContinuousClock.now
        if let registryRetryAt, registryRetryAt > now { return }
        let models: [ModelRecord]
        do {
            let read = try await registry.modelsWithRevision()
            models = read.models
            noteModels(read)
            registryFailures = 0
            registryRetryAt = nil
        } catch {
            registryFailures += 1
            errorCount += 1
            let delay = options.errorBackoff.delay(afterFailures: registryFailures)
            registryRetryAt = now + delay
            options.log("cannot read the registry (\(error)); retrying in \(delay.shortDescription)")
            scheduleRetryWake()
            return
        }
        var desired: [VersionKey: VersionRecord] = [:]
        for model in models {
            for version in model.versions { desired[version.key] = version }
        }

        let observedKeys = await runtime.observedKeys()
        for key in observedKeys.sorted() where desired[key] == nil && isDue(key, now) {
            do {
                try await runtime.remove(key)
                clearFailures(key)
                endpoints[key] = nil
            } catch {
                errorCount += 1
                let delay = recordFailure(key, now)
                options.log("cannot remove \(key) (\(error)); retrying in \(delay.shortDescription)")
            }
        }

        for key in desired.keys.sorted() where isDue(key, now) {
            guard let record = desired[key] else { continue }
            let status: VersionStatus
            do {
                let observed = try await runtime.apply(record.spec)
                clearFailures(key)
                endpoints[key] = observed.endpoints
                status = observed.status
            } catch {
                errorCount += 1
                let delay = recordFailure(key, now)
                let message = "runtime error: \(error); retrying in \(delay.shortDescription)"
                options.log("\(key): \(message)")
                status = VersionStatus(state: .failed, readyReplicas: 0, desiredReplicas: record.status.desiredReplicas,
                                       message: message)
            }
            do {
                try await registry.updateObserved(key, status)
            } catch {
                errorCount += 1
                options.log("cannot record the state of \(key): \(error)")
            }
        }

        let known = Set(desired.keys).union(observedKeys)
        endpoints = endpoints.filter { desired[$0.key] != nil }
        failures = failures.filter { known.contains($0.key) }
        retryAt = retryAt.filter { known.contains($0.key) }

        publishRoutes()
        scheduleRetryWake()
    }

    /// Publishes routes from the registry as it is now and the endpoints last observed, without
    /// waiting for a pass (which may be busy with the runtime), so a new default version or a
    /// deleted one routes at once.
    public func syncRoutes() async {
        guard let read = try? await registry.modelsWithRevision() else { return }
        noteModels(read)
        publishRoutes()
    }

    /// The registry changed (an Admin call): routes now (`syncRoutes`), and a pass soon.
    public func registryChanged() async {
        await syncRoutes()
        wake()
    }

    // MARK: - Helpers

    private func noteModels(_ read: (models: [ModelRecord], revision: UInt64)) {
        if let newest = newestModels, newest.revision > read.revision { return }
        newestModels = read
    }

    private func publishRoutes() {
        guard let newest = newestModels else { return }
        publishIfChanged(RouteTableBuilder.routes(models: newest.models, endpoints: endpoints))
    }

    private func publishIfChanged(_ routes: [String: ModelRoutes]) {
        guard routes != publishedRoutes else { return }
        let table = RouteTable(generation: 0, models: routes)
        publishedRoutes = routes
        publish(table)
    }

    private func isDue(_ key: VersionKey, _ now: ContinuousClock.Instant) -> Bool {
        guard let at = retryAt[key] else { return true }
        return at <= now
    }

    private func recordFailure(_ key: VersionKey, _ now: ContinuousClock.Instant) -> Duration {
        let count = (failures[key] ?? 0) + 1
        failures[key] = count
        let delay = options.errorBackoff.delay(afterFailures: count)
        retryAt[key] = now + delay
        return delay
    }

    private func clearFailures(_ key: VersionKey) {
        failures[key] = nil
        retryAt[key] = nil
    }

    /// Arms one timer for the earliest pending retry, replacing the previous one.
    private func scheduleRetryWake() {
        retryTask?.cancel()
        retryTask = nil
        let deadlines = Array(retryAt.values) + (registryRetryAt.map { [$0] } ?? [])
        guard let earliest = deadlines.min(), !stopped else { return }
        retryTask = Task { [signal] in
            try? await Task.sleep(until: earliest, clock: .continuous)
            if !Task.isCancelled { signal.yield() }
        }
    }
}

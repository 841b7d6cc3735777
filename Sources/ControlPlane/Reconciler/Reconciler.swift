import Foundation
import Registry
import Routing

/// Settings of the reconcile loop.
public struct ReconcilerOptions: Sendable {
    /// Every key is queued at least this often even when nothing woke the reconciler.
    public var resyncInterval: Duration
    /// Retry delays for a version whose runtime call failed, and for registry read failures.
    public var errorBackoff: Backoff
    /// Keys reconciled at once (each key by one worker at a time).
    public var workers: Int
    /// Where the reconciler reports failures (one line each).
    public var log: @Sendable (String) -> Void

    public init(resyncInterval: Duration = .seconds(5),
                errorBackoff: Backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30)),
                workers: Int = 4,
                log: @escaping @Sendable (String) -> Void = { line in
                    FileHandle.standardError.write(Data("reconciler: \(line)\n".utf8))
                }) {
        self.resyncInterval = resyncInterval
        self.errorBackoff = errorBackoff
        self.workers = workers
        self.log = log
    }
}

/// The level-triggered control loop: registry (desired) vs. runtime (observed), per version.
///
/// `reconcile(key)` handles one version: desired from the registry, observed from the runtime
/// (`apply` brings it towards the spec, `remove` stops a version the registry no longer has),
/// status written back to the registry. Keys come from a work queue run by a few workers
/// (`ReconcileWorkers`): a slow runtime call holds one key, not the others; failures retry
/// per key with exponential backoff; a terminal error (an invalid spec) is not retried.
///
/// Keys are queued by a resync (every registry key plus every observed key: at start, per
/// `resyncInterval`, per `wake()` and per runtime change; the first one is waited for, so the
/// first routes published carry every key's endpoints) and by `registryChanged()` (only the
/// keys whose spec an Admin call changed, added or deleted). Routes (registry models and
/// defaults + ready endpoints) are always built from the newest registry read and published,
/// unnumbered (the gateway, the one publisher to the workers, stamps each table), when they
/// changed: at once after an Admin change, coalesced after reconciles.
public actor Reconciler {
    private let registry: Registry
    private let runtime: any Runtime
    private let options: ReconcilerOptions
    private let publish: @Sendable (RouteTable) -> Void
    private let workers: ReconcileWorkers<VersionKey>

    private let resyncs: AsyncStream<Void>
    private nonisolated let resyncSignal: AsyncStream<Void>.Continuation
    private var resyncTask: Task<Void, Never>?
    private var tickerTask: Task<Void, Never>?
    private var registryRetryTask: Task<Void, Never>?
    private var workersStarted = false
    private var stopped = false

    private var registryFailures = 0
    private var registryRetryAt: ContinuousClock.Instant?
    private var endpoints: [VersionKey: [Endpoint]] = [:]
    private var publishedRoutes: [String: ModelRoutes]?
    private var publishScheduled = false
    /// False until one resync reconciled every key: routes published before would lack the
    /// endpoints of the keys not reconciled yet (a new leader would drop a follower's routes).
    private var initialSyncDone = false
    /// The newest registry read so far: routes are always built from it, so a reconcile that
    /// read the registry before an Admin change cannot publish older routes than `syncRoutes`
    /// did while the reconcile was waiting on the runtime.
    private var newestModels: (models: [ModelRecord], revision: UInt64)?
    /// Replicas the concurrency autoscaler asks for, by version (only concurrency-scaled ones).
    private var autoscaledReplicas: [VersionKey: Int32] = [:]
    /// Versions that scale to zero and are going or gone IDLE (see `IdlePhase`).
    private var idle: [VersionKey: IdlePhase] = [:]
    /// Why each version that scales to zero cannot serve (its FAILED message), for held calls.
    private var wakeFailures: [VersionKey: String] = [:]

    /// Where a version that scales to zero is on its way to IDLE.
    public enum IdlePhase: Sendable, Equatable {
        /// Routed with no endpoint (calls are held and wake it) while its replicas still run:
        /// the lifecycle loop checks no call reached them since, then confirms or cancels.
        case closing
        /// Runs no replica.
        case idle
    }

    /// Resyncs so far (each queues every key); for metrics.
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
        workers = ReconcileWorkers(backoff: options.errorBackoff)
        (resyncs, resyncSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts the workers and a first resync at once (this rebuilds everything after a
    /// restart), then one per `wake()`, per runtime change and per resync interval.
    public func start() async {
        guard resyncTask == nil, !stopped else { return }
        await runtime.setChangeHandler { [resyncSignal] in resyncSignal.yield() }
        await startWorkers()
        let resyncs = self.resyncs
        resyncTask = Task {
            for await _ in resyncs {
                if self.initialSyncDone {
                    await self.resyncInBackground()
                } else {
                    await self.runPass()
                }
            }
        }
        let interval = options.resyncInterval
        tickerTask = Task { [resyncSignal] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                resyncSignal.yield()
            }
        }
        resyncSignal.yield()
    }

    /// Asks for a resync soon; calls made while one is pending coalesce.
    public nonisolated func wake() {
        resyncSignal.yield()
    }

    /// Stops resyncing, lets each worker finish its key (queued keys are dropped), then shuts
    /// the runtime down (stopping replicas).
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        resyncSignal.finish()
        tickerTask?.cancel()
        registryRetryTask?.cancel()
        await workers.shutDown()
        await resyncTask?.value
        await runtime.shutdown()
    }

    /// One resync, waited for: queues every key and returns once each was reconciled, with the
    /// routes published (the loop runs this until it succeeded once, then queues without
    /// waiting; tests call it too).
    public func runPass() async {
        await startWorkers()
        guard let keys = await resync() else { return }
        await workers.process(keys)
        guard !stopped else { return }
        initialSyncDone = true
        publishRoutes()
    }

    /// One resync for the loop: queues the keys without waiting for them.
    private func resyncInBackground() async {
        guard let keys = await resync() else { return }
        await workers.add(keys)
    }

    /// Publishes routes from the registry as it is now and the endpoints last observed, without
    /// waiting for the workers (which may be busy with the runtime), so a new default version or
    /// a deleted one routes at once.
    public func syncRoutes() async {
        guard let read = try? await registry.modelsWithRevision() else { return }
        noteModels(read)
        publishRoutes()
    }

    /// The registry changed (an Admin call): routes now (as `syncRoutes`), and the keys whose
    /// spec changed, appeared or disappeared since the previous read are queued.
    public func registryChanged() async {
        guard let read = try? await registry.modelsWithRevision() else {
            wake()
            return
        }
        let previous = newestModels
        noteModels(read)
        publishRoutes()
        guard let previous else {
            wake()
            return
        }
        if previous.revision <= read.revision {
            await workers.add(Self.changedKeys(from: previous.models, to: read.models))
        }
    }

    /// The concurrency autoscaler's replica count for `key` (nil: back to the minimum); the key
    /// is reconciled soon, so the runtime follows.
    public func setAutoscaledReplicas(_ key: VersionKey, _ replicas: Int32?) async {
        guard autoscaledReplicas[key] != replicas else { return }
        autoscaledReplicas[key] = replicas
        await workers.add([key])
    }

    /// The spec handed to the runtime: the registered one, with 0 replicas for an IDLE version,
    /// and the autoscaler's replica count for a concurrency-scaled version (clamped to the
    /// registered bounds, at least the floor).
    func runtimeSpec(_ spec: VersionSpec) -> VersionSpec {
        if spec.scalesToZero, idle[spec.key] == .idle {
            var adjusted = spec
            adjusted.autoscaledReplicas = 0
            return adjusted
        }
        guard spec.scalesOnConcurrency, let replicas = autoscaledReplicas[spec.key] else { return spec }
        var adjusted = spec
        adjusted.autoscaledReplicas = min(max(replicas, spec.floorReplicas), spec.maxReplicas)
        return adjusted
    }

    // MARK: - Scale to zero

    /// Where `key` is on its way to IDLE (nil: awake).
    public func idlePhase(_ key: VersionKey) -> IdlePhase? { idle[key] }

    /// Starts taking `key` to IDLE: routes it with no endpoint now (new calls are held and wake
    /// it), its replicas keep running until `confirmIdle`. False when it was not awake.
    public func beginIdle(_ key: VersionKey) -> Bool {
        guard idle[key] == nil else { return false }
        idle[key] = .closing
        publishRoutes()
        return true
    }

    /// No call reached `key`'s replicas since `beginIdle`: stop them (the runtime runs 0) and
    /// forget the autoscaler's count (a wake starts at the floor). False when a wake came first
    /// (the version stays awake).
    public func confirmIdle(_ key: VersionKey) async -> Bool {
        guard idle[key] == .closing else { return false }
        idle[key] = .idle
        autoscaledReplicas[key] = nil
        await workers.add([key])
        return true
    }

    /// A call wants `key`: cancel its way to IDLE, or start it again. Returns the phase it left
    /// (nil: it was awake, nothing to do).
    @discardableResult
    public func wake(_ key: VersionKey) async -> IdlePhase? {
        guard let phase = idle.removeValue(forKey: key) else { return nil }
        if phase == .closing {
            // Its replicas never stopped: route to them again.
            publishRoutes()
        } else {
            await workers.add([key])
        }
        return phase
    }

    // MARK: - Reconcile

    /// Reconciles one version: applies the registry's spec to the runtime (or removes the
    /// version from the runtime when the registry no longer has it) and writes what the runtime
    /// observed back to the registry. The workers call this, one key at a time.
    public func reconcile(_ key: VersionKey) async -> ReconcileOutcome {
        let record: VersionRecord?
        do {
            record = try await registry.version(key)
        } catch let error as RegistryError where error.code == .notFound {
            record = nil
        } catch {
            errorCount += 1
            options.log("cannot read \(key) from the registry: \(error)")
            return .error(ReconcileError(.registryUnavailable, "\(error)"))
        }
        guard let record else {
            idle[key] = nil
            wakeFailures[key] = nil
            return await removeUnwanted(key)
        }
        if !record.spec.scalesToZero, idle.removeValue(forKey: key) != nil { publishRoutes() }

        let status: VersionStatus
        var outcome = ReconcileOutcome.done
        do {
            let observed = try await runtime.apply(runtimeSpec(record.spec))
            setWakeFailure(key, record.spec.scalesToZero && observed.state == .failed ? observed.message : nil)
            setEndpoints(key, observed.endpoints)
            status = observed.status
        } catch let error as RuntimeError where error.code == .invalidSpec {
            setWakeFailure(key, record.spec.scalesToZero ? error.message : nil)
            setEndpoints(key, [])
            outcome = .error(ReconcileError(.invalidSpec, error.message))
            status = VersionStatus(state: .failed, readyReplicas: 0, desiredReplicas: record.spec.minReplicas,
                                   message: error.message)
        } catch {
            errorCount += 1
            let delay = await workers.nextRetryDelay(key)
            let message = "runtime error: \(error); retrying in \(delay.shortDescription)"
            options.log("\(key): \(message)")
            outcome = .error(ReconcileError(.runtimeUnavailable, message))
            status = VersionStatus(state: .failed, readyReplicas: 0, desiredReplicas: record.status.desiredReplicas,
                                   message: message)
        }
        do {
            try await registry.updateObserved(key, status)
        } catch {
            errorCount += 1
            options.log("cannot record the state of \(key): \(error)")
            if case .done = outcome { outcome = .error(ReconcileError(.registryUnavailable, "\(error)")) }
        }
        return outcome
    }

    /// `key` is not in the registry: stop it in the runtime if the runtime has it.
    private func removeUnwanted(_ key: VersionKey) async -> ReconcileOutcome {
        guard await runtime.observedKeys().contains(key) else {
            setEndpoints(key, nil)
            return .done
        }
        do {
            try await runtime.remove(key)
            setEndpoints(key, nil)
            return .done
        } catch {
            errorCount += 1
            let delay = await workers.nextRetryDelay(key)
            options.log("cannot remove \(key) (\(error)); retrying in \(delay.shortDescription)")
            return .error(ReconcileError(.runtimeUnavailable, "\(error)"))
        }
    }

    // MARK: - Resync

    private func startWorkers() async {
        guard !workersStarted, !stopped else { return }
        workersStarted = true
        await workers.start(workers: options.workers) { [weak self] key in
            await self?.reconcile(key) ?? .done
        }
    }

    /// Reads the registry and the runtime; returns the keys to queue (every registry and
    /// observed key except those waiting out a failure backoff), or nil when the registry cannot
    /// be read (a resync is retried after the registry backoff).
    private func resync() async -> [VersionKey]? {
        defer { passCount += 1 }
        let now = ContinuousClock.now
        if let registryRetryAt, registryRetryAt > now { return nil }
        let read: (models: [ModelRecord], revision: UInt64)
        do {
            read = try await registry.modelsWithRevision()
            registryFailures = 0
            registryRetryAt = nil
        } catch {
            registryFailures += 1
            errorCount += 1
            let delay = options.errorBackoff.delay(afterFailures: registryFailures)
            registryRetryAt = now + delay
            options.log("cannot read the registry (\(error)); retrying in \(delay.shortDescription)")
            scheduleRegistryRetry(at: now + delay)
            return nil
        }
        noteModels(read)
        if !initialSyncDone {
            // A restart keeps IDLE versions idle: the next call wakes them, not the boot.
            for model in read.models {
                for record in model.versions where record.spec.scalesToZero && record.status.state == .idle {
                    idle[record.key] = .idle
                }
            }
        }
        var keys = Set(read.models.flatMap { $0.versions.map(\.key) })
        keys.formUnion(await runtime.observedKeys())
        let known = keys
        endpoints = endpoints.filter { known.contains($0.key) }
        if initialSyncDone { publishRoutes() }
        return await workers.notBackingOff(keys.sorted())
    }

    private func scheduleRegistryRetry(at deadline: ContinuousClock.Instant) {
        registryRetryTask?.cancel()
        guard !stopped else { return }
        registryRetryTask = Task { [resyncSignal] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            if !Task.isCancelled { resyncSignal.yield() }
        }
    }

    /// The keys whose spec (or registration) differs between two registry reads, including
    /// those only one of them has.
    static func changedKeys(from old: [ModelRecord], to new: [ModelRecord]) -> [VersionKey] {
        func index(_ models: [ModelRecord]) -> [VersionKey: VersionRecord] {
            var byKey: [VersionKey: VersionRecord] = [:]
            for model in models {
                for version in model.versions { byKey[version.key] = version }
            }
            return byKey
        }
        let before = index(old)
        let after = index(new)
        return Set(before.keys).union(after.keys).filter { key in
            guard let was = before[key], let now = after[key] else { return true }
            return was.spec != now.spec || was.createdUnixMs != now.createdUnixMs
        }.sorted()
    }

    // MARK: - Routes

    private func noteModels(_ read: (models: [ModelRecord], revision: UInt64)) {
        if let newest = newestModels, newest.revision > read.revision { return }
        newestModels = read
    }

    /// Records `key`'s ready endpoints (nil: forgotten) and, when they changed, publishes the
    /// routes soon: changes made by reconciles finishing meanwhile share one table.
    private func setEndpoints(_ key: VersionKey, _ new: [Endpoint]?) {
        guard endpoints[key] != new else { return }
        endpoints[key] = new
        guard !publishScheduled else { return }
        publishScheduled = true
        Task { self.publishScheduledRoutes() }
    }

    /// Records why `key` cannot wake (nil: it can), publishing the routes soon when it changed.
    private func setWakeFailure(_ key: VersionKey, _ reason: String?) {
        guard wakeFailures[key] != reason else { return }
        wakeFailures[key] = reason
        guard !publishScheduled else { return }
        publishScheduled = true
        Task { self.publishScheduledRoutes() }
    }

    private func publishScheduledRoutes() {
        publishScheduled = false
        if initialSyncDone { publishRoutes() }
    }

    private func publishRoutes() {
        guard let newest = newestModels else { return }
        var routed = endpoints
        for key in idle.keys { routed[key] = [] }
        let routes = RouteTableBuilder.routes(models: newest.models, endpoints: routed, wakeFailures: wakeFailures)
        guard routes != publishedRoutes else { return }
        publishedRoutes = routes
        publish(RouteTable(generation: 0, models: routes))
    }
}

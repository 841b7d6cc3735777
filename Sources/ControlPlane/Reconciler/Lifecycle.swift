import Foundation
import Registry
import Routing
import Transport

/// Settings of the lifecycle loop.
public struct LifecycleOptions: Sendable {
    /// How often the workers' activity is sampled (the autoscaler's sample rate).
    public var sampleInterval: Duration
    /// Last-called times go to the registry every this many samples (one transaction each).
    public var lastCalledEverySamples: Int
    /// `--gc-unused-after` in seconds; 0 = garbage collection off.
    public var gcUnusedAfterSeconds: Int64
    /// `--gc-unused-after` as given, for reasons.
    public var gcUnusedAfterText: String
    public var log: @Sendable (String) -> Void

    public init(sampleInterval: Duration = .seconds(1), lastCalledEverySamples: Int = 5, gcUnusedAfterSeconds: Int64 = 0,
                gcUnusedAfterText: String = "",
                log: @escaping @Sendable (String) -> Void = standardErrorLog("lifecycle")) {
        self.sampleInterval = sampleInterval
        self.lastCalledEverySamples = lastCalledEverySamples
        self.gcUnusedAfterSeconds = gcUnusedAfterSeconds
        self.gcUnusedAfterText = gcUnusedAfterText
        self.log = log
    }

    /// Samples between garbage collections: a tenth of the unused period, 1 to 60 seconds.
    var gcEverySamples: Int {
        let wanted = min(60, max(1, Double(gcUnusedAfterSeconds) / 10))
        return max(1, Int((wanted / max(sampleSeconds, 0.001)).rounded()))
    }

    /// How long a follower's activity report counts without a newer one: 3 samples.
    var reportLifetimeNanos: UInt64 { UInt64(3 * sampleSeconds * 1e9) }

    private var sampleSeconds: Double {
        Double(sampleInterval.components.seconds) + Double(sampleInterval.components.attoseconds) / 1e18
    }
}

/// The gateway's control-plane side of version lifecycles, off the request path: once per
/// sample it reads every worker's in-flight counts and last call times (on Kubernetes with the
/// follower replicas' newest reports added, `report`: three routers count as one), drives each
/// concurrency-scaled version's `ConcurrencyAutoscaler` (the reconciler makes the runtime
/// follow; each change is an `autoscaled` event), takes versions that scale to zero to IDLE
/// after their idle period and wakes them when a worker holds a call (`wake`), batches
/// last-called times into the registry (one transaction every few samples, and at stop), and
/// runs garbage collection when on.
///
/// Going IDLE is ordered against arriving calls in three steps: the reconciler routes the
/// version with no endpoint (`beginIdle`), every worker installs that table, then a second
/// sample must show no call in flight and none since the decision. A call that reached a
/// worker before the table is seen by that sample and cancels the stop (its replicas never
/// stopped); a call after it is held, which wakes the version. Only then do replicas stop.
public actor LifecycleLoop {
    private let registry: Registry
    private let reconciler: Reconciler
    private let options: LifecycleOptions
    private let sample: @Sendable () async -> ActivitySample
    private let changed: @Sendable () async -> Void
    private let routesInstalled: @Sendable () async -> Void

    private var task: Task<Void, Never>?
    private var samples = 0
    private var scalers: [VersionKey: ConcurrencyAutoscaler] = [:]
    /// The newest monotonic last-call time already turned into a pending or written note.
    private var noted: [VersionKey: UInt64] = [:]
    /// Last-called times not written yet.
    private var pending: [VersionKey: Int64] = [:]
    /// When each version that scales to zero was last started or woken (monotonic ns): its idle
    /// period counts from the later of this and its last call.
    private var awakeSince: [VersionKey: UInt64] = [:]
    /// The newest activity report of each follower replica, by version and reporter.
    private var reports: [VersionKey: [String: Report]] = [:]

    /// A follower's report as the leader keeps it (its times on this process's monotonic clock).
    struct Report: Sendable, Equatable {
        var inFlight: Int
        /// The newest call it reported (0 = none yet).
        var lastCalledNanos: UInt64
        /// When the report arrived.
        var at: UInt64
    }

    /// - Parameters:
    ///   - sample: every worker's activity (run on each worker's loop).
    ///   - changed: awaited after garbage collection deleted versions (routes and reconcile).
    ///   - routesInstalled: returns once every worker installed the route tables published
    ///     before the call.
    public init(registry: Registry, reconciler: Reconciler, options: LifecycleOptions,
                sample: @escaping @Sendable () async -> ActivitySample, changed: @escaping @Sendable () async -> Void,
                routesInstalled: @escaping @Sendable () async -> Void = {}) {
        self.registry = registry
        self.reconciler = reconciler
        self.options = options
        self.sample = sample
        self.changed = changed
        self.routesInstalled = routesInstalled
    }

    /// Starts sampling.
    public func start() {
        guard task == nil else { return }
        let interval = options.sampleInterval
        task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let self else { return }
                await self.tick()
            }
        }
    }

    /// Stops sampling and writes the last-called times noted since the last write.
    public func stop() async {
        task?.cancel()
        await task?.value
        task = nil
        note(withReports(await sample()))
        await flushLastCalled()
    }

    /// One sample: autoscale, and every few samples write last-called times and collect garbage.
    public func tick() async {
        samples += 1
        let activity = withReports(await sample())
        note(activity)
        if let models = try? await registry.models() {
            await autoscale(activity, models: models)
            await scaleToZero(activity, models: models)
        }
        if samples % max(1, options.lastCalledEverySamples) == 0 { await flushLastCalled() }
        if options.gcUnusedAfterSeconds > 0, samples % options.gcEverySamples == 0 { await collectGarbage() }
    }

    // MARK: - Last called

    /// Turns the workers' newest call times into pending wall-clock notes.
    private func note(_ activity: ActivitySample) {
        var newest: [VersionKey: UInt64] = [:]
        for entry in activity.versions where entry.lastCalledNanos != 0 {
            let key = VersionKey(model: entry.model, version: entry.version)
            newest[key] = max(newest[key] ?? 0, entry.lastCalledNanos)
        }
        for (key, nanos) in newest where nanos > (noted[key] ?? 0) {
            noted[key] = nanos
            let agoMs = activity.nanos > nanos ? Int64((activity.nanos - nanos) / 1_000_000) : 0
            pending[key] = activity.unixMs - agoMs
        }
    }

    /// Writes the pending notes in one transaction (kept for the next try when it fails).
    private func flushLastCalled() async {
        guard !pending.isEmpty else { return }
        do {
            try await registry.recordLastCalled(pending)
            pending.removeAll()
        } catch {
            options.log("cannot record last-called times: \(error)")
        }
    }

    // MARK: - Autoscaling

    private func autoscale(_ activity: ActivitySample, models: [ModelRecord]) async {
        var inFlight: [VersionKey: Int] = [:]
        for entry in activity.versions {
            inFlight[VersionKey(model: entry.model, version: entry.version), default: 0] += entry.inFlight
        }
        var scaled = Set<VersionKey>()
        for model in models {
            for record in model.versions where record.spec.scalesOnConcurrency {
                let spec = record.spec
                scaled.insert(spec.key)
                let settings = ConcurrencyAutoscaler.Settings(
                    target: spec.autoscaling.targetConcurrency, minReplicas: spec.floorReplicas, maxReplicas: spec.maxReplicas,
                    scaleDownDelayNanos: UInt64(spec.autoscaling.effectiveScaleDownDelaySeconds) * 1_000_000_000)
                var scaler = scalers[spec.key] ?? ConcurrencyAutoscaler(replicas: spec.floorReplicas)
                let decision = scaler.observe(inFlight: inFlight[spec.key] ?? 0, at: activity.nanos, settings: settings)
                scalers[spec.key] = scaler
                guard let decision else { continue }
                options.log("\(spec.key): \(decision)")
                await reconciler.setAutoscaledReplicas(spec.key, decision.to)
                do { try await registry.noteAutoscaled(spec.key, detail: decision.description) } catch {
                    options.log("cannot record the autoscaling event of \(spec.key): \(error)")
                }
            }
        }
        for key in scalers.keys where !scaled.contains(key) {
            scalers[key] = nil
            await reconciler.setAutoscaledReplicas(key, nil)
        }
    }

    // MARK: - Scale to zero

    /// Takes each version that scales to zero and had no call for its idle period to IDLE
    /// (see the type's note on ordering).
    private func scaleToZero(_ activity: ActivitySample, models: [ModelRecord]) async {
        var known = Set<VersionKey>()
        for model in models {
            for record in model.versions where record.spec.scalesToZero {
                let key = record.key
                known.insert(key)
                let started = awakeSince[key] ?? activity.nanos
                awakeSince[key] = started
                guard await reconciler.idlePhase(key) == nil else { continue }
                let before = Self.totals(activity, key)
                let period = UInt64(record.spec.autoscaling.scaleToZeroAfterSeconds) * 1_000_000_000
                let quietSince = max(started, before.lastCalled)
                guard before.inFlight == 0, activity.nanos >= quietSince, activity.nanos - quietSince >= period else { continue }
                guard await reconciler.beginIdle(key) else { continue }
                await routesInstalled()
                let after = withReports(await sample())
                note(after)
                let now = Self.totals(after, key)
                if now.inFlight == 0, now.lastCalled <= before.lastCalled {
                    guard await reconciler.confirmIdle(key) else { continue }
                    // The next wake starts at the minimum and scales from fresh samples.
                    scalers[key] = nil
                    let detail = "scaled to zero: no call for \(record.spec.autoscaling.scaleToZeroAfterSeconds)s"
                    options.log("\(key): \(detail)")
                    await noteEvent(key, detail)
                } else {
                    // A call reached a worker before it routed the version away: stay awake.
                    awakeSince[key] = after.nanos
                    await reconciler.wake(key)
                }
            }
        }
        awakeSince = awakeSince.filter { known.contains($0.key) }
    }

    /// A worker holds a call to `key` (IDLE, or on its way): start it again, or cancel the stop.
    /// Also how another gateway replica reports calls to `key`: its idle period starts again.
    /// True when it was IDLE or on its way.
    @discardableResult
    public func wake(_ key: VersionKey) async -> Bool {
        if awakeSince[key] != nil { awakeSince[key] = monotonicNanos() }
        let phase = await reconciler.wake(key)
        guard phase != nil else { return false }
        awakeSince[key] = monotonicNanos()
        if phase == .idle {
            options.log("\(key): woken by a call")
            await noteEvent(key, "woken by a call")
        }
        return true
    }

    /// A follower replica's activity report for `key` (`now`: when it arrived): it replaces that
    /// replica's previous one, and counts in the samples for `LifecycleOptions.reportLifetimeNanos`.
    /// A report with calls (in flight, or since its previous report) is also a wake (see
    /// `wake`): a version busy on followers alone is not taken to IDLE under them. True when it
    /// was IDLE or on its way.
    @discardableResult
    public func report(_ key: VersionKey, _ activity: FollowerActivity, at now: UInt64 = monotonicNanos()) async -> Bool {
        var lastCalledNanos = reports[key]?[activity.reporter]?.lastCalledNanos ?? 0
        if let ago = activity.lastCalledAgoMs {
            let agoNanos = UInt64(min(ago, Int64(now / 1_000_000))) * 1_000_000
            lastCalledNanos = max(lastCalledNanos, max(1, now - agoNanos))
        }
        reports[key, default: [:]][activity.reporter] = Report(inFlight: activity.inFlight, lastCalledNanos: lastCalledNanos, at: now)
        guard activity.inFlight > 0 || activity.lastCalledAgoMs != nil else { return false }
        return await wake(key)
    }

    /// `activity` with each follower's fresh report as one more entry; older reports are
    /// dropped (their last calls were noted while they counted).
    private func withReports(_ activity: ActivitySample) -> ActivitySample {
        guard !reports.isEmpty else { return activity }
        let lifetime = options.reportLifetimeNanos
        var merged = activity
        for (key, byReporter) in reports {
            let fresh = byReporter.filter { activity.nanos <= $0.value.at || activity.nanos - $0.value.at <= lifetime }
            reports[key] = fresh.isEmpty ? nil : fresh
            for report in fresh.values {
                merged.versions.append(VersionActivity(model: key.model, version: key.version, inFlight: report.inFlight,
                                                       lastCalledNanos: report.lastCalledNanos))
            }
        }
        return merged
    }

    private func noteEvent(_ key: VersionKey, _ detail: String) async {
        do { try await registry.noteAutoscaled(key, detail: detail) } catch {
            options.log("cannot record the autoscaling event of \(key): \(error)")
        }
    }

    /// `key`'s in-flight calls summed over the workers, and its newest call time.
    private static func totals(_ activity: ActivitySample, _ key: VersionKey) -> (inFlight: Int, lastCalled: UInt64) {
        var inFlight = 0
        var last: UInt64 = 0
        for entry in activity.versions where entry.model == key.model && entry.version == key.version {
            inFlight += entry.inFlight
            last = max(last, entry.lastCalledNanos)
        }
        return (inFlight, last)
    }

    // MARK: - Garbage collection

    private func collectGarbage() async {
        await flushLastCalled()
        let cutoff = Int64((Date().timeIntervalSince1970 * 1000).rounded()) - options.gcUnusedAfterSeconds * 1000
        do {
            let verdicts = try await registry.collectUnused(cutoffUnixMs: cutoff, unusedAfter: options.gcUnusedAfterText,
                                                            dryRun: false)
            let deleted = verdicts.filter(\.deleted)
            guard !deleted.isEmpty else { return }
            for verdict in deleted { options.log("garbage collection deleted \(verdict.key): \(verdict.reason)") }
            await changed()
        } catch {
            options.log("garbage collection failed: \(error)")
        }
    }
}

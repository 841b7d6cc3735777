@testable import Reconciler
import Registry
import Routing
import XCTest

/// The concurrency autoscaler's decisions (time passed in) and the registry's lifecycle
/// columns: last-called notes and garbage collection verdicts.
final class AutoscalerTests: XCTestCase {
    private let second: UInt64 = 1_000_000_000
    private func settings(target: Int32 = 4, min: Int32 = 1, max: Int32 = 8, delaySeconds: UInt64 = 30) -> ConcurrencyAutoscaler.Settings {
        ConcurrencyAutoscaler.Settings(target: target, minReplicas: min, maxReplicas: max, scaleDownDelayNanos: delaySeconds * second)
    }

    func testDesiredIsTheCeilingOfInFlightOverTargetWithinBounds() {
        let s = settings()
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 0, settings: s), 1)
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 4, settings: s), 1)
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 4.5, settings: s), 2)
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 16, settings: s), 4)
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 1_000, settings: s), 8)
        XCTAssertEqual(ConcurrencyAutoscaler.desired(averageInFlight: 0, settings: settings(min: 3)), 3)
    }

    func testScalesUpAtOnceOnABurstAveragedOverTheShortWindow() {
        var scaler = ConcurrencyAutoscaler(replicas: 1)
        let s = settings()
        XCTAssertNil(scaler.observe(inFlight: 2, at: 10 * second, settings: s))
        // (2 + 14) / 2 = 8 in flight: two replicas at target 4.
        XCTAssertEqual(scaler.observe(inFlight: 14, at: 11 * second, settings: s),
                       .init(from: 1, to: 2, inFlight: 8, target: 4))
        // (2 + 14 + 16) / 3 -> 11 calls: three replicas.
        XCTAssertEqual(scaler.observe(inFlight: 16, at: 12 * second, settings: s)?.to, 3)
        // The 2 fell out of the 2 s window: (14 + 16 + 16) / 3 -> 4 replicas.
        let decision = scaler.observe(inFlight: 16, at: 13 * second, settings: s)
        XCTAssertEqual(decision?.to, 4)
        XCTAssertEqual(scaler.replicas, 4)
        XCTAssertNil(scaler.observe(inFlight: 16, at: 14 * second, settings: s))
    }

    func testScalesDownOnlyAfterTheDelayToThePeakOfTheLowerPeriod() {
        var scaler = ConcurrencyAutoscaler(replicas: 1)
        let s = settings(delaySeconds: 10)
        _ = scaler.observe(inFlight: 32, at: 0, settings: s)
        XCTAssertEqual(scaler.replicas, 8)
        var t: UInt64 = 1
        // Demand falls to 6 calls (2 replicas' worth) then 1: nothing happens for 10 s.
        _ = scaler.observe(inFlight: 6, at: t * second, settings: s)
        t += 1
        _ = scaler.observe(inFlight: 6, at: t * second, settings: s)
        while t < 10 {
            t += 1
            XCTAssertNil(scaler.observe(inFlight: 1, at: t * second, settings: s), "scaled down after \(t) s")
        }
        // 10 s after demand first fell: down to the most it asked for meanwhile (the 32/6 sample's 5).
        t += 1
        let decision = scaler.observe(inFlight: 1, at: t * second, settings: s)
        XCTAssertEqual(decision?.from, 8)
        XCTAssertEqual(decision?.to, 5)
        // And after another quiet delay, to the minimum.
        var last: ConcurrencyAutoscaler.Decision?
        for step in 1...11 { last = scaler.observe(inFlight: 0, at: (t + UInt64(step)) * second, settings: s) ?? last }
        XCTAssertEqual(last?.to, 1)
        XCTAssertEqual(scaler.replicas, 1)
    }

    func testADipShorterThanTheDelayRemovesNothing() {
        var scaler = ConcurrencyAutoscaler(replicas: 1)
        let s = settings(delaySeconds: 8)
        _ = scaler.observe(inFlight: 16, at: 0, settings: s)
        _ = scaler.observe(inFlight: 16, at: second, settings: s)
        XCTAssertEqual(scaler.replicas, 4)
        for t in 2...5 { XCTAssertNil(scaler.observe(inFlight: 0, at: UInt64(t) * second, settings: s), "at \(t) s") }
        // Demand back before 8 s of lower demand: the clock restarts once the window is full again.
        for t in 6...9 { XCTAssertNil(scaler.observe(inFlight: 16, at: UInt64(t) * second, settings: s), "at \(t) s") }
        for t in 10...17 { XCTAssertNil(scaler.observe(inFlight: 0, at: UInt64(t) * second, settings: s), "at \(t) s") }
        XCTAssertEqual(scaler.replicas, 4)
    }

    func testFollowsChangedBoundsAtOnce() {
        var scaler = ConcurrencyAutoscaler(replicas: 6)
        XCTAssertEqual(scaler.observe(inFlight: 24, at: 0, settings: settings(max: 3))?.to, 3)
        XCTAssertEqual(scaler.observe(inFlight: 0, at: second, settings: settings(min: 5, max: 8))?.to, 5)
    }

    func testDecisionText() {
        XCTAssertEqual(ConcurrencyAutoscaler.Decision(from: 1, to: 4, inFlight: 14, target: 4).description,
                       "scaled 1 -> 4: 14 calls in flight, target 4")
        XCTAssertEqual(ConcurrencyAutoscaler.Decision(from: 4, to: 2, inFlight: 5.25, target: 4).description,
                       "scaled 4 -> 2: 5.3 calls in flight, target 4")
    }
}

final class RegistryLifecycleTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.cleanUp() }

    private func spec(_ version: String, autoscaling: AutoscalingSpec = AutoscalingSpec()) -> VersionSpec {
        VersionSpec(key: VersionKey(model: "m", version: version), command: ["serve"], minReplicas: 1, maxReplicas: 4,
                    autoscaling: autoscaling)
    }

    func testAutoscalingAndLastCalledAreStoredAndNeverMoveBack() async throws {
        let path = directory.file("r.db")
        let registry = try Registry(path: path)
        let auto = AutoscalingSpec(targetConcurrency: 4, scaleDownDelaySeconds: 10)
        _ = try await registry.register(spec("1", autoscaling: auto))
        _ = try await registry.register(spec("2"))
        let key = VersionKey(model: "m", version: "1")
        try await registry.recordLastCalled([key: 5_000, VersionKey(model: "m", version: "gone"): 7])
        try await registry.recordLastCalled([key: 4_000])
        let record = try await registry.version(key)
        XCTAssertEqual(record.lastCalledUnixMs, 5_000)
        XCTAssertEqual(record.spec.autoscaling, auto)
        let never = try await registry.version(VersionKey(model: "m", version: "2"))
        XCTAssertEqual(never.lastCalledUnixMs, 0)
        // Scale without autoscaling keeps it; with it, replaces it.
        let kept = try await registry.scale(key, minReplicas: 1, maxReplicas: 8)
        XCTAssertEqual(kept.spec.autoscaling, auto)
        let replaced = try await registry.scale(key, minReplicas: 1, maxReplicas: 8, autoscaling: AutoscalingSpec())
        XCTAssertEqual(replaced.spec.autoscaling, AutoscalingSpec())
        await registry.close()
        let reopened = try Registry(path: path)
        let again = try await reopened.version(key)
        XCTAssertEqual(again.lastCalledUnixMs, 5_000)
        await reopened.close()
    }

    func testCollectUnusedKeepsWhatIsNamedAndDeletesTheRest() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        for version in ["1", "2", "3", "4", "5", "6"] { _ = try await registry.register(spec(version)) }
        _ = try await registry.setAlias(model: "m", alias: "stable", version: "2")
        _ = try await registry.setTraffic(model: "m", targets: [TrafficTargetRecord(version: "1", percent: 50),
                                                               TrafficTargetRecord(version: "3", percent: 50)],
                                          shadow: TrafficTargetRecord(version: "4", percent: 10))
        try await registry.recordLastCalled([VersionKey(model: "m", version: "6"): 10_000_000_000_000])
        let cutoff = Int64(Date().timeIntervalSince1970 * 1000) + 60_000  // everything registered is "old"
        let dry = try await registry.collectUnused(cutoffUnixMs: cutoff, unusedAfter: "1m", dryRun: true)
        XCTAssertEqual(dry.map(\.key.version), ["1", "2", "3", "4", "5", "6"])
        XCTAssertEqual(dry.filter(\.deleted).map(\.key.version), ["5"])
        XCTAssertEqual(dry[0].reason, "the default version of model m")
        XCTAssertEqual(dry[1].reason, "named by alias stable")
        XCTAssertTrue(dry[2].reason.hasPrefix("named by the traffic split"), dry[2].reason)
        XCTAssertTrue(dry[3].reason.hasPrefix("named by the shadow"), dry[3].reason)
        XCTAssertEqual(dry[4].reason, "never called since it was registered more than 1m ago")
        XCTAssertEqual(dry[5].reason, "called within the last 1m")
        let untouched = try await registry.model("m")
        XCTAssertEqual(untouched.versions.count, 6, "a dry run deletes nothing")

        let done = try await registry.collectUnused(cutoffUnixMs: cutoff, unusedAfter: "1m", dryRun: false)
        XCTAssertEqual(done.filter(\.deleted).map(\.key.version), ["5"])
        let left = try await registry.model("m")
        XCTAssertEqual(left.versions.map(\.key.version), ["1", "2", "3", "4", "6"])
        let event = try await registry.events(model: "m", version: "5").last
        XCTAssertEqual(event?.kind, .deleted)
        XCTAssertEqual(event?.detail, "version 5 deleted by garbage collection: never called since it was registered more than 1m ago")
        await registry.close()
    }
}

final class ReconcilerAutoscaledSpecTests: XCTestCase {
    func testTheRuntimeGetsTheAutoscalersCountClampedOnlyForConcurrencyScaledVersions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        let runtime = FakeRuntime()
        let reconciler = Reconciler(registry: registry, runtime: runtime, publish: { _ in })
        let key = VersionKey(model: "m", version: "1")
        var spec = VersionSpec(key: key, command: ["serve"], minReplicas: 1, maxReplicas: 4,
                               autoscaling: AutoscalingSpec(targetConcurrency: 2))
        var applied = await reconciler.runtimeSpec(spec)
        XCTAssertNil(applied.autoscaledReplicas, "no decision yet: the minimum")
        await reconciler.setAutoscaledReplicas(key, 9)
        applied = await reconciler.runtimeSpec(spec)
        XCTAssertEqual(applied.autoscaledReplicas, 4, "clamped to max")
        XCTAssertEqual(applied.replicasToRun, 4)
        spec.autoscaling = AutoscalingSpec()
        applied = await reconciler.runtimeSpec(spec)
        XCTAssertNil(applied.autoscaledReplicas, "a version without a target runs its minimum")
        await reconciler.stop()
        await registry.close()
    }
}

/// Followers' activity reports: what a follower sends sample by sample, and the leader's
/// lifecycle loop adding fresh reports to its own counts (time passed in).
final class FollowerActivityTests: XCTestCase {
    private let key = VersionKey(model: "m", version: "1")
    private let second: UInt64 = 1_000_000_000

    private func sample(at nanos: UInt64, _ entries: [VersionActivity]) -> ActivitySample {
        ActivitySample(nanos: nanos, unixMs: 1_000_000, versions: entries)
    }

    func testAFollowerReportsCallsInFlightNewCallsAndADropToZeroOnce() {
        var reports = FollowerReports(reporter: "gateway-b")
        let busy = [
            VersionActivity(model: "m", version: "1", inFlight: 3, lastCalledNanos: 10 * second, authorization: "Bearer new"),
            VersionActivity(model: "m", version: "1", inFlight: 2, lastCalledNanos: 9 * second, authorization: "Bearer old"),
            VersionActivity(model: "m", version: "2", inFlight: 0, lastCalledNanos: 0),
        ]
        let first = reports.next(sample(at: 10 * second + 250_000_000, busy))
        XCTAssertEqual(first, [FollowerReports.Report(
            model: "m", version: "1", activity: FollowerActivity(reporter: "gateway-b", inFlight: 5, lastCalledAgoMs: 250),
            authorization: "Bearer new")], "summed over the workers; a version never called sends nothing")
        // Still in flight, no new call: reported again (the leader's copy stays fresh), no last call.
        let again = reports.next(sample(at: 11 * second, busy))
        XCTAssertEqual(again.map(\.activity), [FollowerActivity(reporter: "gateway-b", inFlight: 5, lastCalledAgoMs: nil)])
        // The calls finished: 0 once, then nothing.
        let done = busy.map { VersionActivity(model: $0.model, version: $0.version, inFlight: 0, lastCalledNanos: $0.lastCalledNanos) }
        XCTAssertEqual(reports.next(sample(at: 12 * second, done)).map(\.activity),
                       [FollowerActivity(reporter: "gateway-b", inFlight: 0, lastCalledAgoMs: nil)])
        XCTAssertEqual(reports.next(sample(at: 13 * second, done)), [])
        // A new call that ended between two samples: its time is reported.
        var called = done
        called[1].lastCalledNanos = 13 * second + 500_000_000
        XCTAssertEqual(reports.next(sample(at: 14 * second, called)).map(\.activity),
                       [FollowerActivity(reporter: "gateway-b", inFlight: 0, lastCalledAgoMs: 500)])
    }

    func testTheLeaderAddsFreshReportsToItsOwnCountsAndDropsOldOnes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        let spec = VersionSpec(key: key, command: ["serve"], minReplicas: 1, maxReplicas: 4,
                               autoscaling: AutoscalingSpec(targetConcurrency: 2, scaleDownDelaySeconds: 1))
        _ = try await registry.register(spec)
        let reconciler = Reconciler(registry: registry, runtime: FakeRuntime(), publish: { _ in })
        let clock = ScriptedSamples(key: key)
        let lifecycle = LifecycleLoop(registry: registry, reconciler: reconciler,
                                      options: LifecycleOptions(lastCalledEverySamples: 1, log: { _ in }),
                                      sample: { clock.next() }, changed: {})
        clock.now = 100 * second
        // Two followers: 5 + 3 calls in flight, none on the leader: 8 at target 2 is 4 replicas.
        await lifecycle.report(key, FollowerActivity(reporter: "b", inFlight: 5, lastCalledAgoMs: 100), at: clock.now)
        await lifecycle.report(key, FollowerActivity(reporter: "c", inFlight: 3, lastCalledAgoMs: nil), at: clock.now)
        await lifecycle.tick()
        var replicas = await reconciler.runtimeSpec(spec).autoscaledReplicas
        XCTAssertEqual(replicas, 4)
        // The follower's last call reached the registry (the sample's wall clock minus 100 ms).
        let record = try await registry.version(key)
        XCTAssertEqual(record.lastCalledUnixMs, 1_000_000 - 100)
        // A newer report replaces its replica's previous one; the reports count for 3 s.
        await lifecycle.report(key, FollowerActivity(reporter: "b", inFlight: 5, lastCalledAgoMs: nil), at: clock.now)
        for step in 1...3 {
            clock.now = (100 + UInt64(step)) * second
            await lifecycle.tick()
        }
        replicas = await reconciler.runtimeSpec(spec).autoscaledReplicas
        XCTAssertEqual(replicas, 4, "still counted 3 s after the last report")
        // Then they count no more: back to the minimum after the scale-down delay.
        for step in 4...8 {
            clock.now = (100 + UInt64(step)) * second
            await lifecycle.tick()
        }
        replicas = await reconciler.runtimeSpec(spec).autoscaledReplicas
        XCTAssertEqual(replicas, 1, "old reports dropped")
        await reconciler.stop()
        await registry.close()
    }
}

/// Scale to zero: the reconciler's two-step way to IDLE, wakes, a restart, and the lifecycle
/// loop ordering the stop against calls (samples scripted, no clock).
final class ScaleToZeroTests: XCTestCase {
    private let key = VersionKey(model: "m", version: "1")
    private let second: UInt64 = 1_000_000_000

    private func idleSpec(after seconds: Int32 = 2) -> VersionSpec {
        VersionSpec(key: key, command: ["serve"], minReplicas: 0, maxReplicas: 1,
                    autoscaling: AutoscalingSpec(scaleToZeroAfterSeconds: seconds))
    }

    func testGoingIdleRoutesAwayFirstThenStopsAndAWakeCancelsOrRestarts() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(idleSpec())
        let runtime = FakeRuntime()
        let tables = TableRecorder()
        let reconciler = Reconciler(registry: registry, runtime: runtime, publish: { tables.record($0) })
        await reconciler.runPass()
        XCTAssertEqual(tables.latest?.models["m"]?.versions["1"]?.count, 1, "awake: one replica")
        XCTAssertEqual(tables.latest?.models["m"]?.wake["1"], .hold)

        // Step 1: routed with no endpoint, replicas untouched.
        let began = await reconciler.beginIdle(key)
        XCTAssertTrue(began)
        XCTAssertEqual(tables.latest?.models["m"]?.versions["1"], [])
        let value1 = await reconciler.idlePhase(key)
        XCTAssertEqual(value1, .closing)
        let value2 = await reconciler.runtimeSpec(idleSpec()).autoscaledReplicas
        XCTAssertNil(value2)
        let again = await reconciler.beginIdle(key)
        XCTAssertFalse(again, "already on its way")
        // A call came first: cancelled, routed to its replica again.
        let value3 = await reconciler.wake(key)
        XCTAssertEqual(value3, .closing)
        XCTAssertEqual(tables.latest?.models["m"]?.versions["1"]?.count, 1)
        let late = await reconciler.confirmIdle(key)
        XCTAssertFalse(late, "a wake before the confirmation keeps it awake")

        // Both steps: the runtime runs 0, the registry says IDLE.
        _ = await reconciler.beginIdle(key)
        let confirmed = await reconciler.confirmIdle(key)
        XCTAssertTrue(confirmed)
        let value4 = await reconciler.runtimeSpec(idleSpec()).autoscaledReplicas
        XCTAssertEqual(value4, 0)
        try await waitFor { try await registry.version(self.key).status.state == .idle }
        let value5 = await runtime.runningSpec(key)?.replicasToRun
        XCTAssertEqual(value5, 0)

        // A wake starts it again.
        let value6 = await reconciler.wake(key)
        XCTAssertEqual(value6, .idle)
        try await waitFor { try await registry.version(self.key).status.state == .ready }
        XCTAssertEqual(tables.latest?.models["m"]?.versions["1"]?.count, 1)
        await reconciler.stop()
        await registry.close()
    }

    func testGoingIdleForgetsTheAutoscalersCountSoAWakeStartsAtTheFloor() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        let spec = VersionSpec(key: key, command: ["serve"], minReplicas: 0, maxReplicas: 4,
                               autoscaling: AutoscalingSpec(targetConcurrency: 2, scaleToZeroAfterSeconds: 2))
        _ = try await registry.register(spec)
        let reconciler = Reconciler(registry: registry, runtime: FakeRuntime(), publish: { _ in })
        await reconciler.runPass()
        await reconciler.setAutoscaledReplicas(key, 3)
        let scaled = await reconciler.runtimeSpec(spec).replicasToRun
        XCTAssertEqual(scaled, 3)
        _ = await reconciler.beginIdle(key)
        let confirmed = await reconciler.confirmIdle(key)
        XCTAssertTrue(confirmed)
        await reconciler.wake(key)
        let woken = await reconciler.runtimeSpec(spec)
        XCTAssertNil(woken.autoscaledReplicas)
        XCTAssertEqual(woken.replicasToRun, 1, "a wake starts at the floor, not the count before IDLE")
        await reconciler.stop()
        await registry.close()
    }

    func testARestartKeepsAnIdleVersionIdle() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(idleSpec())
        try await registry.updateObserved(key, VersionStatus(state: .idle))
        let runtime = FakeRuntime()
        let reconciler = Reconciler(registry: registry, runtime: runtime, publish: { _ in })
        await reconciler.runPass()
        let value7 = await reconciler.idlePhase(key)
        XCTAssertEqual(value7, .idle)
        let value8 = await runtime.runningSpec(key)?.replicasToRun
        XCTAssertEqual(value8, 0, "not started at boot")
        await reconciler.stop()
        await registry.close()
    }

    func testAVersionThatNoLongerScalesToZeroLeavesIdle() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(idleSpec())
        let runtime = FakeRuntime()
        let reconciler = Reconciler(registry: registry, runtime: runtime, publish: { _ in })
        await reconciler.runPass()
        _ = await reconciler.beginIdle(key)
        _ = await reconciler.confirmIdle(key)
        _ = try await registry.scale(key, minReplicas: 1, maxReplicas: 1)
        _ = await reconciler.reconcile(key)
        let value9 = await reconciler.idlePhase(key)
        XCTAssertNil(value9)
        await reconciler.stop()
        await registry.close()
    }

    /// A lifecycle loop over scripted samples: `calls` tells what the workers report at each sample.
    private func loop(registry: Registry, reconciler: Reconciler, samples: ScriptedSamples) -> LifecycleLoop {
        LifecycleLoop(registry: registry, reconciler: reconciler, options: LifecycleOptions(log: { _ in }),
                      sample: { samples.next() }, changed: {}, routesInstalled: { samples.installed() })
    }

    func testTheLoopStopsAQuietVersionOnlyWhenNoCallArrivedBeforeTheWorkersRoutedItAway() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanUp() }
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(idleSpec(after: 2))
        let reconciler = Reconciler(registry: registry, runtime: FakeRuntime(), publish: { _ in })
        await reconciler.runPass()
        let samples = ScriptedSamples(key: key)
        let lifecycle = loop(registry: registry, reconciler: reconciler, samples: samples)

        samples.now = 10 * second
        await lifecycle.tick()
        samples.now = 11 * second
        await lifecycle.tick()
        let value10 = await reconciler.idlePhase(key)
        XCTAssertNil(value10, "quiet for 1 s of 2")
        XCTAssertEqual(samples.installs, 0)

        // Quiet long enough, but a call reached a worker before the table without endpoints did.
        samples.now = 12 * second
        samples.callBeforeInstall = true
        await lifecycle.tick()
        XCTAssertEqual(samples.installs, 1)
        let value11 = await reconciler.idlePhase(key)
        XCTAssertNil(value11, "the stop was cancelled")

        // That call counts as activity: 2 s more, then no call: IDLE.
        samples.callBeforeInstall = false
        samples.now = 13 * second
        await lifecycle.tick()
        let value12 = await reconciler.idlePhase(key)
        XCTAssertNil(value12)
        samples.now = 15 * second
        await lifecycle.tick()
        let value13 = await reconciler.idlePhase(key)
        XCTAssertEqual(value13, .idle)
        let events = try await registry.events(model: "m", version: "1").filter { $0.kind == .autoscaled }
        XCTAssertEqual(events.last?.detail, "scaled to zero: no call for 2s")

        // A held call's wake: awake again, and the event says why.
        await lifecycle.wake(key)
        let value14 = await reconciler.idlePhase(key)
        XCTAssertNil(value14)
        let woken = try await registry.events(model: "m", version: "1").filter { $0.kind == .autoscaled }
        XCTAssertEqual(woken.last?.detail, "woken by a call")
        await reconciler.stop()
        await registry.close()
    }

    private func waitFor(_ condition: @escaping () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTFail("condition not met within 2 s")
    }
}

/// Activity samples a test scripts: the time, and whether a call arrives between the route
/// table without endpoints being published and its installation on every worker.
final class ScriptedSamples: @unchecked Sendable {
    private let lock = NSLock()
    private let key: VersionKey
    private var _now: UInt64 = 0
    private var _callBeforeInstall = false
    private var _installs = 0
    private var lastCalled: UInt64 = 0

    init(key: VersionKey) { self.key = key }

    var now: UInt64 {
        get { lock.withLock { _now } }
        set { lock.withLock { _now = newValue } }
    }

    var callBeforeInstall: Bool {
        get { lock.withLock { _callBeforeInstall } }
        set { lock.withLock { _callBeforeInstall = newValue } }
    }

    var installs: Int { lock.withLock { _installs } }

    /// The workers installed the table: a call that came before it is now in their counts.
    func installed() {
        lock.withLock {
            _installs += 1
            if _callBeforeInstall { lastCalled = _now }
        }
    }

    func next() -> ActivitySample {
        lock.withLock {
            ActivitySample(nanos: _now, unixMs: 1_000_000,
                           versions: [VersionActivity(model: key.model, version: key.version, inFlight: 0,
                                                      lastCalledNanos: lastCalled)])
        }
    }
}

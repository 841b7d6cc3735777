import Foundation
import Local
import Reconciler
import Registry
import XCTest

final class ReconcilerTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.cleanUp() }

    private func makeReconciler(_ registry: Registry, _ runtime: any Runtime, _ recorder: TableRecorder,
                                resync: Duration = .milliseconds(200),
                                backoff: Backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))) -> Reconciler {
        Reconciler(registry: registry, runtime: runtime,
                   options: ReconcilerOptions(resyncInterval: resync, errorBackoff: backoff, log: { _ in }),
                   publish: { recorder.record($0) })
    }

    func testBackoffDelays() {
        let backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        XCTAssertEqual(backoff.delay(afterFailures: 1), .milliseconds(500))
        XCTAssertEqual(backoff.delay(afterFailures: 2), .seconds(1))
        XCTAssertEqual(backoff.delay(afterFailures: 4), .seconds(4))
        XCTAssertEqual(backoff.delay(afterFailures: 7), .seconds(30))
        XCTAssertEqual(backoff.delay(afterFailures: 1000), .seconds(30))
        XCTAssertEqual(Duration.milliseconds(500).shortDescription, "500ms")
        XCTAssertEqual(Duration.milliseconds(1500).shortDescription, "1.5s")
        XCTAssertEqual(Duration.seconds(2).shortDescription, "2s")
    }

    func testConvergesWritesStateAndPublishesRoutes() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1", replicas: 2))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder)
        await reconciler.start()

        await eventually("both versions READY in the registry") {
            let model = try await registry.model("iris")
            return model.versions.allSatisfy { $0.status.state == .ready }
        }
        let v1 = try await registry.version(VersionKey(model: "iris", version: "1"))
        XCTAssertEqual(v1.status.readyReplicas, 2)
        XCTAssertEqual(v1.status.desiredReplicas, 2)

        let table = try XCTUnwrap(recorder.latest)
        XCTAssertEqual(table.models["iris"]?.defaultVersion, "1")
        XCTAssertEqual(table.models["iris"]?.versions["1"]?.count, 2)
        XCTAssertEqual(table.models["iris"]?.versions["2"]?.count, 1)
        guard case .found(let version, let endpoints) = table.resolve(model: "iris", version: "") else {
            return XCTFail("default route missing")
        }
        XCTAssertEqual(version, "1")
        XCTAssertEqual(endpoints.count, 2)

        // A default change is republished; a table is published only when the routes changed.
        _ = try await registry.setDefault(model: "iris", version: "2")
        reconciler.wake()
        await eventually("default flips in the published table") {
            recorder.latest?.models["iris"]?.defaultVersion == "2"
        }
        let published = recorder.all.map(\.models)
        for (previous, next) in zip(published, published.dropFirst()) {
            XCTAssertNotEqual(previous, next, "an unchanged table is not republished")
        }
        await reconciler.stop()
        let shutDown = await runtime.shutDown
        XCTAssertTrue(shutDown, "stop shuts the runtime down")
    }

    /// An Admin change routes at once (`syncRoutes`) even while a pass waits on the runtime, and
    /// that pass, which read the registry before the change, does not publish the older routes.
    func testSyncRoutesPublishesAtOnceAndAnOlderPassCannotUndoIt() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder)
        await reconciler.runPass()
        XCTAssertEqual(recorder.latest?.models["iris"]?.defaultVersion, "1")

        await runtime.closeGate()
        let stuckPass = Task { await reconciler.runPass() }
        await eventually("the pass waits on the runtime") { await runtime.blockedApplies > 0 }
        _ = try await registry.setDefault(model: "iris", version: "2")
        _ = try await registry.delete(model: "iris", version: "1")
        await reconciler.syncRoutes()
        let synced = recorder.latest
        let publishedBefore = recorder.all.count
        // Release the stuck pass before asserting, so a failed assertion cannot leave it waiting.
        await runtime.openGate()
        await stuckPass.value
        XCTAssertEqual(synced?.models["iris"]?.defaultVersion, "2")
        XCTAssertNil(synced?.models["iris"]?.versions["1"], "the deleted version is gone from the routes")
        XCTAssertEqual(synced?.models["iris"]?.versions["2"]?.count, 1, "endpoints observed earlier are kept")
        for table in recorder.all.dropFirst(publishedBefore) {
            XCTAssertEqual(table.models["iris"]?.defaultVersion, "2", "a pass with an older registry read published")
            XCTAssertNil(table.models["iris"]?.versions["1"])
        }
        XCTAssertEqual(recorder.latest?.models["iris"]?.defaultVersion, "2")
    }

    func testRegisteredVersionWithNothingReadyIsRoutedWithNoEndpoints() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        let runtime = FakeRuntime()
        await runtime.injectFailures(VersionKey(model: "iris", version: "1"), count: 1000)
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder)
        await reconciler.runPass()
        XCTAssertEqual(recorder.latest?.models["iris"]?.versions["1"], [])
        let record = try await registry.version(VersionKey(model: "iris", version: "1"))
        XCTAssertEqual(record.status.state, .failed)
        XCTAssertTrue(record.status.message.contains("runtime error: injected failure"), record.status.message)
        XCTAssertTrue(record.status.message.contains("retrying in 100ms"), record.status.message)
    }

    func testRetriesFailingVersionWithExponentialBackoff() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let key = VersionKey(model: "iris", version: "1")
        _ = try await registry.register(testSpec("iris", "1"))
        let runtime = FakeRuntime()
        await runtime.injectFailures(key, count: 3)
        let recorder = TableRecorder()
        // A long resync so that only the backoff timer drives the retries.
        let reconciler = makeReconciler(registry, runtime, recorder, resync: .seconds(60),
                                        backoff: Backoff(initial: .milliseconds(150), maximum: .seconds(5)))
        await reconciler.start()
        await eventually("READY after three failures") {
            try await registry.version(key).status.state == .ready
        }
        let times = await runtime.applyTimes(key)
        XCTAssertEqual(times.count, 4, "three failed attempts and one success")
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        let expected: [Duration] = [.milliseconds(150), .milliseconds(300), .milliseconds(600)]
        for (gap, minimum) in zip(gaps, expected) {
            XCTAssertGreaterThanOrEqual(gap, minimum - .milliseconds(10), "gaps \(gaps)")
            XCTAssertLessThan(gap, minimum + .milliseconds(500), "gaps \(gaps)")
        }
        let states = try await registry.events(model: "iris", version: "1").compactMap(\.newState)
        XCTAssertEqual(states.first, .pending)
        XCTAssertEqual(states.last, .ready)
        XCTAssertEqual(states.dropFirst().dropLast().filter { $0 != .failed }, [], "failures written back: \(states)")
        XCTAssertEqual(states.count, 5, "one event per changed attempt: \(states)")
        await reconciler.stop()
    }

    func testRemovesVersionsNoLongerRegistered() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder, resync: .seconds(60))
        await reconciler.start()
        await eventually("both routed") { recorder.latest?.models["iris"]?.versions.count == 2 }

        _ = try await registry.delete(model: "iris", version: "2")
        reconciler.wake()
        await eventually("v2 removed from the runtime") { await runtime.removed == [VersionKey(model: "iris", version: "2")] }
        await eventually("v2 dropped from the routes") { recorder.latest?.models["iris"]?.versions.keys.sorted() == ["1"] }
        let observed = await runtime.observedKeys()
        XCTAssertEqual(observed, [VersionKey(model: "iris", version: "1")])
        await reconciler.stop()
    }

    func testRuntimeChangeAndResyncTriggerPasses() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        _ = try await registry.register(testSpec("iris", "1"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder, resync: .seconds(60))
        await reconciler.start()
        await eventually("first pass") { await reconciler.passCount >= 1 }
        try await Task.sleep(for: .milliseconds(200))
        let idle = await reconciler.passCount
        XCTAssertEqual(idle, 1, "nothing woke the reconciler")
        await runtime.fireChange()
        await eventually("a runtime change runs a pass") { await reconciler.passCount >= 2 }
        await reconciler.stop()

        let periodic = makeReconciler(registry, FakeRuntime(), TableRecorder(), resync: .milliseconds(100))
        await periodic.start()
        await eventually("periodic resync runs passes", timeout: .seconds(3)) { await periodic.passCount >= 4 }
        await periodic.stop()
    }

    /// A version whose runtime apply hangs holds one worker; another version still converges
    /// and is routed meanwhile.
    func testOneSlowKeyDoesNotHoldAnother() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let slow = VersionKey(model: "iris", version: "1")
        let fast = VersionKey(model: "iris", version: "2")
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder, resync: .milliseconds(50))
        await reconciler.start()
        await eventually("both routed") {
            recorder.latest?.models["iris"]?.versions.values.allSatisfy { $0.count == 1 } == true
        }

        await runtime.closeGate(for: slow)
        _ = try await registry.scale(slow, minReplicas: 2, maxReplicas: 2)
        _ = try await registry.scale(fast, minReplicas: 3, maxReplicas: 3)
        await reconciler.registryChanged()
        await eventually("the slow apply is waiting") { await runtime.blockedApplies(slow) == 1 }
        await eventually("the other version converges meanwhile") {
            try await registry.version(fast).status.readyReplicas == 3
        }
        await eventually("and is routed") { recorder.latest?.models["iris"]?.versions["2"]?.count == 3 }
        let blocked = await runtime.blockedApplies(slow)
        let slowReady = try await registry.version(slow).status.readyReplicas
        XCTAssertEqual(blocked, 1, "resyncs keep queueing the held key: it is never applied twice at once")
        XCTAssertEqual(slowReady, 1, "the slow version is still being applied")
        XCTAssertEqual(recorder.latest?.models["iris"]?.versions["1"]?.count, 1, "its routes stay as they were")

        await runtime.openGate(for: slow)
        await eventually("the slow version converges once released") {
            try await registry.version(slow).status.readyReplicas == 2
        }
        await eventually("and is routed") { recorder.latest?.models["iris"]?.versions["1"]?.count == 2 }
        let most = await runtime.maxInFlight
        XCTAssertEqual(most[slow], 1)
        XCTAssertEqual(most[fast], 1)
        await reconciler.stop()
    }

    /// The first resync publishes routes only once every key was reconciled, so a new leader
    /// never publishes a table missing the endpoints of a key not reconciled yet.
    func testFirstRoutesWaitForEveryKey() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let slow = VersionKey(model: "iris", version: "1")
        let fast = VersionKey(model: "iris", version: "2")
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        await runtime.closeGate(for: slow)
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder)
        await reconciler.start()
        await eventually("the other version is READY") { try await registry.version(fast).status.state == .ready }
        await eventually("the slow apply is waiting") { await runtime.blockedApplies(slow) == 1 }
        XCTAssertTrue(recorder.all.isEmpty, "no routes before every key was reconciled once")
        await runtime.openGate(for: slow)
        await eventually("routes with both versions' endpoints") {
            recorder.latest?.models["iris"]?.versions.values.allSatisfy { $0.count == 1 } == true
        }
        XCTAssertEqual(recorder.all.first?.models["iris"]?.versions.values.map(\.count), [1, 1],
                       "the first table already carries every endpoint")
        await reconciler.stop()
    }

    /// An invalid spec is a terminal error: FAILED with the runtime's message, no retry message.
    func testTerminalErrorMarksTheVersionFailedWithoutRetry() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let key = VersionKey(model: "iris", version: "1")
        _ = try await registry.register(testSpec("iris", "1"))
        let runtime = FakeRuntime()
        await runtime.rejectSpec(key)
        let reconciler = makeReconciler(registry, runtime, TableRecorder())
        let outcome = await reconciler.reconcile(key)
        guard case .error(let error) = outcome else { return XCTFail("expected an error, got \(outcome)") }
        XCTAssertEqual(error.code, .invalidSpec)
        XCTAssertTrue(error.isTerminal)
        let status = try await registry.version(key).status
        XCTAssertEqual(status.state, .failed)
        XCTAssertEqual(status.message, "iris/1 cannot run here")

        await runtime.injectFailures(VersionKey(model: "iris", version: "2"), count: 1)
        _ = try await registry.register(testSpec("iris", "2"))
        let retryable = await reconciler.reconcile(VersionKey(model: "iris", version: "2"))
        guard case .error(let runtimeError) = retryable else { return XCTFail("expected an error, got \(retryable)") }
        XCTAssertEqual(runtimeError.code, .runtimeUnavailable)
        XCTAssertFalse(runtimeError.isTerminal)
        let errors = await reconciler.errorCount
        XCTAssertEqual(errors, 1, "only the retryable failure counts as a reconciler error")
    }

    /// An Admin change queues only the keys it changed; a deletion queues the observed key.
    func testRegistryChangeQueuesOnlyTheChangedKeys() async throws {
        let registry = try Registry(path: directory.file("r.db"))
        let v1 = VersionKey(model: "iris", version: "1")
        let v2 = VersionKey(model: "iris", version: "2")
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        let runtime = FakeRuntime()
        let recorder = TableRecorder()
        let reconciler = makeReconciler(registry, runtime, recorder, resync: .seconds(60))
        await reconciler.start()
        await eventually("both READY") {
            try await registry.model("iris").versions.allSatisfy { $0.status.state == .ready }
        }
        let v1Applies = await runtime.applyCount(v1)

        _ = try await registry.scale(v2, minReplicas: 3, maxReplicas: 3)
        await reconciler.registryChanged()
        await eventually("v2 scaled") { try await registry.version(v2).status.readyReplicas == 3 }
        await eventually("v2 routed with 3 endpoints") { recorder.latest?.models["iris"]?.versions["2"]?.count == 3 }

        _ = try await registry.delete(model: "iris", version: "2")
        await reconciler.registryChanged()
        XCTAssertNil(recorder.latest?.models["iris"]?.versions["2"], "routes follow the deletion before the call returns")
        await eventually("v2 removed from the runtime") { await runtime.removed == [v2] }
        let v1AppliesAfter = await runtime.applyCount(v1)
        XCTAssertEqual(v1AppliesAfter, v1Applies, "v1 did not change: not reconciled again")
        let passes = await reconciler.passCount
        XCTAssertEqual(passes, 1, "no resync ran")
        await reconciler.stop()
    }

    func testLocalRuntimeEndToEndAndRebuildAfterRestart() async throws {
        let path = directory.file("r.db")
        let key = VersionKey(model: "echo", version: "1")
        do {
            let registry = try Registry(path: path)
            _ = try await registry.register(testSpec("echo", "1", replicas: 2))
            let runtime = LocalRuntime(stateDir: directory.file("state"), prober: TCPConnectProber(), gracePeriod: .seconds(2))
            let recorder = TableRecorder()
            let reconciler = makeReconciler(registry, runtime, recorder)
            await reconciler.start()
            await eventually("READY 2/2 in the registry") {
                let status = try await registry.version(key).status
                return status.state == .ready && status.readyReplicas == 2
            }
            await eventually("both endpoints routed") { recorder.latest?.models["echo"]?.versions["1"]?.count == 2 }
            let pids = await runtime.replicaPIDs(key)
            XCTAssertEqual(pids.count, 2)
            await reconciler.stop()
            for pid in pids { XCTAssertFalse(processExists(pid), "stop must stop replica \(pid)") }
            await registry.close()
        }
        // A new gateway on the same database brings the version back.
        let registry = try Registry(path: path)
        let runtime = LocalRuntime(stateDir: directory.file("state"), prober: TCPConnectProber(), gracePeriod: .seconds(2))
        let reconciler = makeReconciler(registry, runtime, TableRecorder())
        await reconciler.start()
        await eventually("READY again after restart") {
            let status = try await registry.version(key).status
            return status.state == .ready && status.readyReplicas == 2
        }
        await reconciler.stop()
    }
}

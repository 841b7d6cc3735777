import Foundation

/// A change an informer saw.
public struct InformerChange: Sendable {
    public enum Kind: Sendable { case upserted, deleted, relisted }
    public var kind: Kind
    public var resource: KubeResource
    /// The object (nil for `relisted`).
    public var object: JSON?
}

/// A list+watch cache of one resource type in one namespace (optionally by label selector),
/// like client-go's informer.
///
/// It lists, then watches from the list's resourceVersion with bookmarks; a watch the server
/// ends is resumed from the last resourceVersion seen (events or bookmarks), a broken watch
/// likewise after a short backoff, and a 410 Gone (resourceVersion too old) lists again,
/// replacing the cache and reporting what changed meanwhile. Reads are synchronous snapshots.
public final class Informer: @unchecked Sendable {
    public let resource: KubeResource
    public let labelSelector: String?
    /// E.g. `metadata.name=x`: one object, which RBAC with resourceNames allows to list and watch.
    public let fieldSelector: String?
    private let client: KubeClient
    private let onChange: @Sendable (InformerChange) -> Void
    private let log: @Sendable (String) -> Void

    private let lock = NSLock()
    private var objects: [String: JSON] = [:]
    private var synced = false
    private var task: Task<Void, Never>?
    /// Callers of `waitForSync`, by id, so a caller's timeout resumes only its own continuation.
    private var syncWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiterID: UInt64 = 0
    private var lastFailure: String?

    /// The last list or watch failure, cleared by a successful list.
    public var lastError: String? {
        lock.lock()
        defer { lock.unlock() }
        return lastFailure
    }

    private func noteFailure(_ text: String) {
        lock.lock()
        lastFailure = text
        lock.unlock()
        log(text)
    }

    public init(client: KubeClient, resource: KubeResource, labelSelector: String?, fieldSelector: String? = nil,
                log: @escaping @Sendable (String) -> Void, onChange: @escaping @Sendable (InformerChange) -> Void) {
        self.client = client
        self.resource = resource
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.log = log
        self.onChange = onChange
    }

    /// Starts listing and watching (idempotent).
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard task == nil else { return }
        task = Task { [weak self] in await self?.run() }
    }

    /// Stops watching; the cache keeps its last content.
    public func stop() {
        lock.lock()
        let task = self.task
        self.task = nil
        let waiters = syncWaiters
        syncWaiters = [:]
        lock.unlock()
        task?.cancel()
        for waiter in waiters.values { waiter.resume() }
    }

    /// True once the first list succeeded.
    public var hasSynced: Bool {
        lock.lock()
        defer { lock.unlock() }
        return synced
    }

    /// Waits until the first list succeeded or `timeout` passed; returns `hasSynced`.
    public func waitForSync(timeout: Duration) async -> Bool {
        if hasSynced { return true }
        let deadline = ContinuousClock.now + timeout
        let id = makeWaiterID()
        // Wakes this caller alone at its deadline. Should it fire before the continuation is
        // registered, the registration sees the deadline passed and resumes at once.
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            self?.releaseWaiter(id)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if synced || task == nil || ContinuousClock.now >= deadline {
                lock.unlock()
                continuation.resume()
            } else {
                syncWaiters[id] = continuation
                lock.unlock()
            }
        }
        timer.cancel()
        return hasSynced
    }

    private func makeWaiterID() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        nextWaiterID += 1
        return nextWaiterID
    }

    private func releaseWaiter(_ id: UInt64) {
        lock.lock()
        let waiter = syncWaiters.removeValue(forKey: id)
        lock.unlock()
        waiter?.resume()
    }

    /// Every cached object.
    public func list() -> [JSON] {
        lock.lock()
        defer { lock.unlock() }
        return Array(objects.values)
    }

    /// The cached object named `name`.
    public func get(_ name: String) -> JSON? {
        lock.lock()
        defer { lock.unlock() }
        return objects[name]
    }

    // MARK: - Loop

    private func run() async {
        var failures = 0
        while !Task.isCancelled {
            var resourceVersion: String
            do {
                resourceVersion = try await relist()
                failures = 0
            } catch {
                failures += 1
                noteFailure("cannot list \(resource): \(error)")
                await pause(failures)
                continue
            }
            // Watch until the resourceVersion is gone (or we are cancelled).
            watching: while !Task.isCancelled {
                do {
                    for try await event in client.watch(resource, labelSelector: labelSelector, fieldSelector: fieldSelector,
                                                              resourceVersion: resourceVersion) {
                        if let code = event.errorCode {
                            if code == 410 {
                                log("watch of \(resource): resourceVersion \(resourceVersion) is gone (410); listing again")
                            } else {
                                log("watch of \(resource) failed: \(event.object["message"]?.string ?? "status \(code)"); listing again")
                            }
                            break watching
                        }
                        let version = event.object.resourceVersion
                        if !version.isEmpty { resourceVersion = version }
                        apply(event)
                    }
                    failures = 0
                } catch let error as KubeAPIError where error.isGone {
                    log("watch of \(resource): resourceVersion \(resourceVersion) is gone (410); listing again")
                    break watching
                } catch {
                    if Task.isCancelled { return }
                    failures += 1
                    log("watch of \(resource) broke (\(error)); resuming from resourceVersion \(resourceVersion)")
                    await pause(failures)
                    if failures >= 4 { break watching }
                }
            }
        }
    }

    private func pause(_ failures: Int) async {
        let millis = min(5_000, 100 * (1 << min(failures, 6)))
        try? await Task.sleep(for: .milliseconds(millis))
    }

    /// Lists, replaces the cache, reports what changed; returns the list's resourceVersion.
    private func relist() async throws -> String {
        let (items, resourceVersion) = try await client.list(resource, labelSelector: labelSelector, fieldSelector: fieldSelector)
        var fresh: [String: JSON] = [:]
        for item in items { fresh[item.name] = item }
        let (old, wasSynced, waiters) = replace(with: fresh)
        for waiter in waiters.values { waiter.resume() }
        for (name, object) in fresh where old[name] != object {
            onChange(InformerChange(kind: .upserted, resource: resource, object: object))
        }
        for (name, object) in old where fresh[name] == nil {
            onChange(InformerChange(kind: .deleted, resource: resource, object: object))
        }
        if !wasSynced || old != fresh { onChange(InformerChange(kind: .relisted, resource: resource, object: nil)) }
        return resourceVersion
    }

    private func replace(with fresh: [String: JSON]) -> ([String: JSON], Bool, [UInt64: CheckedContinuation<Void, Never>]) {
        lock.lock()
        defer { lock.unlock() }
        let old = objects
        objects = fresh
        lastFailure = nil
        let wasSynced = synced
        synced = true
        let waiters = syncWaiters
        syncWaiters = [:]
        return (old, wasSynced, waiters)
    }

    private func apply(_ event: WatchEvent) {
        let name = event.object.name
        switch event.kind {
        case .added, .modified:
            lock.lock()
            objects[name] = event.object
            lock.unlock()
            onChange(InformerChange(kind: .upserted, resource: resource, object: event.object))
        case .deleted:
            lock.lock()
            objects[name] = nil
            lock.unlock()
            onChange(InformerChange(kind: .deleted, resource: resource, object: event.object))
        case .bookmark, .error:
            break
        }
    }
}

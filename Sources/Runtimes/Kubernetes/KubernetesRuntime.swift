import Foundation
import Reconciler
import Registry
import Routing

/// Settings of the Kubernetes runtime.
public struct KubernetesRuntimeOptions: Sendable {
    public var objects: KubeObjectOptions
    /// How long the first pass waits for the informers' initial lists before failing (the
    /// reconciler retries with backoff).
    public var syncTimeout: Duration = .seconds(10)
    public var log: @Sendable (String) -> Void

    public init(namespace: String, log: @escaping @Sendable (String) -> Void = standardErrorLog("kubernetes")) {
        self.objects = KubeObjectOptions(namespace: namespace)
        self.log = log
    }
}

/// Runs model versions on Kubernetes (`--runtime kubernetes`): per version a Deployment, a
/// headless Service, an HPA (when max > min) and a PDB (when min >= 2), by server-side apply.
///
/// Observation is informer-based: Deployments, Services, HPAs, PDBs, Pods and EndpointSlices
/// labelled `app.kubernetes.io/managed-by=byoc` are listed and watched, and any change wakes the
/// reconciler. `apply` re-applies an object whenever the desired object changed or the cached
/// one no longer matches what our last apply returned (someone edited or deleted it: drift is
/// put back), and deletes the HPA/PDB when they are no longer wanted; state comes from the
/// Deployment's status and conditions plus the pods' waiting reasons (ImagePullBackOff and
/// friends make the version FAILED), endpoints from the ready addresses of the Service's
/// EndpointSlices. `observedKeys` reports every version that has an object with our labels, so
/// the reconciler deletes whatever the registry does not have. `shutdown` only stops watching:
/// the workloads keep serving while the gateway restarts.
public actor KubernetesRuntime: Runtime {
    public nonisolated let client: KubeClient
    private let options: KubernetesRuntimeOptions
    private nonisolated let handler = HandlerBox()
    private nonisolated let informers: [KubeResource: Informer]
    private var started = false
    private var isShutDown = false
    private var applied: [ObjectKey: AppliedRecord] = [:]

    private struct ObjectKey: Hashable {
        var resource: KubeResource
        var name: String
    }

    private struct AppliedRecord {
        var desired: JSON
        var fingerprint: String
    }

    /// The kinds watched: what we create, plus pods (failure reasons) and EndpointSlices.
    static let watched: [KubeResource] = KubeObjects.kinds + [.pods, .endpointSlices]

    public init(client: KubeClient, options: KubernetesRuntimeOptions) {
        self.client = client
        self.options = options
        var informers: [KubeResource: Informer] = [:]
        let handler = self.handler
        for resource in Self.watched {
            informers[resource] = Informer(client: client, resource: resource, labelSelector: KubeNames.managedSelector,
                                           log: options.log) { _ in handler.fire() }
        }
        self.informers = informers
    }

    // MARK: - Runtime

    public func setChangeHandler(_ handler: @escaping @Sendable () -> Void) {
        self.handler.set(handler)
    }

    public func apply(_ spec: VersionSpec) async throws -> ObservedVersion {
        try await ensureSynced()
        let names = KubeNames(spec.key)
        if spec.image.isEmpty {
            throw RuntimeError(.invalidSpec, "the kubernetes runtime needs an image: this version only has a command")
        }
        if let existing = informer(.deployments).get(names.name), let owner = KubeNames.key(ofLabels: existing.labels),
           owner != spec.key {
            return ObservedVersion(state: .failed, readyReplicas: 0, desiredReplicas: spec.minReplicas,
                                   message: "the object name \(names.name) is already used by \(owner)")
        }
        var appliedDeployment: JSON?
        for (resource, desired) in KubeObjects.desired(spec, options.objects) {
            let informer = informer(resource)
            let key = ObjectKey(resource: resource, name: names.name)
            // Strays: objects with this version's labels under another name.
            for stray in informer.list() where stray.name != names.name && KubeNames.key(ofLabels: stray.labels) == spec.key {
                options.log("deleting \(resource.kind) \(stray.name): it carries the labels of \(spec.key) under another name")
                try await client.delete(resource, name: stray.name)
            }
            if let desired {
                let cached = informer.get(names.name)
                if let record = applied[key], record.desired == desired, let cached,
                   Self.fingerprint(cached) == record.fingerprint {
                    continue
                }
                if cached != nil, applied[key] != nil {
                    options.log("re-applying \(resource.kind) \(names.name) of \(spec.key)")
                }
                let stored = try await client.apply(resource, desired)
                applied[key] = AppliedRecord(desired: desired, fingerprint: Self.fingerprint(stored))
                if resource == .deployments { appliedDeployment = stored }
            } else {
                applied[key] = nil
                if let cached = informer.get(names.name), KubeNames.key(ofLabels: cached.labels) == spec.key {
                    try await client.delete(resource, name: names.name)
                }
            }
        }
        let deployment = informer(.deployments).get(names.name) ?? appliedDeployment
        let pods = informer(.pods).list().filter { KubeNames.key(ofLabels: $0.labels) == spec.key }
        return ObservedState.observe(spec, deployment: deployment, pods: pods, slices: informer(.endpointSlices).list())
    }

    public func remove(_ key: VersionKey) async throws {
        try await ensureSynced()
        let names = KubeNames(key)
        for resource in KubeObjects.kinds.reversed() {
            var doomed = Set(informer(resource).list().filter { KubeNames.key(ofLabels: $0.labels) == key }.map(\.name))
            if let cached = informer(resource).get(names.name), KubeNames.key(ofLabels: cached.labels) == key {
                doomed.insert(names.name)
            }
            for name in doomed.sorted() {
                options.log("deleting \(resource.kind) \(name) of \(key)")
                try await client.delete(resource, name: name)
                applied[ObjectKey(resource: resource, name: name)] = nil
            }
        }
    }

    public func observedKeys() async -> [VersionKey] {
        guard (try? await ensureSynced()) != nil else { return [] }
        var keys: Set<VersionKey> = []
        for resource in KubeObjects.kinds {
            for object in informer(resource).list() {
                if let key = KubeNames.key(ofLabels: object.labels) { keys.insert(key) }
            }
        }
        return Array(keys)
    }

    public func shutdown() async {
        isShutDown = true
        for informer in informers.values { informer.stop() }
        handler.set(nil)
    }

    // MARK: - Inspection

    /// Ready endpoints of `key`'s Service as last seen.
    /// The pods' logs: `PodLogs`.
    public nonisolated func logs(_ key: VersionKey, tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error> {
        PodLogs(client: client).lines(key, tail: tail, follow: follow)
    }

    public nonisolated func endpoints(of key: VersionKey) -> [Endpoint] {
        ObservedState.endpoints(serviceName: KubeNames(key).name, slices: informers[.endpointSlices]!.list())
    }

    // MARK: - Helpers

    private nonisolated func informer(_ resource: KubeResource) -> Informer { informers[resource]! }

    private func ensureSynced() async throws {
        guard !isShutDown else { throw RuntimeError("the kubernetes runtime is shut down") }
        if !started {
            started = true
            for informer in informers.values { informer.start() }
        }
        for resource in Self.watched {
            let informer = informer(resource)
            if await informer.waitForSync(timeout: options.syncTimeout) { continue }
            throw RuntimeError(informer.lastError ?? "cannot list \(resource) in namespace \(client.namespace) yet")
        }
    }

    /// What identifies the state of an object we applied: its generation (spec changes) and
    /// labels where the API keeps a generation, else its resourceVersion.
    static func fingerprint(_ object: JSON) -> String {
        if let generation = object[path: "metadata", "generation"]?.int, generation > 0 {
            let labels = object.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return "g\(generation)|\(labels)"
        }
        return "rv\(object.resourceVersion)"
    }
}

/// A change callback settable from outside the actor and callable from any thread.
final class HandlerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var handler: (@Sendable () -> Void)?

    func set(_ handler: (@Sendable () -> Void)?) {
        lock.lock()
        self.handler = handler
        lock.unlock()
    }

    func fire() {
        lock.lock()
        let handler = self.handler
        lock.unlock()
        handler?()
    }
}

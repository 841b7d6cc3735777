import Foundation
import GRPC
import Reconciler
import Registry
import Routing

/// Settings of the Kubernetes control plane of one gateway replica.
public struct KubeControlPlaneOptions: Sendable {
    /// The SQLite registry; opened only while this replica leads.
    public var databasePath: String
    public var election: LeaderElectionOptions
    /// The ConfigMap the leader writes the model/default-version table to.
    public var routesConfigMap = "byoc-gateway-routes"
    /// False = a pure router replica: never campaigns, forwards Admin calls to the leader.
    public var campaign = true
    public var reconciler = ReconcilerOptions()
    public var runtime: KubernetesRuntimeOptions
    /// Called with the registry each time this replica starts leading (after it serves Admin,
    /// before the first reconcile pass), e.g. to publish the token table.
    public var startedLeading: @Sendable (Registry) async -> Void = { _ in }
    /// Called once the reconciler runs while leading (e.g. to start the concurrency autoscaler
    /// that drives it), and before it stops when leadership ends.
    public var startedReconciling: @Sendable (Registry, Reconciler) async -> Void = { _, _ in }
    public var stoppingReconciling: @Sendable () async -> Void = {}
    public var log: @Sendable (String) -> Void

    public init(databasePath: String, identity: String, namespace: String,
                log: @escaping @Sendable (String) -> Void = standardErrorLog("kubernetes")) {
        self.databasePath = databasePath
        self.election = LeaderElectionOptions(identity: identity)
        self.runtime = KubernetesRuntimeOptions(namespace: namespace, log: log)
        self.log = log
    }
}

/// The control plane of a gateway replica on Kubernetes: leader election, the reconciler while
/// leading, and where the route table comes from.
///
/// Route tables (the decision, see deploy/ROUTING.md): every replica routes; the **leader**
/// routes with the reconciler's tables (registry + the runtime's EndpointSlice watch) and
/// writes the model -> default version -> Service table (no endpoints) to a ConfigMap
/// (`--routes-configmap`, server-side apply) whenever it changes, and again whenever the
/// watched ConfigMap is deleted or edited (a namespace wipe). **Followers** watch that
/// ConfigMap and the EndpointSlices of our Services themselves (`RouteFollower`), so they need
/// neither the SQLite file nor a live leader: when the leader dies they keep routing on the last
/// table, still following pods as Kubernetes updates the EndpointSlices, and a new router
/// started meanwhile gets the table from the API server. Router replicas scale horizontally;
/// the registry stays one SQLite file, opened only by the current leader.
///
/// Admin calls: the leader serves them from the registry; a follower forwards them to the
/// leader's address, which the leader publishes as the Lease annotation
/// `byoc.dev/admin-address`; with no known leader a follower answers UNAVAILABLE.
public final class KubeControlPlane: @unchecked Sendable {
    public static let adminAddressAnnotation = "byoc.dev/admin-address"

    public let client: KubeClient
    public let options: KubeControlPlaneOptions
    private let makeAdmin: MakeAdmin
    private let publish: @Sendable (RouteTable) -> Void
    private var follower: RouteFollower!
    private var elector: LeaderElector?
    private var writer: OwnedObjectWriter<[String: ModelRoutes]>!

    private let lock = NSLock()
    private var leading = false
    private var admin: AdminHandler?
    private var adminStreams: AdminStreamHandler?
    private var registry: Registry?
    private var reconciler: Reconciler?
    private var forwardClient: (address: String, client: GRPCClient)?
    private var ownAddress: String?

    /// Builds the Admin API (unary and server-streaming handlers) over the registry and the
    /// runtime; the closure it receives publishes routes from the registry and wakes the
    /// reconciler (await it after every change).
    public typealias MakeAdmin = @Sendable (Registry, KubernetesRuntime, @escaping @Sendable () async -> Void)
        -> (unary: AdminHandler, streaming: AdminStreamHandler)

    /// - Parameters:
    ///   - makeAdmin: builds the Admin API while this replica leads.
    ///   - publish: hands a route table to the data plane.
    public init(client: KubeClient, options: KubeControlPlaneOptions,
                makeAdmin: @escaping MakeAdmin,
                publish: @escaping @Sendable (RouteTable) -> Void) {
        self.client = client
        self.options = options
        self.makeAdmin = makeAdmin
        self.publish = publish
        follower = RouteFollower(client: client, configMapName: options.routesConfigMap, log: options.log,
                                 configMapChanged: { [weak self] in self?.routesConfigMapChanged() }) { [weak self] routes in
            self?.followerPublished(routes)
        }
        let name = options.routesConfigMap, namespace = client.namespace
        writer = OwnedObjectWriter(
            client: client, resource: .configMaps, what: "the routes ConfigMap \(name)", log: options.log,
            isLeader: { [weak self] in self?.isLeader ?? false },
            observed: { [weak self] in self.flatMap { $0.follower.isSynced ? .some($0.follower.observedConfigMap) : nil } },
            render: { RouteConfigMap.configMap(name: name, namespace: namespace, routes: $0) },
            holds: { seen, routes in
                seen["data"] == RouteConfigMap.configMap(name: name, namespace: namespace, routes: routes)["data"]
                    && seen[path: "metadata", "labels"]?[RouteConfigMap.roleLabel] == .string(RouteConfigMap.roleValue)
            })
    }

    /// True while this replica leads.
    public var isLeader: Bool {
        lock.lock()
        defer { lock.unlock() }
        return leading
    }

    /// Starts following routes and (unless a pure router) campaigning. `adminAddress` is where
    /// followers forward Admin calls while this replica leads.
    public func start(adminAddress: String?) {
        lock.lock()
        ownAddress = adminAddress
        lock.unlock()
        follower.start()
        guard options.campaign else { return }
        var election = options.election
        if let adminAddress { election.annotations[Self.adminAddressAnnotation] = adminAddress }
        let elector = LeaderElector(client: client, options: election,
                                    onStartedLeading: { [weak self] in await self?.startedLeading() ?? false },
                                    onStoppedLeading: { [weak self] in await self?.stoppedLeading() })
        self.elector = elector
        elector.start()
    }

    /// Steps down (releasing the Lease), stops the reconciler (workloads keep running) and the watches.
    public func stop() async {
        if let elector { await elector.stop() }
        await stoppedLeading()
        follower.stop()
        client.close()
    }

    /// The Admin handler for every worker: served here while leading, else forwarded.
    public var adminHandler: AdminHandler {
        { [weak self] method, request in
            guard let self else { throw GRPCStatus(.unavailable, "the gateway is stopping") }
            return try await self.handleAdmin(method, request)
        }
    }

    /// The server-streaming Admin handler (GetLogs): served while leading (the runtime reading
    /// the pods' logs runs there), else forwarded to the leader like the unary calls.
    public var adminStreamHandler: AdminStreamHandler {
        { [weak self] method, request in
            guard let self else { throw GRPCStatus(.unavailable, "the gateway is stopping") }
            if let local = try await self.leaderLocal(\.adminStreams) { return try await local(method, request) }
            let leader = try await self.leaderAddress()
            let metadata = AdminCallContext.authorization.map { [("authorization", $0)] } ?? []
            let forwarded = self.forwarder(for: leader.endpoint)
                .serverStreaming(path: "/byoc.v1.Admin/\(method)", request: request, metadata: metadata)
            return Self.namingLeader(forwarded, holder: leader.holder, address: leader.address)
        }
    }

    /// `stream`, with an UNAVAILABLE from reaching the leader saying which leader.
    private static func namingLeader(_ stream: AsyncThrowingStream<[UInt8], Error>, holder: String, address: String)
        -> AsyncThrowingStream<[UInt8], Error> {
        let (out, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: Error.self)
        let task = Task {
            do {
                for try await message in stream { continuation.yield(message) }
                continuation.finish()
            } catch let status as GRPCStatus where status.code == .unavailable {
                continuation.finish(throwing: GRPCStatus(.unavailable, "cannot reach the leader \(holder) at \(address): \(status.message)"))
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return out
    }

    // MARK: - Leadership

    private func startedLeading() async -> Bool {
        let registry: Registry
        do { registry = try Registry(path: options.databasePath) } catch {
            options.log("cannot lead: cannot open the registry \(options.databasePath): \(error)")
            return false
        }
        let runtime = KubernetesRuntime(client: client, options: options.runtime)
        let reconciler = Reconciler(registry: registry, runtime: runtime, options: options.reconciler) { [weak self] table in
            self?.leaderPublished(table)
        }
        let admin = makeAdmin(registry, runtime) { await reconciler.registryChanged() }
        lock.withLock {
            leading = true
            self.registry = registry
            self.reconciler = reconciler
            self.admin = admin.unary
            self.adminStreams = admin.streaming
        }
        options.log("leading: registry \(options.databasePath), reconciling namespace \(client.namespace)")
        await options.startedLeading(registry)
        // The first pass applies the whole registry (rebuilds the namespace after a crash).
        await reconciler.start()
        await options.startedReconciling(registry, reconciler)
        return true
    }

    private func stoppedLeading() async {
        let (wasLeading, reconciler, registry) = lock.withLock {
            let taken = (leading, self.reconciler, self.registry)
            leading = false
            self.reconciler = nil
            self.registry = nil
            admin = nil
            adminStreams = nil
            return taken
        }
        if wasLeading { await options.stoppingReconciling() }
        await reconciler?.stop()
        await registry?.close()
        if wasLeading, let routes = follower.current {
            publish(RouteTable(generation: 0, models: routes))
        }
    }

    private func leaderPublished(_ table: RouteTable) {
        guard isLeader else { return }
        publish(table)
        // Endpoints are not in the ConfigMap: every replica watches EndpointSlices itself.
        let routes = table.models.mapValues { route in
            ModelRoutes(defaultVersion: route.defaultVersion, versions: route.versions.mapValues { _ in [] }, traffic: route.traffic,
                        wake: route.wake)
        }
        Task { await writer.submit(routes) }
    }

    /// The routes ConfigMap changed or went away (a namespace wipe, an edit): the leader puts
    /// back the table it wrote.
    private func routesConfigMapChanged() {
        guard isLeader else { return }
        Task { await writer.ensureWritten() }
    }

    private func followerPublished(_ routes: [String: ModelRoutes]) {
        guard !isLeader else { return }
        publish(RouteTable(generation: 0, models: routes))
    }

    // MARK: - Admin

    private func handleAdmin(_ method: String, _ request: [UInt8]) async throws -> [UInt8] {
        if let local = try await leaderLocal(\.admin) { return try await local(method, request) }
        let leader = try await leaderAddress()
        let client = forwarder(for: leader.endpoint)
        do {
            // The caller's own credentials: the leader checks them again.
            let metadata = AdminCallContext.authorization.map { [("authorization", $0)] } ?? []
            return try await client.unary(path: "/byoc.v1.Admin/\(method)", request: request, metadata: metadata,
                                          timeoutMs: 30_000).message
        } catch let status as GRPCStatus where status.code == .unavailable {
            throw GRPCStatus(.unavailable, "cannot reach the leader \(leader.holder) at \(leader.address): \(status.message)")
        }
    }

    /// This replica's own handler while it leads (waiting while it becomes the leader, rather
    /// than forwarding to itself); nil on a follower.
    private func leaderLocal<Handler>(_ handler: KeyPath<KubeControlPlane, Handler?>) async throws -> Handler? {
        if let local = lock.withLock({ self[keyPath: handler] }) { return local }
        if elector?.isLeader == true {
            for _ in 0..<100 where lock.withLock({ self[keyPath: handler] }) == nil && elector?.isLeader == true {
                try await Task.sleep(for: .milliseconds(50))
            }
            return lock.withLock { self[keyPath: handler] }
        }
        return nil
    }

    /// The leader's identity and Admin address, from the Lease; UNAVAILABLE when none is known.
    private func leaderAddress() async throws -> (holder: String, address: String, endpoint: Endpoint) {
        var lease = elector?.lastLease
        if lease == nil { lease = try? await client.get(.leases, name: options.election.leaseName) }
        let holder = lease.flatMap { $0[path: "spec", "holderIdentity"]?.string } ?? ""
        guard !holder.isEmpty, holder != options.election.identity,
              let address = lease.flatMap({ $0[path: "metadata", "annotations", Self.adminAddressAnnotation]?.string }),
              address != lock.withLock({ ownAddress }),
              let endpoint = Endpoint(parsing: address) else {
            throw GRPCStatus(.unavailable, "this gateway replica is not the leader and no leader is known yet; retry shortly")
        }
        return (holder, address, endpoint)
    }

    private func forwarder(for endpoint: Endpoint) -> GRPCClient {
        lock.lock()
        defer { lock.unlock() }
        if let existing = forwardClient, existing.address == endpoint.description { return existing.client }
        forwardClient?.client.close()
        let made = GRPCClient(host: endpoint.host, port: endpoint.port)
        forwardClient = (endpoint.description, made)
        return made
    }
}

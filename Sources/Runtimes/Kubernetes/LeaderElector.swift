import Foundation

/// Settings of the Lease-based leader election.
public struct LeaderElectionOptions: Sendable {
    /// The coordination.k8s.io/v1 Lease (`--lease-name`).
    public var leaseName = "byoc-gateway-leader"
    /// This replica's holderIdentity (pod name, or hostname-pid).
    public var identity: String
    public var leaseDuration: Duration = .seconds(15)
    /// How often the leader renews.
    public var renewInterval: Duration = .seconds(5)
    /// How often a follower looks at the Lease.
    public var retryInterval: Duration = .seconds(2)
    /// The leader gives up leading when it could not renew for this long (< leaseDuration, so
    /// it stops before anyone else may start).
    public var renewDeadline: Duration = .seconds(10)
    /// Annotations the holder writes on the Lease (e.g. its Admin address).
    public var annotations: [String: String] = [:]
    public var log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data("leader-election: \(line)\n".utf8)) }

    public init(identity: String) {
        self.identity = identity
    }
}

/// What a Lease says: the parts the election compares.
public struct LeaseRecord: Sendable, Equatable {
    public var holderIdentity: String
    public var leaseDurationSeconds: Int64
    public var renewTime: String
    public var leaseTransitions: Int64
}

extension LeaseRecord {
    /// The record of a Lease object (in an extension, so the memberwise init stays).
    public init(lease: JSON) {
        holderIdentity = lease[path: "spec", "holderIdentity"]?.string ?? ""
        leaseDurationSeconds = lease[path: "spec", "leaseDurationSeconds"]?.int ?? 15
        renewTime = lease[path: "spec", "renewTime"]?.string ?? ""
        leaseTransitions = lease[path: "spec", "leaseTransitions"]?.int ?? 0
    }
}

/// The election's decision for one look at the Lease (pure, so it is tested directly).
public enum LeaseDecision: Equatable, Sendable {
    /// We hold it: renew.
    case renew
    /// Someone else holds it and it has not expired: follow them.
    case follow(holder: String)
    /// Nobody holds it, or the holder stopped renewing: take it over.
    case takeOver

    /// Expiry is judged on our own clock, like client-go: a lease expires when its record has not
    /// changed for `leaseDurationSeconds` since we first saw it that way (no clock-skew issues).
    public static func decide(record: LeaseRecord, identity: String, unchangedFor: Duration) -> LeaseDecision {
        if record.holderIdentity == identity { return .renew }
        if record.holderIdentity.isEmpty { return .takeOver }
        if unchangedFor >= .seconds(record.leaseDurationSeconds) { return .takeOver }
        return .follow(holder: record.holderIdentity)
    }
}

/// Elects one leader among the gateway replicas with a coordination.k8s.io/v1 Lease.
///
/// Each replica looks at the Lease every `retryInterval`; the holder renews it every
/// `renewInterval` (PUT with the resourceVersion it read: optimistic concurrency, a 409 means
/// someone else wrote first). A replica takes the Lease over when nobody holds it or its record
/// has not changed for `leaseDurationSeconds`, counting `leaseTransitions`. A leader that cannot
/// renew within `renewDeadline` steps down before the Lease can expire for the others; one
/// whose `onStartedLeading` reports it cannot lead releases the Lease and waits. On a
/// graceful stop the leader releases the Lease (empty holder) so a follower takes over at once.
///
/// The elector talks to the API through its own client: one attempt per request and a request
/// timeout no longer than `renewInterval` (the shared client's retries could otherwise hold a
/// renew round far past the deadline), and a leader's round is cut off when `renewDeadline`
/// since its last renewal is reached.
public final class LeaderElector: @unchecked Sendable {
    public let options: LeaderElectionOptions
    /// The elector's own client (`electionClientOptions`), closed on `stop`.
    private let client: KubeClient
    private let onStartedLeading: @Sendable () async -> Bool
    private let onStoppedLeading: @Sendable () async -> Void

    private let lock = NSLock()
    private var leading = false
    private var holder: JSON?
    private var task: Task<Void, Never>?
    // Only touched by the loop task.
    private var observed: LeaseRecord?
    private var observedAt = ContinuousClock.now
    private var lastRenew: ContinuousClock.Instant?

    public init(client: KubeClient, options: LeaderElectionOptions,
                onStartedLeading: @escaping @Sendable () async -> Bool,
                onStoppedLeading: @escaping @Sendable () async -> Void) {
        self.client = KubeClient(config: client.config,
                                 options: Self.electionClientOptions(client.options, renewInterval: options.renewInterval),
                                 loop: client.loop)
        self.options = options
        self.onStartedLeading = onStartedLeading
        self.onStoppedLeading = onStoppedLeading
    }

    /// True while this replica holds the Lease.
    public var isLeader: Bool {
        lock.lock()
        defer { lock.unlock() }
        return leading
    }

    /// The Lease as last read (holder identity and annotations).
    public var lastLease: JSON? {
        lock.lock()
        defer { lock.unlock() }
        return holder
    }

    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard task == nil else { return }
        task = Task { [weak self] in await self?.run() }
    }

    /// Stops campaigning; a leader steps down (callback) and releases the Lease.
    public func stop() async {
        let task = takeTask()
        task?.cancel()
        await task?.value
        if setLeading(false) {
            await onStoppedLeading()
            await release()
        }
        client.close()
    }

    /// The elector's client options: `base` with a single attempt per request and a request
    /// timeout of at most `renewInterval`.
    static func electionClientOptions(_ base: KubeClientOptions, renewInterval: Duration) -> KubeClientOptions {
        var options = base
        options.maxAttempts = 1
        options.requestTimeout = min(base.requestTimeout, renewInterval)
        return options
    }

    private func takeTask() -> Task<Void, Never>? {
        lock.lock()
        defer { lock.unlock() }
        let task = self.task
        self.task = nil
        return task
    }

    // MARK: - Loop

    private func run() async {
        while !Task.isCancelled {
            let held: Bool
            // A leader's round must end by the renew deadline; a follower's is bounded by the
            // request timeout alone.
            let deadline = isLeader ? lastRenew.map { $0 + options.renewDeadline } : nil
            do {
                held = try await tryAcquireOrRenew(until: deadline)
            } catch {
                options.log("cannot read or renew Lease \(options.leaseName): \(error)")
                held = false
            }
            let now = ContinuousClock.now
            if held {
                lastRenew = now
                if setLeading(true) {
                    if await onStartedLeading() {
                        options.log("\(options.identity) became the leader (Lease \(options.leaseName))")
                    } else {
                        // Cannot lead (e.g. the registry does not open here): let someone else.
                        _ = setLeading(false)
                        await onStoppedLeading()
                        await release()
                        try? await Task.sleep(for: options.leaseDuration)
                        continue
                    }
                }
            } else if isLeader, lastRenew.map({ now - $0 >= options.renewDeadline }) ?? true {
                if setLeading(false) {
                    options.log("\(options.identity) lost the Lease \(options.leaseName); stepping down")
                    await onStoppedLeading()
                }
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: isLeader ? options.renewInterval : options.retryInterval)
        }
    }

    /// Returns true when the flag changed.
    private func setLeading(_ value: Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard leading != value else { return false }
        leading = value
        return true
    }

    private func remember(_ lease: JSON?) {
        lock.lock()
        holder = lease
        lock.unlock()
    }

    private func tryAcquireOrRenew(until deadline: ContinuousClock.Instant?) async throws -> Bool {
        // Each request ends by the renew deadline (the client's timeout is cut to it).
        if let deadline, ContinuousClock.now >= deadline { throw RenewDeadlineExceeded() }
        guard let lease = try await client.get(.leases, name: options.leaseName, deadline: deadline) else {
            let object = leaseObject(base: nil, transitions: 0, acquire: true)
            return try await write { try await client.create(.leases, object, deadline: deadline) }
        }
        remember(lease)
        let record = LeaseRecord(lease: lease)
        observe(record)
        let decision = LeaseDecision.decide(record: record, identity: options.identity,
                                            unchangedFor: ContinuousClock.now - observedAt)
        let object: JSON
        switch decision {
        case .follow:
            return false
        case .renew:
            object = leaseObject(base: lease, transitions: record.leaseTransitions, acquire: false)
        case .takeOver:
            options.log("taking over Lease \(options.leaseName) from \(record.holderIdentity.isEmpty ? "nobody" : record.holderIdentity)")
            object = leaseObject(base: lease, transitions: record.leaseTransitions + 1, acquire: true)
        }
        return try await write { try await client.update(.leases, object, deadline: deadline) }
    }

    /// Creates or updates the Lease with `request`: true when it was written (this replica
    /// holds it now), false when another replica wrote it first (a conflict).
    private func write(_ request: () async throws -> JSON) async throws -> Bool {
        do {
            let written = try await request()
            remember(written)
            observe(LeaseRecord(lease: written))
            return true
        } catch let error as KubeAPIError where error.isConflict {
            return false
        }
    }

    private func observe(_ record: LeaseRecord) {
        if record != observed {
            observed = record
            observedAt = .now
        }
    }

    private func leaseObject(base: JSON?, transitions: Int64, acquire: Bool) -> JSON {
        let now = Self.microTime(Date())
        var metadata: JSON = base?["metadata"] ?? ["name": .string(options.leaseName), "namespace": .string(client.namespace)]
        var annotations = metadata["annotations"]?.object ?? [:]
        for (name, value) in options.annotations { annotations[name] = .string(value) }
        metadata["annotations"] = .object(annotations)
        var labels = metadata["labels"]?.object ?? [:]
        labels["app.kubernetes.io/name"] = "byoc-gateway"
        metadata["labels"] = .object(labels)
        var spec: JSON = [
            "holderIdentity": .string(options.identity),
            "leaseDurationSeconds": .int(options.leaseDuration.components.seconds),
            "renewTime": .string(now),
            "leaseTransitions": .int(transitions),
        ]
        spec["acquireTime"] = acquire ? .string(now) : (base?[path: "spec", "acquireTime"] ?? .string(now))
        return ["apiVersion": .string(KubeResource.leases.apiVersion), "kind": .string(KubeResource.leases.kind),
                "metadata": metadata, "spec": spec]
    }

    /// Gives the Lease up (empty holder) so another replica need not wait for it to expire.
    private func release() async {
        guard let lease = try? await client.get(.leases, name: options.leaseName),
              LeaseRecord(lease: lease).holderIdentity == options.identity else { return }
        var object = lease
        object["spec"]?["holderIdentity"] = ""
        object["spec"]?["renewTime"] = .string(Self.microTime(Date()))
        if (try? await client.update(.leases, object)) != nil {
            options.log("released Lease \(options.leaseName)")
        }
    }

    /// RFC 3339 with microseconds, UTC (the API's MicroTime).
    static func microTime(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let whole = floor(seconds)
        let micros = Int((seconds - whole) * 1_000_000)
        var tm = tm()
        var time = time_t(whole)
        gmtime_r(&time, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), micros)
    }
}

/// A leader's renew round did not finish by the renew deadline.
struct RenewDeadlineExceeded: Error, CustomStringConvertible {
    var description: String { "the renew deadline passed" }
}

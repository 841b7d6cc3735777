/// Keeps one object the leader owns (the routes ConfigMap, the token Secret) applied while this
/// replica leads: the latest value wins, failures are retried with backoff, and, level-
/// triggered, a value is skipped only when it is the one written last AND the watched object
/// still holds it; `ensureWritten` (on every change of the watched object) re-applies the last
/// value when the object was deleted or edited behind the leader's back.
actor OwnedObjectWriter<Value: Equatable & Sendable> {
    private let client: KubeClient
    private let resource: KubeResource
    /// What the object is, for log lines ("the routes ConfigMap byoc-gateway-routes").
    private let what: String
    private let log: @Sendable (String) -> Void
    private let isLeader: @Sendable () -> Bool
    /// The object as watched: nil = unknown (the watch has not synced), .some(nil) = missing.
    private let observed: @Sendable () -> JSON??
    /// The object to apply for a value.
    private let render: @Sendable (Value) -> JSON
    /// True when a watched object holds a value.
    private let holdsValue: @Sendable (JSON, Value) -> Bool
    private var pending: Value?
    private var written: Value?
    private var running = false
    /// A check arrived while a write was in flight: check again after it.
    private var recheck = false

    init(client: KubeClient, resource: KubeResource, what: String, log: @escaping @Sendable (String) -> Void,
         isLeader: @escaping @Sendable () -> Bool, observed: @escaping @Sendable () -> JSON??,
         render: @escaping @Sendable (Value) -> JSON, holds: @escaping @Sendable (JSON, Value) -> Bool) {
        self.client = client
        self.resource = resource
        self.what = what
        self.log = log
        self.isLeader = isLeader
        self.observed = observed
        self.render = render
        self.holdsValue = holds
    }

    /// Writes `value` (soon; the newest submitted wins).
    func submit(_ value: Value) {
        pending = value
        startDraining()
    }

    /// Re-applies the last written value when the watched object no longer holds it.
    func ensureWritten() {
        guard !running else {
            recheck = true
            return
        }
        guard let written, isLeader(), !holds(written) else { return }
        log("\(what) is missing or changed; writing it again")
        pending = written
        self.written = nil
        startDraining()
    }

    private func startDraining() {
        guard !running else { return }
        running = true
        Task { await drain() }
    }

    /// True when the watched object holds `value` (unknown counts as holding: the watch will report).
    private func holds(_ value: Value) -> Bool {
        guard let seen = observed() else { return true }
        guard let seen else { return false }
        return holdsValue(seen, value)
    }

    private func drain() async {
        defer {
            running = false
            if recheck {
                recheck = false
                ensureWritten()
            }
        }
        var failures = 0
        while let next = pending, isLeader() {
            pending = nil
            if next == written && holds(next) { continue }
            do {
                try await client.apply(resource, render(next))
                written = next
                failures = 0
            } catch {
                failures += 1
                log("cannot write \(what): \(error)")
                if pending == nil { pending = next }
                try? await Task.sleep(for: .milliseconds(min(5_000, 250 << min(failures, 5))))
            }
        }
    }
}

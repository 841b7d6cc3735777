import Foundation
import Reconciler
import Registry
import Routing

/// One replica slot of a local version and where its process is in its life.
struct ReplicaSlot {
    enum Phase {
        /// A spawn is in flight; `launch` identifies it so a stale completion is recognised.
        case launching(launch: Int)
        /// Running, not yet SERVING.
        case starting(pid: pid_t, port: Int)
        /// Running and SERVING.
        case ready(pid: pid_t, port: Int)
        /// Exited; restarts at `until`.
        case waiting(until: ContinuousClock.Instant)
    }

    var index: Int
    var phase: Phase
    /// Exits since the last long-enough run; drives the restart backoff.
    var consecutiveExits = 0
    var startedAt: ContinuousClock.Instant?
    var probing = false
    var lastProbe: ContinuousClock.Instant?
    /// Set for replicas run through docker/podman.
    var containerName: String?

    /// The running process, if any.
    var pid: pid_t? {
        switch phase {
        case .starting(let pid, _), .ready(let pid, _): return pid
        case .launching, .waiting: return nil
        }
    }

    var isReady: Bool {
        if case .ready = phase { return true }
        return false
    }
}

/// The local runtime's bookkeeping for one version: its replica slots and the state rules.
///
/// - desired replicas = the gateway's concurrency autoscaler's count when it scales the
///   version, 0 when the version is IDLE (scaled to zero), else `minReplicas` (at least 1);
///   CPU autoscaling is the Kubernetes HPA's job.
/// - IDLE when 0 replicas are desired; READY when ready replicas >= desired; DEPLOYING while
///   fewer are ready; FAILED when the
///   version cannot run (no container tool for an image-only version) or when replicas exited
///   before becoming ready `failAfterEarlyExits` times in a row (restarts continue; the first
///   replica that becomes ready clears it).
final class LocalVersion {
    var spec: VersionSpec
    var slots: [Int: ReplicaSlot] = [:]
    /// Replica exits without any replica becoming ready in between.
    var earlyExitStreak = 0
    var failed = false
    /// The latest problem, shown while the version is not READY.
    var note = ""
    /// Set when the version cannot run at all.
    var permanentFailure: String?

    init(spec: VersionSpec) { self.spec = spec }

    var desiredReplicas: Int { spec.autoscaledReplicas == 0 ? 0 : max(1, Int(spec.replicasToRun)) }

    var readyCount: Int { slots.values.filter(\.isReady).count }

    /// True when `other` needs different processes (not just a different replica count).
    func needsRelaunch(for other: VersionSpec) -> Bool {
        spec.image != other.image || spec.command != other.command || spec.port != other.port || spec.env != other.env
    }

    /// Records that replica `index` exited; returns the restart delay. `lastLine`, the last
    /// line the replica wrote (see `LogTail`), ends the note: why it exited, where people look.
    func replicaExited(_ index: Int, status: ExitStatus, wasReady: Bool, ranFor: Duration,
                       backoff: Backoff, resetAfter: Duration, failAfter: Int, lastLine: String? = nil) -> Duration {
        guard var slot = slots[index] else { return backoff.initial }
        slot.consecutiveExits = ranFor >= resetAfter ? 1 : slot.consecutiveExits + 1
        let delay = backoff.delay(afterFailures: slot.consecutiveExits)
        slots[index] = slot
        if !wasReady { earlyExitStreak += 1 }
        if earlyExitStreak >= failAfter {
            failed = true
            note = "replica \(index) \(status) before becoming ready (\(earlyExitStreak) times in a row); restarting in \(delay.shortDescription)"
        } else {
            note = "replica \(index) \(status); restarting in \(delay.shortDescription)"
        }
        if let lastLine, !lastLine.isEmpty { note += "; last output: \(lastLine)" }
        return delay
    }

    /// The version runs no replica now (IDLE): the next wake starts without past failures.
    func wentIdle() {
        earlyExitStreak = 0
        failed = false
        note = ""
    }

    /// Records that a replica answered SERVING.
    func replicaBecameReady() {
        earlyExitStreak = 0
        failed = false
        if readyCount >= desiredReplicas { note = "" }
    }

    /// Records that a replica could not be started at all (spawn failed).
    func launchFailed(_ index: Int, reason: String, backoff: Backoff) -> Duration {
        guard var slot = slots[index] else { return backoff.initial }
        slot.consecutiveExits += 1
        let delay = backoff.delay(afterFailures: slot.consecutiveExits)
        slots[index] = slot
        earlyExitStreak += 1
        failed = true
        note = "replica \(index) cannot start: \(reason); retrying in \(delay.shortDescription)"
        return delay
    }

    /// What the reconciler sees.
    func observed() -> ObservedVersion {
        let desired = Int32(desiredReplicas)
        if let permanentFailure {
            return ObservedVersion(state: .failed, readyReplicas: 0, desiredReplicas: desired, message: permanentFailure)
        }
        if desired == 0 {
            return ObservedVersion(state: .idle, readyReplicas: 0, desiredReplicas: 0,
                                   message: "scaled to zero; the next call wakes it")
        }
        var endpoints: [Endpoint] = []
        for slot in slots.values.sorted(by: { $0.index < $1.index }) {
            if case .ready(_, let port) = slot.phase { endpoints.append(Endpoint(host: "127.0.0.1", port: port)) }
        }
        let ready = Int32(endpoints.count)
        let state: DeploymentState
        let message: String
        if failed {
            state = .failed
            message = note
        } else if ready >= desired {
            state = .ready
            message = ""
        } else {
            state = .deploying
            message = note.isEmpty ? "\(ready)/\(desired) replicas ready" : note
        }
        return ObservedVersion(state: state, readyReplicas: ready, desiredReplicas: desired, message: message,
                               endpoints: endpoints)
    }
}

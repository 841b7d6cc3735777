import Foundation
import Reconciler
import Registry

/// A version's replica logs on Kubernetes, from the pods' log API
/// (`GET /api/v1/namespaces/NS/pods/POD/log?tailLines=N&timestamps=true[&follow=true]`): every
/// pod of the version at the time of the call, the pod name as the replica id. A container
/// waiting to restart after a crash has no log of its own yet: its previous run's log is read
/// (`previous=true`), which is where the crash's cause is.
struct PodLogs: Sendable {
    let client: KubeClient

    /// The stream `Runtime.logs` returns.
    func lines(_ key: VersionKey, tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ReplicaLogLine.self, throwing: Error.self)
        let task = Task {
            do {
                let pods = try await client.list(.pods, labelSelector: KubeNames(key).labelSelector).items
                    .sorted { $0.name < $1.name }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for pod in pods {
                        group.addTask { try await read(pod, tail: tail, follow: follow, into: continuation) }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: RuntimeError("cannot read the pods' logs of \(key): \(error)"))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Streams one pod's log into `continuation`; a pod whose container has not started (or
    /// that went away) contributes nothing.
    private func read(_ pod: JSON, tail: Int, follow: Bool,
                      into continuation: AsyncThrowingStream<ReplicaLogLine, Error>.Continuation) async throws {
        let name = pod.name
        var query: [(String, String)] = [("tailLines", String(tail)), ("timestamps", "true")]
        if Self.waitingAfterCrash(pod) {
            query.append(("previous", "true"))
        } else if follow {
            query.append(("follow", "true"))
        }
        let info = KubeRequestInfo(verb: "get", resource: .pods, namespace: client.namespace, name: "\(name)/log")
        let path = KubeResource.pods.objectPath(namespace: client.namespace, name: name) + "/log"
        do {
            for try await text in client.lines(path: path, query: query, info: info) {
                let (time, line) = Self.split(text)
                continuation.yield(ReplicaLogLine(replica: name, line: line, timeUnixMs: time))
            }
        } catch let error as KubeAPIError where error.status == 400 || error.status == 404 {
            // Waiting to start (ContainerCreating, an image pull) or deleted meanwhile.
            return
        }
    }

    /// True when the pod's container is waiting and has a terminated previous run.
    static func waitingAfterCrash(_ pod: JSON) -> Bool {
        guard let status = pod[path: "status", "containerStatuses"]?.array?.first else { return false }
        return status[path: "state", "waiting"] != nil && status[path: "lastState", "terminated"] != nil
    }

    /// Splits `2026-01-02T03:04:05.123456789Z text` (timestamps=true) into ms since 1970 and text.
    static func split(_ text: String) -> (Int64, String) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard let space = text.firstIndex(of: " ") else { return (now, text) }
        let stamp = String(text[..<space])
        let rest = String(text[text.index(after: space)...])
        guard let time = rfc3339Millis(stamp) else { return (now, text) }
        return (time, rest)
    }

    /// Milliseconds of an RFC 3339 UTC time with optional fraction (nil when it is not one).
    static func rfc3339Millis(_ stamp: String) -> Int64? {
        guard stamp.hasSuffix("Z"), stamp.count >= 20 else { return nil }
        let whole = String(stamp.prefix(19)) + "Z"
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: whole) else { return nil }
        var millis = Int64(date.timeIntervalSince1970) * 1000
        let fraction = stamp.dropFirst(19).dropLast()
        if fraction.hasPrefix("."), let digits = Int64(String(fraction.dropFirst().prefix(3)).padding(toLength: 3, withPad: "0", startingAt: 0)) {
            millis += digits
        }
        return millis
    }
}

import Foundation
import Reconciler
import Registry
import Routing

/// Turns cached Deployment, Pod and EndpointSlice objects into a version's observed state.
public enum ObservedState {
    /// Container waiting reasons that mean the pods will not become ready by themselves.
    public static let failingReasons: Set<String> = [
        "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff",
        "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
    ]

    /// Ready `address:port` pairs of the Service `serviceName`, from its EndpointSlices: every
    /// address of every endpoint whose `ready` condition is not false and that is not
    /// terminating, with the slice's port named `grpc` (or its only port). Slices may differ in
    /// ports (pods with different port numbers land in different slices).
    public static func endpoints(serviceName: String, slices: [JSON]) -> [Endpoint] {
        var result: Set<Endpoint> = []
        for slice in slices where slice.labels["kubernetes.io/service-name"] == serviceName {
            let ports = slice["ports"]?.array ?? []
            var chosen: JSON? = ports.first(where: { $0["name"]?.string == "grpc" })
            if chosen == nil, ports.count == 1 { chosen = ports[0] }
            guard let port = chosen?["port"]?.int, port > 0, port < 65536 else { continue }
            for endpoint in slice["endpoints"]?.array ?? [] {
                if endpoint[path: "conditions", "ready"]?.bool == false { continue }
                if endpoint[path: "conditions", "terminating"]?.bool == true { continue }
                for address in endpoint["addresses"]?.array ?? [] {
                    if let host = address.string, !host.isEmpty { result.insert(Endpoint(host: host, port: Int(port))) }
                }
            }
        }
        return result.sorted { $0.description < $1.description }
    }

    /// Why the version cannot become ready, if the Deployment or its pods say so.
    public static func failure(deployment: JSON, pods: [JSON]) -> String? {
        for condition in deployment[path: "status", "conditions"]?.array ?? [] {
            let type = condition["type"]?.string, status = condition["status"]?.string, reason = condition["reason"]?.string ?? ""
            if type == "Progressing", status == "False", reason == "ProgressDeadlineExceeded" {
                return "ProgressDeadlineExceeded: \(condition["message"]?.string ?? "the rollout made no progress")"
            }
            if type == "ReplicaFailure", status == "True" {
                return "ReplicaFailure: \(reason)\(condition["message"]?.string.map { ": \($0)" } ?? "")"
            }
        }
        for pod in pods.sorted(by: { $0.name < $1.name }) {
            let statuses = (pod[path: "status", "initContainerStatuses"]?.array ?? []) + (pod[path: "status", "containerStatuses"]?.array ?? [])
            for status in statuses {
                guard let waiting = status[path: "state", "waiting"], let reason = waiting["reason"]?.string,
                      failingReasons.contains(reason) else { continue }
                let message = waiting["message"]?.string.map { ": \($0)" } ?? ""
                return "pod \(pod.name): \(reason)\(message)" + (lastTermination(status).map { "; \($0)" } ?? "")
            }
        }
        return nil
    }

    /// How a container's previous run ended, from its `lastState.terminated`: `exited with status
    /// 1: <the termination message's last line>`, or with the reason (`OOMKilled`) when there is
    /// no message. The message is what the container wrote to its termination message file, or
    /// the tail of its log (`terminationMessagePolicy: FallbackToLogsOnError`, which the model
    /// Deployments set), so it ends with the error the program printed last.
    public static func lastTermination(_ containerStatus: JSON) -> String? {
        guard let terminated = containerStatus[path: "lastState", "terminated"] else { return nil }
        var text = terminated["exitCode"]?.int.map { "exited with status \($0)" } ?? "exited"
        let lastLine = terminated["message"]?.string?
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .last(where: { !$0.isEmpty })
        if let lastLine {
            text += ": " + (lastLine.count > 300 ? String(lastLine.prefix(297)) + "..." : lastLine)
        } else if let reason = terminated["reason"]?.string, !reason.isEmpty {
            text += " (\(reason))"
        }
        return text
    }

    /// The observed state of `spec` given its Deployment (nil = not created yet), its pods and
    /// the namespace's EndpointSlices.
    public static func observe(_ spec: VersionSpec, deployment: JSON?, pods: [JSON], slices: [JSON]) -> ObservedVersion {
        let names = KubeNames(spec.key)
        guard let deployment else {
            return ObservedVersion(state: .deploying, readyReplicas: 0, desiredReplicas: spec.minReplicas,
                                   message: "creating Deployment \(names.name)")
        }
        let desired = deployment[path: "spec", "replicas"]?.int.map { Int32($0) } ?? spec.minReplicas
        let ready = Int32(deployment[path: "status", "readyReplicas"]?.int ?? 0)
        if desired == 0, spec.autoscaledReplicas == 0 {
            return ObservedVersion(state: .idle, readyReplicas: 0, desiredReplicas: 0,
                                   message: "scaled to zero; the next call wakes it")
        }
        let endpoints = endpoints(serviceName: names.name, slices: slices)
        let failure = failure(deployment: deployment, pods: pods)
        if ready == 0, let failure {
            return ObservedVersion(state: .failed, readyReplicas: 0, desiredReplicas: desired, message: failure,
                                   endpoints: endpoints)
        }
        if ready >= desired, desired > 0 {
            return ObservedVersion(state: .ready, readyReplicas: ready, desiredReplicas: desired, endpoints: endpoints)
        }
        var message = "\(ready)/\(desired) replicas ready"
        if let failure { message += "; \(failure)" }
        return ObservedVersion(state: .deploying, readyReplicas: ready, desiredReplicas: desired, message: message,
                               endpoints: endpoints)
    }
}

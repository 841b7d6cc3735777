import Foundation
import Registry

/// docker or podman, used by the local runtime for versions that have an image but no command.
struct ContainerTool: Sendable {
    /// The executable name ("docker" or "podman").
    var executable: String

    /// The message of an image-only version when neither tool works.
    static let unavailableMessage = "image-only versions need docker or podman, and neither works on this machine"

    /// The first of `candidates` whose `info` command succeeds within `timeout`, else nil.
    static func detect(candidates: [String], environment: [String: String], timeout: Duration) async -> ContainerTool? {
        for candidate in candidates {
            let request = SpawnRequest(arguments: [candidate, "info"], environment: environment, logPath: nil)
            guard let pid = try? await ProcessSpawner.shared.spawn(request) else { continue }
            let deadline = ContinuousClock.now + timeout
            while true {
                if let status = ChildProcess.reapIfExited(pid) {
                    if status == .exited(0) { return ContainerTool(executable: candidate) }
                    break
                }
                if ContinuousClock.now >= deadline {
                    ChildProcess.killAndReap(pid)
                    break
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return nil
    }

    /// The container name of one replica, stable across restarts so an orphan can be removed.
    /// `_` separates the parts: names may contain `-` (model `a-1` version `0` and model `a`
    /// version `1-0` would otherwise share a name) but never `_`.
    static func containerName(_ key: VersionKey, replica: Int) -> String {
        "byoc_\(key.model)_\(key.version)_\(replica)"
    }

    /// `run` in the foreground, removed on exit, publishing the model port on 127.0.0.1:`hostPort`.
    func runArguments(spec: VersionSpec, name: String, hostPort: Int, environment: [String: String]) -> [String] {
        let containerPort = spec.port == 0 ? 8080 : Int(spec.port)
        var arguments = [executable, "run", "--rm", "--name", name, "-p", "127.0.0.1:\(hostPort):\(containerPort)"]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            arguments += ["-e", "\(key)=\(value)"]
        }
        arguments.append(spec.image)
        return arguments
    }

    /// Force-removes a container by name (used for leftovers of a killed gateway).
    func removeArguments(name: String) -> [String] {
        [executable, "rm", "-f", name]
    }
}

import ArgumentParser
import Foundation
import Messages

/// `--wait` and `--wait-timeout` for register and scale.
struct WaitOptions: ParsableArguments {
    @Flag(name: .long, help: "Wait until the version is READY with every desired replica ready; progress goes to stderr.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait waits before giving up.", valueName: "seconds"))
    var waitTimeout: Double = 120

    func validate() throws {
        guard waitTimeout > 0, waitTimeout.isFinite else {
            throw ValidationError("--wait-timeout must be a positive number of seconds")
        }
    }
}

/// Polls GetModel until a version is ready, failed, gone, or the time is up.
enum Waiter {
    static let interval: UInt64 = 500_000_000

    /// Returns the version once READY with ready == desired (within its replica bounds);
    /// throws `iris/1 FAILED: <message>` when it fails, and a timeout error after `timeout` s.
    static func waitReady(_ connection: Connection, model: String, version: String,
                          timeout: Double) async throws -> ModelVersion {
        let deadline = Date().addingTimeInterval(timeout)
        var lastLine: String?
        var last: ModelVersion?
        while true {
            let current = try await connection.call(RPC.getModel, GetModelRequest(model: model), as: Model.self)
            guard let v = current.versions.first(where: { $0.version == version }) else {
                throw CLIError("\(model)/\(version) disappeared while waiting (deleted?)")
            }
            last = v
            let line = VersionText.progress(v)
            if line != lastLine {
                Stderr.line(line)
                lastLine = line
            }
            if v.state == .failed {
                throw CLIError("\(model)/\(version) FAILED: \(v.message.isEmpty ? "no message" : v.message)")
            }
            if isDone(v) { return v }
            if Date() >= deadline {
                let seconds = timeout == timeout.rounded() ? String(Int(timeout)) : String(timeout)
                let where_ = last.map { "\($0.state.name) \(VersionText.ready($0)) ready" } ?? "unknown"
                throw CLIError("timed out after \(seconds) s waiting for \(model)/\(version) to be READY (last: \(where_))")
            }
            try? await Task.sleep(nanoseconds: interval)
        }
    }

    static func isDone(_ v: ModelVersion) -> Bool {
        guard v.state == .ready else { return false }
        let desired = VersionText.desired(v)
        guard v.readyReplicas == desired else { return false }
        // The reconciler may not have seen a scale yet: its desired count must fit the bounds.
        if desired < v.floorReplicas { return false }
        if v.maxReplicas > 0 && desired > max(v.maxReplicas, v.minReplicas) { return false }
        return true
    }
}

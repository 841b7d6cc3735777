import Foundation

/// Finds and kills processes left behind by an earlier run of the local runtime.
///
/// PR_SET_PDEATHSIG kills a replica's own process when the gateway dies, but not processes it
/// started itself (a wrapper script's server, for instance). Every replica carries a marker in
/// its environment, inherited by its descendants; at start, before launching anything, the
/// runtime kills every process that carries its marker.
enum OrphanReaper {
    /// Sends SIGKILL to every process (other than this one) whose environment holds `entry`
    /// (`NAME=value`, matched exactly); returns their pids.
    @discardableResult
    static func killProcesses(withEnvironmentEntry entry: String) -> [pid_t] {
        let me = getpid()
        let wanted = Array(entry.utf8)
        var killed: [pid_t] = []
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        for name in names {
            guard let pid = pid_t(name), pid != me, pid > 1,
                  let environ = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            let hasMarker = environ.split(separator: 0, omittingEmptySubsequences: true)
                .contains { $0.elementsEqual(wanted) }
            if hasMarker, kill(pid, SIGKILL) == 0 { killed.append(pid) }
        }
        if !killed.isEmpty {
            FileHandle.standardError.write(Data("local runtime: killed \(killed.count) model process(es) left by an earlier run (\(entry))\n".utf8))
        }
        return killed
    }
}

import Foundation

/// Finds and kills processes left behind by an earlier run of the local runtime.
///
/// PR_SET_PDEATHSIG kills a replica's own process when the gateway dies, but not processes it
/// started itself (a wrapper script's server, for instance). Every replica carries a marker in
/// its environment, inherited by its descendants; at start, before launching anything, the
/// runtime kills every process that carries its marker.
enum OrphanReaper {
    /// The environment variable that marks a replica (and its descendants) with its runtime's
    /// state directory. Only the local runtime sets it.
    static let markerName = "BYOC_REPLICA_OF"

    /// Sends SIGKILL to every process whose environment holds `entry` (`NAME=value`, matched
    /// exactly), except this process and its ancestors; returns their pids.
    @discardableResult
    static func killProcesses(withEnvironmentEntry entry: String) -> [pid_t] {
        let spared = Set(ancestors(of: getpid()))
        let wanted = Array(entry.utf8)
        var killed: [pid_t] = []
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        for name in names {
            guard let pid = pid_t(name), !spared.contains(pid), pid > 1,
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

    /// `pid` and its parents up to init, from /proc/PID/stat.
    static func ancestors(of pid: pid_t) -> [pid_t] {
        var chain: [pid_t] = []
        var current = pid
        while current > 1, chain.count < 512 {
            chain.append(current)
            guard let stat = try? String(contentsOfFile: "/proc/\(current)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { break }
            // Fields after "(comm)": state, ppid, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { break }
            current = parent
        }
        return chain
    }
}

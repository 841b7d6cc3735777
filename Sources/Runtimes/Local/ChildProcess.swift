import Foundation

/// How a child process ended, worded for version messages.
enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// Reaped elsewhere or otherwise unavailable.
    case unknown

    /// Decodes a `waitpid` status word (WIFEXITED / WIFSIGNALED).
    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else if signal != 0x7f {
            self = .signaled(signal)
        } else {
            self = .unknown
        }
    }

    var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        case .unknown: return "exited"
        }
    }
}

/// Signals and reaping for children started by `ProcessSpawner` (each leads its own group).
enum ChildProcess {
    /// Returns how `pid` ended if it has exited (after killing what is left of its process
    /// group and reaping it), or nil while it still runs. Never blocks.
    static func reapIfExited(_ pid: pid_t) -> ExitStatus? {
        var info = siginfo_t()
        // WNOWAIT leaves the zombie in place, so the group id cannot be reused before the
        // stragglers in the group are killed.
        var rc: Int32
        repeat { rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) } while rc == -1 && errno == EINTR
        if rc == -1 { return errno == ECHILD ? .unknown : nil }
        guard info.si_signo == SIGCHLD else { return nil }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, WNOHANG) } while reaped == -1 && errno == EINTR
        return reaped == pid ? ExitStatus(waitStatus: status) : .unknown
    }

    /// Sends `signal` to the process group led by `pid` (falls back to the process itself).
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) == -1, errno == ESRCH { kill(pid, signal) }
    }

    /// Kills the group and waits for the leader: for a child that must not live at all.
    static func killAndReap(_ pid: pid_t) {
        signalGroup(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
}

import Foundation

/// The gateway process's own numbers for the `process_*` metrics, read from /proc at scrape time.
public struct ProcessSample: Sendable, Equatable {
    /// User plus system CPU time.
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var openFDs: Int
    /// The soft RLIMIT_NOFILE.
    public var maxFDs: Int
    /// When the process started, in seconds since the Unix epoch.
    public var startTimeSeconds: Double

    /// This process now; nil when /proc cannot be read (not Linux, or no /proc mounted).
    public static func current() -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let bootTime = bootTimeSeconds(procStat: system) else { return nil }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 0
        return parse(stat: stat, bootTimeSeconds: bootTime, ticksPerSecond: Int(sysconf(Int32(_SC_CLK_TCK))),
                     pageSize: Int(sysconf(Int32(_SC_PAGESIZE))), openFDs: fds, maxFDs: maxFDs)
    }

    /// The sample from `/proc/self/stat`'s text: utime and stime (fields 14, 15) and starttime
    /// (22) in clock ticks, rss (24) in pages. The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted after its last `)`.
    static func parse(stat: String, bootTimeSeconds: Double, ticksPerSecond: Int, pageSize: Int,
                      openFDs: Int, maxFDs: Int) -> ProcessSample? {
        guard let close = stat.lastIndex(of: ")"), ticksPerSecond > 0 else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): field N is fields[N - 3].
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let start = Double(fields[19]), let rss = Int(fields[21]) else { return nil }
        let ticks = Double(ticksPerSecond)
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, residentBytes: rss * pageSize, openFDs: openFDs,
                             maxFDs: maxFDs, startTimeSeconds: bootTimeSeconds + start / ticks)
    }

    /// `btime` of `/proc/stat`: the boot time in seconds since the epoch.
    static func bootTimeSeconds(procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

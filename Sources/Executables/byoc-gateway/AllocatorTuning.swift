#if canImport(Glibc)
import Glibc
#endif

/// Raises glibc malloc's per-thread cache (tcache) for the gateway, by re-executing the
/// process once with `GLIBC_TUNABLES` set (glibc reads tunables only at start-up).
///
/// A proxied call allocates and frees a few dozen small blocks: nghttp2's stream, frame and
/// header state on both connections, and the gateway's stream and call objects. A worker
/// handles calls in bursts (every stream a read delivered), and with glibc's default of 7
/// cached blocks per size class most of those frees and allocations fell through to the
/// arena (`_int_free`/`_int_malloc` were ~8 % of the CPU profile). With 1,024 per class the
/// gateway spends about 10 % less CPU per small call (Tests/Benchmarks/README.md); peak RSS
/// did not change measurably, since the cache only holds blocks the worker freed and reuses.
///
/// Nothing happens when `GLIBC_TUNABLES` already sets a tcache count (an operator's choice
/// wins), when `BYOC_MALLOC_TUNING=off`, under valgrind, or when the re-exec fails (the gateway then runs
/// with glibc's defaults). Replicas the local runtime starts do not inherit the setting: their
/// environment is built from an allow-list.
enum AllocatorTuning {
    static let tunable = "glibc.malloc.tcache_count=1024"
    /// Set in the environment of the re-executed process: it is the tuned one (never re-exec
    /// twice, whatever glibc did to `GLIBC_TUNABLES` while parsing it), and operators and tests
    /// can see in /proc/PID/environ that the setting was applied.
    static let marker = "BYOC_MALLOC_TUNED"

    /// Re-executes this process with the tunable set, unless one of the cases above applies.
    /// Call first thing in `main`, before any thread starts.
    static func reexecIfNeeded() {
        if getenv(marker) != nil { return }
        if let setting = getenv("BYOC_MALLOC_TUNING"), String(cString: setting) == "off" { return }
        // Under valgrind, /proc/self/exe is valgrind's launcher, which refuses to run directly.
        if let preload = getenv("LD_PRELOAD"), String(cString: preload).contains("vgpreload") { return }
        let current = getenv("GLIBC_TUNABLES").map { String(cString: $0) } ?? ""
        if current.contains("glibc.malloc.tcache_count") { return }
        let value = current.isEmpty ? tunable : current + ":" + tunable
        guard setenv("GLIBC_TUNABLES", value, 1) == 0, setenv(marker, "1", 1) == 0 else { return }
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Still here: the re-exec failed. Run as we are, without leaving the setting behind
        // for processes we start.
        unsetenv(marker)
        if current.isEmpty { unsetenv("GLIBC_TUNABLES") } else { setenv("GLIBC_TUNABLES", current, 1) }
    }
}

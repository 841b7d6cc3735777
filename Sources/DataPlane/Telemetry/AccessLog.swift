#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One call as the access log records it: filled in on the worker (plain values and shared
/// strings, no formatting) and encoded as a JSON line on the writer thread.
public struct AccessLogEntry {
    /// When the request headers arrived (Unix nanoseconds).
    public var startUnixNanos: UInt64 = 0
    /// Headers to status (or to the end of the call when it ended without one).
    public var durationNanos: UInt64 = 0
    /// The gRPC path, `/package.Service/Method` (plain HTTP: the request's path).
    public var method = ""
    /// Plain HTTP requests: the request method, written before the path (`GET /metrics`).
    public var httpMethod = ""
    public var model = ""
    /// The version that served the call ("" when it was never routed).
    public var version = ""
    /// The call's grpc-status (nil: it ended without one, e.g. cancelled or reset).
    public var grpcStatus: Int?
    public var httpStatus = 200
    /// Message body bytes, gRPC framing included.
    public var requestBytes = 0
    public var responseBytes = 0
    public var peer = ""
    /// The model endpoint of the last attempt ("" when none was opened).
    public var upstream = ""
    public var attempts = 0
    /// The call's trace, its id written as `trace_id` (nil: none, `""`).
    public var trace: TraceContext?

    public init() {}

    /// About how many bytes the entry's line takes (the fixed part and the strings; for the
    /// writer's bound, cheap to work out on the worker).
    public var encodedSizeEstimate: Int {
        // The caller-chosen strings; the rest is bounded (addresses, the route table's names).
        400 + method.utf8.count + model.utf8.count
    }

    /// Appends this entry as one JSON line.
    public func encode(into out: RecordBuffer) {
        out.raw("{\"time\":\"")
        out.timestamp(unixNanos: startUnixNanos)
        // Calls repeat method, model and version: encoded once while they do (HTTP requests
        // are few and vary).
        if httpMethod.isEmpty {
            out.fragment(4, method, model, version) { out in
                out.raw("\",\"method\":")
                out.string(method)
                out.raw(",\"model\":")
                out.string(model)
                out.raw(",\"version\":")
                out.string(version)
            }
        } else {
            out.raw("\",\"method\":")
            out.string(httpMethod + " " + method)
            out.raw(",\"model\":")
            out.string(model)
            out.raw(",\"version\":")
            out.string(version)
        }
        out.raw(",\"grpc_status\":")
        if let grpcStatus {
            out.int(grpcStatus)
            out.raw(",\"grpc_code\":\"")
            out.raw(Self.codeName(grpcStatus))
            out.raw("\"")
        } else {
            out.raw("null,\"grpc_code\":null")
        }
        out.raw(",\"http_status\":")
        out.int(httpStatus)
        out.raw(",\"duration_ms\":")
        out.millis(nanos: durationNanos)
        out.raw(",\"request_bytes\":")
        out.int(requestBytes)
        out.raw(",\"response_bytes\":")
        out.int(responseBytes)
        out.fragment(5, peer, upstream) { out in
            out.raw(",\"peer\":")
            out.string(peer)
            out.raw(",\"upstream\":")
            out.string(upstream)
        }
        out.raw(",\"attempts\":")
        out.int(attempts)
        out.raw(",\"trace_id\":")
        if let trace {
            out.raw("\"")
            out.hex(trace.traceHigh)
            out.hex(trace.traceLow)
            out.raw("\"")
        } else {
            out.raw("\"\"")
        }
        out.raw("}\n")
    }

    private static let codeNames: [StaticString] = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                    "UNAUTHENTICATED"]

    /// The status code's name (`NOT_FOUND`); `UNKNOWN` outside 0...16.
    static func codeName(_ code: Int) -> StaticString {
        codeNames.indices.contains(code) ? codeNames[code] : "UNKNOWN"
    }
}

/// `--access-log PATH|-`: the writer thread's side, appending every batch of lines to the
/// file (opened for append, created 0644) or to stdout.
public enum AccessLogFile {
    public struct OpenError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Most bytes of lines waiting for the writer before lines are dropped.
    public static let maxPendingBytes = 8 << 20

    /// A channel writing to `path` ("-" = stdout), started. A failing write drops its lines
    /// (counted), says so once on stderr, and says so again once writing works again.
    public static func open(_ path: String) throws -> BatchChannel<AccessLogEntry> {
        let fd: Int32
        if path == "-" {
            fd = STDOUT_FILENO
        } else {
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw OpenError(description: "cannot open the access log \(path): \(String(cString: strerror(errno)))")
            }
        }
        let name = path == "-" ? "stdout" : path
        let out = RecordBuffer(capacity: 1 << 20)
        var failing = false
        let channel = BatchChannel<AccessLogEntry>(name: "access-log", maxPendingBytes: maxPendingBytes) { batches in
            var failed = 0
            for batch in batches {
                out.reset()
                for entry in batch { entry.encode(into: out) }
                if let problem = out.withBytes({ writeAll(fd, $0) }) {
                    failed += batch.count
                    if !failing {
                        failing = true
                        FileHandle.standardError.write(Data("byoc-gateway: writing the access log to \(name) failed: \(problem) (lines dropped and counted in byoc_access_log_dropped_total until it works)\n".utf8))
                    }
                } else if failing {
                    failing = false
                    FileHandle.standardError.write(Data("byoc-gateway: writing the access log to \(name) works again\n".utf8))
                }
            }
            return failed
        }
        channel.start()
        return channel
    }

    /// Writes every byte (retrying short writes and EINTR); nil when all were written, else
    /// the error.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> String? {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += n
        }
        return nil
    }
}

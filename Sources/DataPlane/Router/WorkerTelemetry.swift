import HTTP2
import Telemetry
import Transport

/// Where a router's access-log lines and spans go (shared by every worker).
public struct TelemetryConfig: Sendable {
    /// `--access-log`: the writer's channel (nil: no access log).
    public var accessLog: BatchChannel<AccessLogEntry>?
    /// `--otlp-endpoint`: the exporter's channel (nil: no tracing).
    public var spans: BatchChannel<SpanRecord>?
    /// `--trace-sample-ratio`: the share of new traces recorded (a caller's sampled flag wins).
    public var sampleRatio = 1.0

    public init() {}

    var isEnabled: Bool { accessLog != nil || spans != nil }
}

/// The trace a proxied call belongs to: the caller's trace (or a new one), the caller's span
/// (0: none), the gateway's server span, and the caller's `tracestate` (kept).
struct CallTrace {
    var context: TraceContext
    var parentSpanID: UInt64
    var serverSpanID: UInt64
    var traceState: String
}

/// What a finished call records (`WorkerTelemetry.finished`): the access-log entry's and the
/// server span's fields, filled in by whoever saw the call end.
struct FinishedCall: ~Copyable {
    /// The gRPC path (plain HTTP: the request's path, with `httpMethod` and `httpStatus`).
    var path: String
    var httpMethod = ""
    var httpStatus = 200
    var model = ""
    var version = ""
    var grpcStatus: Int?
    /// The span's error ("" unless the call ended without a status).
    var error = ""
    /// Monotonic nanoseconds: the request's headers, and the status (or the end).
    var receivedAt: UInt64
    var endedAt: UInt64
    var requestBytes = 0
    var responseBytes = 0
    var upstream = ""
    var attempts = 0
    /// The last attempt's span (proxied calls).
    var child: SpanRecord.Child?

    init(path: String, receivedAt: UInt64, endedAt: UInt64) {
        self.path = path
        self.receivedAt = receivedAt
        self.endedAt = endedAt
    }
}

/// One worker's side of the access log and the span export: entries and spans are collected
/// on the worker as plain records (no formatting, no lock, no I/O) and handed, a batch at a
/// time, to the writer and exporter threads, which encode them: when a batch reaches
/// `flushRecords` or `flushNanos` after its first record.
final class WorkerTelemetry {
    static let flushRecords = 512
    static let flushNanos: UInt64 = 100_000_000

    private let loop: EventLoop
    private let accessLog: BatchChannel<AccessLogEntry>?
    private let spanChannel: BatchChannel<SpanRecord>?
    /// New traces are sampled when a random 32-bit value is below this.
    private let sampleThreshold: UInt64
    /// Span and trace ids (the same generator as the balancer's, seeded apart).
    private var ids: FastRandom
    private var lines: [AccessLogEntry] = []
    private var linesBytes = 0
    private var spans: [SpanRecord] = []
    /// Spans in `spans` (a record with a child is two).
    private var spanCount = 0
    private var spansBytes = 0
    /// Unix minus monotonic nanoseconds, read when a flush period starts (the two clocks do
    /// not drift apart measurably within one).
    private var wallOffset: UInt64 = 0
    private var flushTimer: UInt64?

    /// Spans are exported: calls get a trace and the model the gateway's `traceparent`.
    var tracing: Bool { spanChannel != nil }
    var logging: Bool { accessLog != nil }

    init?(loop: EventLoop, config: TelemetryConfig, seed: UInt64) {
        guard config.isEnabled else { return nil }
        self.loop = loop
        accessLog = config.accessLog
        spanChannel = config.spans
        sampleThreshold = UInt64((min(max(config.sampleRatio, 0), 1) * 4_294_967_296).rounded())
        ids = FastRandom(seed: seed)
        wallOffset = Telemetry.unixNanos() &- monotonicNanos()
        if logging { lines.reserveCapacity(Self.flushRecords) }
        if tracing { spans.reserveCapacity(Self.flushRecords) }
    }

    /// A monotonic time as Unix nanoseconds.
    func unixNanos(monotonic: UInt64) -> UInt64 { monotonic &+ wallOffset }

    /// A fresh span id.
    func nextSpanID() -> UInt64 { ids.nextNonZero() }

    /// The call's trace from its headers: a valid `traceparent` is kept (its sampled flag
    /// decides), anything else starts a new trace sampled by the ratio.
    func startTrace(_ headers: HeaderBlock) -> CallTrace {
        startTrace(traceparent: headers[literal: "traceparent"]) { headers[literal: "tracestate"] }
    }

    /// The trace of a request with `traceparent` (and `tracestate`, read only when the
    /// traceparent is kept).
    func startTrace(traceparent: String?, tracestate: () -> String?) -> CallTrace {
        if let traceparent, let caller = TraceContext(traceparent: traceparent) {
            return CallTrace(context: caller, parentSpanID: caller.spanID, serverSpanID: ids.nextNonZero(),
                             traceState: tracestate() ?? "")
        }
        let sampled = ids.nextNonZero() >> 32 < sampleThreshold
        let context = TraceContext(traceHigh: ids.nextNonZero(), traceLow: ids.nextNonZero(), spanID: 0, sampled: sampled)
        // A traceparent that did not parse starts a new trace, and its tracestate goes with it.
        return CallTrace(context: context, parentSpanID: 0, serverSpanID: ids.nextNonZero(), traceState: "")
    }

    /// The caller's trace, for the access log when the gateway does not trace (nil: none).
    static func callerTrace(_ headers: HeaderBlock) -> TraceContext? {
        headers[literal: "traceparent"].flatMap { TraceContext(traceparent: $0) }
    }

    /// Records a finished call (proxied, answered here, or plain HTTP): its server span when
    /// its trace is sampled and its access-log entry, both from `call`. `peer` and
    /// `callerTrace` (the trace id logged when the gateway does not trace) are read only when
    /// the access log is on.
    func finished(_ call: borrowing FinishedCall, trace: CallTrace?, peer: () -> String, callerTrace: () -> TraceContext?) {
        let start = unixNanos(monotonic: call.receivedAt)
        let duration = call.endedAt > call.receivedAt ? call.endedAt - call.receivedAt : 0
        if let trace, trace.context.sampled {
            var span = serverSpan(trace, path: call.path, start: start, duration: duration)
            span.httpMethod = call.httpMethod
            span.httpStatus = call.httpMethod.isEmpty ? 0 : call.httpStatus
            span.model = call.model
            span.version = call.version
            span.grpcStatus = call.grpcStatus
            span.error = call.error
            span.child = call.child
            record(span)
        }
        guard logging else { return }
        var entry = AccessLogEntry()
        entry.startUnixNanos = start
        entry.durationNanos = duration
        entry.method = call.path
        entry.httpMethod = call.httpMethod
        entry.httpStatus = call.httpStatus
        entry.model = call.model
        entry.version = call.version
        entry.grpcStatus = call.grpcStatus
        entry.requestBytes = call.requestBytes
        entry.responseBytes = call.responseBytes
        entry.peer = peer()
        entry.upstream = call.upstream
        entry.attempts = call.attempts
        entry.trace = trace?.context ?? callerTrace()
        log(entry)
    }

    /// The server span of a call in `trace` (sampled), named after `path`, from `start` for
    /// `duration` nanoseconds (Unix time).
    func serverSpan(_ trace: CallTrace, path: String, start: UInt64, duration: UInt64) -> SpanRecord {
        SpanRecord(trace: trace.context, spanID: trace.serverSpanID, parent: trace.parentSpanID, traceState: trace.traceState,
                   path: path, kind: .server, start: start, end: start &+ duration)
    }

    /// Appends one access-log entry.
    func log(_ entry: consuming AccessLogEntry) {
        guard accessLog != nil else { return }
        linesBytes += entry.encodedSizeEstimate
        // Moved into the batch, not copied (a copy retains every string once more).
        lines.append(entry)
        recorded(lines.count)
    }

    /// Appends one finished span, with its child when it has one (call only for sampled traces).
    func record(_ span: consuming SpanRecord) {
        guard spanChannel != nil else { return }
        spansBytes += span.encodedSizeEstimate * span.spanCount
        spanCount += span.spanCount
        spans.append(span)
        recorded(spans.count)
    }

    private func recorded(_ count: Int) {
        if count >= Self.flushRecords {
            flush()
        } else if flushTimer == nil {
            wallOffset = Telemetry.unixNanos() &- monotonicNanos()
            flushTimer = loop.schedule(afterNanos: Self.flushNanos) { [unowned self] in
                self.flushTimer = nil
                self.flush()
            }
        }
    }

    /// Hands both batches to their threads (a full queue drops and counts them there).
    func flush() {
        if !lines.isEmpty, let accessLog {
            accessLog.submit(lines, count: lines.count, bytes: linesBytes)
            lines = []
            linesBytes = 0
            lines.reserveCapacity(Self.flushRecords)
        }
        if !spans.isEmpty, let spanChannel {
            spanChannel.submit(spans, count: spanCount, bytes: spansBytes)
            spans = []
            spanCount = 0
            spansBytes = 0
            spans.reserveCapacity(Self.flushRecords)
        }
    }

    /// The worker stops: hand over what is buffered.
    func stop() {
        if let timer = flushTimer {
            loop.cancelTimer(timer)
            flushTimer = nil
        }
        flush()
    }
}

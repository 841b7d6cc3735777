import HTTP2
import Telemetry
import Transport

/// Where a router's access-log lines and spans go (shared by every worker).
public struct TelemetryConfig: Sendable {
    /// `--access-log`: the writer's channel (nil: no access log).
    public var accessLog: BatchChannel?
    /// `--otlp-endpoint`: the exporter's channel (nil: no tracing), and how it wants spans encoded.
    public var spans: BatchChannel?
    public var spanEncoding = OTLPExporter.Encoding.json
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

/// One worker's side of the access log and the span export: lines and spans are encoded on
/// the worker into its own buffers (no lock, no I/O), which go to the writer and exporter
/// threads when they reach `flushBytes` or `flushNanos` after their first record.
final class WorkerTelemetry {
    static let flushBytes = 256 * 1024
    static let flushNanos: UInt64 = 100_000_000

    private let loop: EventLoop
    private let accessLog: BatchChannel?
    private let spans: BatchChannel?
    private let spanEncoding: OTLPExporter.Encoding
    /// New traces are sampled when a random 32-bit value is below this.
    private let sampleThreshold: UInt64
    /// Span and trace ids (the same generator as the balancer's, seeded apart).
    private var ids: FastRandom
    private let lines = RecordBuffer(capacity: WorkerTelemetry.flushBytes + 4096)
    private var lineCount = 0
    private let spanBytes = RecordBuffer(capacity: WorkerTelemetry.flushBytes + 4096)
    private var spanCount = 0
    /// Unix minus monotonic nanoseconds, read when a flush period starts (the two clocks do
    /// not drift apart measurably within one).
    private var wallOffset: UInt64 = 0
    private var flushTimer: UInt64?
    /// The last gRPC path, its span name, service and method (calls usually repeat one method).
    private var lastSpanName = (path: "", name: "", service: "", method: "")

    /// Spans are exported: calls get a trace and the model the gateway's `traceparent`.
    var tracing: Bool { spans != nil }
    var logging: Bool { accessLog != nil }

    init?(loop: EventLoop, config: TelemetryConfig, seed: UInt64) {
        guard config.isEnabled else { return nil }
        self.loop = loop
        accessLog = config.accessLog
        spans = config.spans
        spanEncoding = config.spanEncoding
        sampleThreshold = UInt64((min(max(config.sampleRatio, 0), 1) * 4_294_967_296).rounded())
        ids = FastRandom(seed: seed)
        wallOffset = Telemetry.unixNanos() &- monotonicNanos()
    }

    /// A monotonic time as Unix nanoseconds.
    func unixNanos(monotonic: UInt64) -> UInt64 { monotonic &+ wallOffset }

    /// Names `span` after the gRPC path: the path without its leading `/`, split at the last `/`
    /// into service and method.
    func name(_ span: inout SpanRecord, path: String) {
        if lastSpanName.path != path {
            let name = String(path.dropFirst())
            let slash = name.lastIndex(of: "/")
            lastSpanName = (path, name, slash.map { String(name[..<$0]) } ?? "",
                            slash.map { String(name[name.index(after: $0)...]) } ?? "")
        }
        span.name = lastSpanName.name
        span.service = lastSpanName.service
        span.method = lastSpanName.method
    }

    /// A fresh span id.
    func nextSpanID() -> UInt64 { ids.nextNonZero() }

    /// The call's trace from its headers: a valid `traceparent` is kept (its sampled flag
    /// decides), anything else starts a new trace sampled by the ratio.
    func startTrace(_ headers: HeaderBlock) -> CallTrace {
        let state = headers[literal: "tracestate"] ?? ""
        if let value = headers[literal: "traceparent"], let caller = TraceContext(traceparent: value) {
            return CallTrace(context: caller, parentSpanID: caller.spanID, serverSpanID: ids.nextNonZero(), traceState: state)
        }
        let sampled = ids.nextNonZero() >> 32 < sampleThreshold
        let context = TraceContext(traceHigh: ids.nextNonZero(), traceLow: ids.nextNonZero(), spanID: 0, sampled: sampled)
        // A traceparent that did not parse starts a new trace, and its tracestate goes with it.
        return CallTrace(context: context, parentSpanID: 0, serverSpanID: ids.nextNonZero(), traceState: "")
    }

    /// The caller's trace id, for the access log when the gateway does not trace ("": none).
    static func callerTraceID(_ headers: HeaderBlock) -> String {
        guard let value = headers[literal: "traceparent"], let caller = TraceContext(traceparent: value) else { return "" }
        return caller.traceID
    }

    /// Appends one access-log line.
    func log(_ entry: AccessLogEntry) {
        guard accessLog != nil else { return }
        entry.encode(into: lines)
        lineCount += 1
        recorded(lines.count)
    }

    /// Appends one finished span (only sampled traces' spans are recorded).
    func record(_ span: SpanRecord) {
        guard spans != nil, span.trace.sampled else { return }
        switch spanEncoding {
        case .protobuf:
            span.encodeProtobuf(into: spanBytes)
        case .json:
            if spanCount > 0 { spanBytes.raw(",") }
            span.encode(into: spanBytes)
        }
        spanCount += 1
        recorded(spanBytes.count)
    }

    private func recorded(_ bufferBytes: Int) {
        if bufferBytes >= Self.flushBytes {
            flush()
        } else if flushTimer == nil {
            wallOffset = Telemetry.unixNanos() &- monotonicNanos()
            flushTimer = loop.schedule(afterNanos: Self.flushNanos) { [unowned self] in
                self.flushTimer = nil
                self.flush()
            }
        }
    }

    /// Hands both buffers to their threads (a full queue drops and counts them there).
    func flush() {
        if lineCount > 0, let accessLog {
            accessLog.submit(BatchChannel.Batch(bytes: lines.bytes, records: lineCount))
            lines.reset()
            lineCount = 0
        }
        if spanCount > 0, let spans {
            spans.submit(BatchChannel.Batch(bytes: spanBytes.bytes, records: spanCount))
            spanBytes.reset()
            spanCount = 0
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

import Routing
import XCTest
import HTTP1
import Router
@testable import WebConsole

final class MetricsTests: XCTestCase {
    private func worker(calls: [String: Int], latencyMs: [Double], inFlight: Int, connections: Int) -> WorkerSample {
        var sample = WorkerSample()
        sample.router.calls = calls
        var histogram = LatencyHistogram()
        for ms in latencyMs { histogram.observe(nanos: UInt64(ms * 1e6)) }
        sample.router.latency = ["iris\u{1}1": histogram]
        sample.router.inFlight = ["iris\u{1}1": inFlight]
        sample.router.retries = ["iris\u{1}1": 1]
        sample.router.connectFailures = ["iris\u{1}1": 2]
        sample.http2Connections = connections
        sample.http1Connections = 1
        sample.routeGeneration = UInt64(connections)
        return sample
    }

    func testWorkersAreSummed() {
        let a = worker(calls: ["iris\u{1}1\u{1}0": 3, "iris\u{1}1\u{1}14": 1], latencyMs: [0.2, 3, 40], inFlight: 1, connections: 2)
        let b = worker(calls: ["iris\u{1}1\u{1}0": 5, "\u{1}\u{1}5": 2], latencyMs: [0.7, 20000], inFlight: 2, connections: 3)
        let s = MetricsSnapshot(workers: [a, b], control: ControlSample(reconcileRuns: 7, reconcileErrors: 1, registryModels: 2, registryVersions: 3))
        let label = VersionLabel(model: "iris", version: "1")
        XCTAssertEqual(s.calls[label]?["OK"], 8)
        XCTAssertEqual(s.calls[label]?["UNAVAILABLE"], 1)
        XCTAssertEqual(s.calls[VersionLabel(model: "", version: "")]?["NOT_FOUND"], 2)
        XCTAssertEqual(s.latency[label]?.count, 5)
        XCTAssertEqual(s.inFlight[label], 3)
        XCTAssertEqual(s.retries[label], 2)
        XCTAssertEqual(s.connectFailures[label], 4)
        XCTAssertEqual(s.http2Connections, 5)
        XCTAssertEqual(s.routeGeneration, 3)

        let text = PrometheusText.render(s)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"byoc_requests_total{model="iris",version="1",code="OK"} 8"#,
            #"byoc_requests_total{model="iris",version="1",code="UNAVAILABLE"} 1"#,
            #"byoc_requests_total{model="",version="",code="NOT_FOUND"} 2"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="0.0005"} 1"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="0.001"} 2"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="0.005"} 3"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="0.05"} 4"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="10.0"} 4"#,
            #"byoc_request_duration_seconds_bucket{model="iris",version="1",le="+Inf"} 5"#,
            #"byoc_request_duration_seconds_count{model="iris",version="1"} 5"#,
            #"byoc_requests_in_flight{model="iris",version="1"} 3"#,
            #"byoc_upstream_retries_total{model="iris",version="1"} 2"#,
            #"byoc_upstream_connect_failures_total{model="iris",version="1"} 4"#,
            #"byoc_open_connections{protocol="h2"} 5"#,
            #"byoc_open_connections{protocol="http1"} 2"#,
            "byoc_route_table_generation 3",
            "byoc_reconcile_runs_total 7",
            "byoc_reconcile_errors_total 1",
            "byoc_registry_models 2",
            "byoc_registry_versions 3",
            "# TYPE byoc_request_duration_seconds histogram",
            "# TYPE byoc_requests_total counter",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
        XCTAssertTrue(text.hasSuffix("\n"))
        let sum = lines.first { $0.hasPrefix(#"byoc_request_duration_seconds_sum{model="iris",version="1"}"#) }
        XCTAssertEqual(Double(sum?.split(separator: " ").last ?? "") ?? 0, 20.0439, accuracy: 0.001)
    }

    func testScaleToZeroSeriesAreSummedAndRendered() {
        var a = WorkerSample()
        var wake = LatencyHistogram()
        wake.observe(nanos: 20_000_000)
        a.router.held = ["m\u{1}1": 2]
        a.router.holdRejections = ["m\u{1}1": 1]
        a.router.wakeLatency = ["m\u{1}1": wake]
        var b = WorkerSample()
        b.router.held = ["m\u{1}1": 3]
        b.router.wakeLatency = ["m\u{1}1": wake]
        var control = ControlSample()
        control.desiredReplicas = [VersionLabel(model: "m", version: "1"): 0]
        control.readyReplicas = [VersionLabel(model: "m", version: "1"): 0]
        let text = PrometheusText.render(MetricsSnapshot(workers: [a, b], control: control))
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            #"byoc_held_calls{model="m",version="1"} 5"#,
            #"byoc_hold_rejections_total{model="m",version="1"} 1"#,
            #"byoc_wake_latency_seconds_bucket{model="m",version="1",le="0.025"} 2"#,
            #"byoc_wake_latency_seconds_count{model="m",version="1"} 2"#,
            #"byoc_desired_replicas{model="m",version="1"} 0"#,
            #"byoc_ready_replicas{model="m",version="1"} 0"#,
            "# TYPE byoc_wake_latency_seconds histogram",
            "# TYPE byoc_held_calls gauge",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing: \(expected)\n\(text)")
        }
    }

    func testLabelEscapingAndCodeNames() {
        XCTAssertEqual(PrometheusText.escape("a\"b\\c\nd"), #"a\"b\\c\nd"#)
        XCTAssertEqual(MetricsSnapshot.codeName("0"), "OK")
        XCTAssertEqual(MetricsSnapshot.codeName("16"), "UNAUTHENTICATED")
        XCTAssertEqual(MetricsSnapshot.codeName(""), "UNKNOWN")
        XCTAssertEqual(MetricsSnapshot.codeName("99"), "UNKNOWN")
        XCTAssertEqual(PrometheusText.seconds(500_000), "0.0005")
        XCTAssertEqual(PrometheusText.seconds(2_500_000_000), "2.5")
        XCTAssertEqual(PrometheusText.seconds(10_000_000_000), "10.0")
    }

    func testQuantileAndStatsHistory() {
        var h = LatencyHistogram()
        for _ in 0..<99 { h.observe(nanos: 800_000) }   // (0.5 ms, 1 ms]
        h.observe(nanos: 30_000_000)                     // (25 ms, 50 ms]
        let p50 = StatsHistory.quantile(0.5, h)!
        XCTAssertGreaterThan(p50, 0.0005)
        XCTAssertLessThanOrEqual(p50, 0.001)
        XCTAssertLessThanOrEqual(StatsHistory.quantile(0.99, h)!, 0.001)
        XCTAssertGreaterThan(StatsHistory.quantile(0.999, h)!, 0.025)
        XCTAssertNil(StatsHistory.quantile(0.99, LatencyHistogram()))

        let history = StatsHistory(capacity: 3)
        func snapshot(_ calls: Int) -> MetricsSnapshot {
            var s = MetricsSnapshot()
            s.calls[VersionLabel(model: "iris", version: "1")] = ["OK": calls]
            var h = LatencyHistogram()
            for _ in 0..<calls { h.observe(nanos: 2_000_000) }
            s.latency[VersionLabel(model: "iris", version: "1")] = h
            return s
        }
        history.record(snapshot(0), nanos: 0, unixMs: 0)
        for i in 1...5 { history.record(snapshot(i * 10), nanos: UInt64(i) * 5_000_000_000, unixMs: Int64(i) * 5000) }
        let json = history.jsonObject(intervalSeconds: 5)
        XCTAssertEqual((json["timestamps"] as? [Int64])?.count, 3)
        let series = (json["series"] as? [[String: Any]])?.first
        XCTAssertEqual(series?["model"] as? String, "iris")
        XCTAssertEqual(series?["lastRps"] as? Double, 2)
        let p99 = series?["lastP99Ms"] as? Double ?? 0
        XCTAssertGreaterThan(p99, 1)
        XCTAssertLessThanOrEqual(p99, 2.5)
    }

    /// Error rate, p50 and ready replicas per sample, and the model/version/seconds query.
    func testStatsHistoryFiguresAndQuery() {
        let iris = VersionLabel(model: "iris", version: "1")
        let other = VersionLabel(model: "other", version: "1")
        let history = StatsHistory(capacity: 10)
        func snapshot(ok: Int, failed: Int, replicas: Int) -> MetricsSnapshot {
            var s = MetricsSnapshot()
            s.calls[iris] = ["OK": ok, "DEADLINE_EXCEEDED": failed]
            var h = LatencyHistogram()
            for _ in 0..<(ok + failed) { h.observe(nanos: 1_000_000) }
            s.latency[iris] = h
            s.readyEndpoints = [iris: replicas, other: 2]
            return s
        }
        history.record(snapshot(ok: 0, failed: 0, replicas: 1), nanos: 0, unixMs: 0)
        history.record(snapshot(ok: 30, failed: 10, replicas: 1), nanos: 1_000_000_000, unixMs: 1000)
        history.record(snapshot(ok: 30, failed: 10, replicas: 3), nanos: 2_000_000_000, unixMs: 2000)
        let json = history.jsonObject(intervalSeconds: 1)
        let series = json["series"] as? [[String: Any]] ?? []
        XCTAssertEqual(series.map { $0["model"] as? String }, ["iris", "other"], "a version with replicas and no calls has a series")
        let first = series[0]
        XCTAssertEqual((first["errorRate"] as? [Any])?.first as? Double, 0.25)
        XCTAssertTrue((first["errorRate"] as? [Any])?.last is NSNull, "no calls in the second interval: no rate")
        XCTAssertEqual(first["replicas"] as? [Double], [1, 3])
        XCTAssertEqual(first["rps"] as? [Double], [40, 0])
        let p50 = (first["p50Ms"] as? [Any])?.first as? Double ?? 0
        XCTAssertGreaterThan(p50, 0.5)
        XCTAssertLessThanOrEqual(p50, 1)
        let one = history.jsonObject(intervalSeconds: 1, StatsHistory.Query(model: "iris", version: "1", seconds: 1))
        XCTAssertEqual(one["timestamps"] as? [Int64], [2000])
        XCTAssertEqual((one["series"] as? [[String: Any]])?.map { $0["replicas"] as? [Double] }, [[3]])
        XCTAssertEqual((history.jsonObject(intervalSeconds: 1, StatsHistory.Query(model: "nope"))["series"] as? [Any])?.count, 0)
    }

    /// Every family of a snapshot with every series set, in both formats: `# HELP` then `# TYPE`
    /// once, then only that family's samples (a histogram's `_bucket`, `_sum`, `_count`; in
    /// OpenMetrics a counter's `_total` and an info's `_info`), each family's samples together.
    func testEveryFamilyIsOneBlockOfItsOwnSamples() {
        var a = worker(calls: ["iris\u{1}1\u{1}0": 3], latencyMs: [0.2, 3], inFlight: 1, connections: 2)
        a.router.shadowCalls = ["iris\u{1}1\u{1}0": 1]
        a.router.shadowLatency = a.router.latency
        a.router.shadowDropped = ["iris\u{1}1\u{1}behind": 1]
        a.router.held = ["iris\u{1}1": 1]
        a.router.holdRejections = ["iris\u{1}1": 1]
        a.router.wakeLatency = a.router.latency
        a.http1.refused = [431: 1]
        var control = ControlSample(reconcileRuns: 1)
        control.desiredReplicas = [VersionLabel(model: "iris", version: "1"): 2]
        control.readyReplicas = [VersionLabel(model: "iris", version: "1"): 1]
        var s = MetricsSnapshot(workers: [a], control: control)
        s.process = ProcessSample(cpuSeconds: 1.5, residentBytes: 4096, openFDs: 9, maxFDs: 1024, startTimeSeconds: 1.7e9)
        s.buildVersion = "1.0"
        s.telemetry = TelemetrySample(accessLogLines: 1, accessLogDropped: 0, spansExported: 2, spansDropped: 0)
        for format in [MetricsFormat.prometheus, .openMetrics] {
            let lines = PrometheusText.render(s, format: format).split(separator: "\n").map(String.init)
            var families: [String] = []
            var suffixes: [String] = []
            var index = 0
            while index < lines.count {
                let line = lines[index]
                if line == "# EOF" {
                    XCTAssertEqual(format, .openMetrics)
                    XCTAssertEqual(index, lines.count - 1, "# EOF ends the text")
                    break
                }
                if line.hasPrefix("# HELP ") {
                    let family = String(line.dropFirst(7).prefix { $0 != " " })
                    XCTAssertFalse(families.contains(family), "\(family) twice (\(format))")
                    families.append(family)
                    let type = lines[index + 1].split(separator: " ")
                    XCTAssertEqual(type.prefix(3).joined(separator: " "), "# TYPE \(family)", "\(format)")
                    switch type.last.map(String.init) ?? "" {
                    case "histogram": suffixes = ["_bucket", "_sum", "_count"]
                    case "counter" where format == .openMetrics: suffixes = ["_total"]
                    case "info" where format == .openMetrics: suffixes = ["_info"]
                    default: suffixes = [""]
                    }
                    index += 2
                    continue
                }
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                XCTAssertTrue(families.last.map { family in suffixes.contains { family + $0 == name } } ?? false,
                              "\(line) outside its family (\(families.last ?? "none"), \(format))")
                index += 1
            }
            XCTAssertEqual(families.count, 33, "\(format): \(families)")
        }
    }
}

/// Metrics hygiene: process metrics, build info, deleted versions' series, OpenMetrics.
final class MetricsHygieneTests: XCTestCase {
    private func sample(generation: UInt64, versions: [String: [String]]) -> WorkerSample {
        var sample = WorkerSample()
        sample.router.calls = ["iris\u{1}1\u{1}0": 2, "iris\u{1}2\u{1}0": 3, "\u{1}\u{1}5": 1]
        sample.router.inFlight = ["iris\u{1}1": 0, "iris\u{1}2": 0]
        var models: [String: ModelRoutes] = [:]
        for (model, list) in versions {
            models[model] = ModelRoutes(defaultVersion: list[0], versions: Dictionary(uniqueKeysWithValues: list.map { ($0, []) }))
        }
        sample.routeTable = RouteTable(generation: generation, models: models)
        sample.routeGeneration = generation
        return sample
    }

    func testSeriesOfVersionsMissingFromTheNewestTableAreDropped() {
        // One worker still has the table with version 2; the newest table no longer has it.
        let s = MetricsSnapshot(workers: [sample(generation: 4, versions: ["iris": ["1", "2"]]),
                                          sample(generation: 5, versions: ["iris": ["1"]])], control: ControlSample())
        XCTAssertEqual(s.calls[VersionLabel(model: "iris", version: "1")]?["OK"], 4)
        XCTAssertNil(s.calls[VersionLabel(model: "iris", version: "2")])
        XCTAssertNil(s.inFlight[VersionLabel(model: "iris", version: "2")])
        XCTAssertEqual(s.calls[VersionLabel(model: "", version: "")]?["NOT_FOUND"], 2, "unrouted calls stay")
        XCTAssertFalse(PrometheusText.render(s).contains("version=\"2\""))
    }

    func testOpenMetricsFamiliesAndEOF() {
        var s = MetricsSnapshot(workers: [sample(generation: 1, versions: ["iris": ["1", "2"]])], control: ControlSample())
        s.buildVersion = "0.1.0"
        s.process = ProcessSample(cpuSeconds: 1.5, residentBytes: 4096, openFDs: 9, maxFDs: 1024, startTimeSeconds: 1.7e9)
        let om = PrometheusText.render(s, format: .openMetrics)
        let lines = om.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.last, "# EOF")
        XCTAssertTrue(lines.contains("# TYPE byoc_requests counter"))
        XCTAssertTrue(lines.contains("# TYPE process_cpu_seconds counter"))
        XCTAssertTrue(lines.contains("process_cpu_seconds_total 1.5"))
        XCTAssertTrue(lines.contains("# TYPE byoc_build info"))
        XCTAssertTrue(lines.contains("byoc_build_info{version=\"0.1.0\"} 1"))
        XCTAssertFalse(lines.contains { $0.hasPrefix("# TYPE") && $0.contains("_total ") })

        let text = PrometheusText.render(s)
        XCTAssertFalse(text.contains("# EOF"))
        XCTAssertTrue(text.contains("# TYPE byoc_requests_total counter\n"))
        XCTAssertTrue(text.contains("# TYPE byoc_build_info gauge\n"))
        XCTAssertTrue(text.contains("process_open_fds 9\n"))
        XCTAssertTrue(text.contains("process_max_fds 1024\n"))
        XCTAssertTrue(text.contains("process_resident_memory_bytes 4096\n"))
    }

    func testNegotiation() {
        XCTAssertEqual(MetricsFormat.negotiate(accept: nil), .prometheus)
        XCTAssertEqual(MetricsFormat.negotiate(accept: "text/plain"), .prometheus)
        XCTAssertEqual(MetricsFormat.negotiate(accept: "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"), .openMetrics)
        XCTAssertEqual(MetricsFormat.negotiate(accept: "application/openmetrics-text;q=0"), .prometheus)
        XCTAssertEqual(MetricsFormat.openMetrics.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    }

    func testProcStatParsing() {
        // The command name may hold spaces and parentheses.
        let stat = "4242 (byoc (gw) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000000 300 18446744073709551615"
        let p = ProcessSample.parse(stat: stat, bootTimeSeconds: 1_700_000_000, ticksPerSecond: 100, pageSize: 4096,
                                    openFDs: 7, maxFDs: 1024)
        XCTAssertEqual(p, ProcessSample(cpuSeconds: 3.0, residentBytes: 300 * 4096, openFDs: 7, maxFDs: 1024,
                                        startTimeSeconds: 1_700_000_123.45))
        XCTAssertNil(ProcessSample.parse(stat: "garbage", bootTimeSeconds: 0, ticksPerSecond: 100, pageSize: 4096, openFDs: 0, maxFDs: 0))
        XCTAssertEqual(ProcessSample.bootTimeSeconds(procStat: "cpu 1 2 3\nbtime 1700000000\nprocesses 5\n"), 1_700_000_000)
        XCTAssertNotNil(ProcessSample.current(), "this test runs on Linux with /proc")
    }
}

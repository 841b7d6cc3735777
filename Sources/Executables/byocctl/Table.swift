import Foundation
import Messages

/// Aligned text columns: two spaces between columns, the last column not padded.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: [String]) { self.headers = headers }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let all = [headers] + rows
        var widths = [Int](repeating: 0, count: headers.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        return all.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                if i == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[i] - cell.count + 2)
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }
}

extension ModelVersion {
    /// Replicas the version runs at least while awake: its minimum, and 1 for a version that
    /// scales to zero (min 0); the gateway's `VersionSpec.floorReplicas`.
    var floorReplicas: Int32 { max(1, minReplicas) }
}

/// How a model version is shown in tables and progress lines.
enum VersionText {
    /// The replicas the version should have: the reconciler's figure, else its floor.
    static func desired(_ v: ModelVersion) -> Int32 {
        v.desiredReplicas > 0 ? v.desiredReplicas : v.floorReplicas
    }

    static func ready(_ v: ModelVersion) -> String { "\(v.readyReplicas)/\(desired(v))" }

    static func name(_ v: ModelVersion) -> String { "\(v.model)/\(v.version)" }

    /// The image, else the command line (shell-quoted).
    static func source(_ v: ModelVersion) -> String {
        if !v.image.isEmpty { return v.image }
        return ShellWords.join(v.command)
    }

    /// `iris/1: DEPLOYING 0/2 ready` (plus the message when there is one).
    static func progress(_ v: ModelVersion) -> String {
        var line = "\(name(v)): \(v.state.name) \(ready(v)) ready"
        // The message adds nothing when it only repeats the counts ("1/2 replicas ready").
        let redundant = v.message == "\(v.readyReplicas)/\(desired(v)) replicas ready"
        if !v.message.isEmpty && !redundant { line += " (\(v.message))" }
        return line
    }

    /// kubectl-style age: 42s, 5m, 3h, 2d.
    static func age(_ createdUnixMs: Int64, now: Date = Date()) -> String {
        guard createdUnixMs > 0 else { return "-" }
        let seconds = max(0, Int(now.timeIntervalSince1970) - Int(createdUnixMs / 1000))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 120 * 60 { return "\(seconds / 60)m" }
        if seconds < 48 * 3600 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// The list table: one row per version of every model.
    static func listTable(_ models: [Model], withMessage: Bool = false) -> Table {
        var headers = ["MODEL", "VERSION", "DEFAULT", "STATE", "READY", "IMAGE/COMMAND", "AGE"]
        if withMessage { headers.append("MESSAGE") }
        var table = Table(headers)
        for model in models.sorted(by: { $0.name < $1.name }) {
            for v in sortedVersions(model.versions) {
                var row = [model.name, v.version, v.version == model.defaultVersion ? "*" : "",
                           v.state.name, ready(v), source(v), age(v.createdUnixMs)]
                if withMessage { row.append(v.message) }
                table.add(row)
            }
        }
        return table
    }

    /// `last called: 1 5s ago, 2 never` and, when a version autoscales on concurrency,
    /// `autoscaling: 1 target 4, scale down after 30s` (before the table, whose rows scripts parse).
    static func lifecycleLines(_ model: Model, now: Date = Date()) -> String {
        let versions = sortedVersions(model.versions)
        guard !versions.isEmpty else { return "" }
        var text = "last called: " + versions.map { v in
            "\(v.version) " + (v.lastCalledUnixMs == 0 ? "never" : age(v.lastCalledUnixMs, now: now) + " ago")
        }.joined(separator: ", ") + "\n"
        let scaled = versions.compactMap { v -> String? in
            guard let a = v.autoscaling, a.targetConcurrency > 0 else { return nil }
            let delay = a.scaleDownDelaySeconds == 0 ? 30 : a.scaleDownDelaySeconds
            return "\(v.version) target \(a.targetConcurrency) (replicas \(v.minReplicas)-\(v.maxReplicas), scale down after \(delay)s)"
        }
        if !scaled.isEmpty { text += "autoscaling: " + scaled.joined(separator: ", ") + "\n" }
        return text
    }

    /// A table of single versions (register and scale answers).
    static func versionTable(_ versions: [ModelVersion]) -> Table {
        var table = Table(["MODEL", "VERSION", "STATE", "READY", "MIN", "MAX", "IMAGE/COMMAND", "AGE", "MESSAGE"])
        for v in versions {
            table.add([v.model, v.version, v.state.name, ready(v), "\(v.minReplicas)", "\(v.maxReplicas)",
                       source(v), age(v.createdUnixMs), v.message])
        }
        return table
    }

    /// Versions in registration order, then by name.
    static func sortedVersions(_ versions: [ModelVersion]) -> [ModelVersion] {
        versions.sorted { ($0.createdUnixMs, $0.version) < ($1.createdUnixMs, $1.version) }
    }
}

/// Prints a response: its JSON (json), the same value as YAML (yaml), else the table text.
enum Output {
    static func emit(_ global: GlobalOptions, json: @autoclosure () -> Any, table: @autoclosure () -> String) {
        switch global.output {
        case .json: Stdout.write(JSONText.render(json()))
        case .yaml: Stdout.write(YAMLText.render(json()))
        case .table: Stdout.write(table())
        }
    }
}

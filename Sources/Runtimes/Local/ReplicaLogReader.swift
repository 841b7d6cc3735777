import Foundation
import Reconciler

/// Reads a local version's replica logs (`<dir>/replica-<n>.log`): the last lines of each file,
/// then, when following, the lines appended since, polled every `pollInterval` (files of
/// replicas started meanwhile are read from their start).
struct ReplicaLogReader: Sendable {
    /// How often a follow looks for new lines (well inside the 2 s a follower expects).
    static let pollInterval: Duration = .milliseconds(250)
    /// Bytes read from a file's end for its tail.
    static let tailWindow = 4 << 20

    let directory: String

    /// The stream `Runtime.logs` returns.
    func lines(tail: Int, follow: Bool) -> AsyncThrowingStream<ReplicaLogLine, Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ReplicaLogLine.self, throwing: Error.self)
        let task = Task {
            var offsets: [Int: UInt64] = [:]
            var partial: [Int: Data] = [:]
            for index in replicaIndexes() {
                let (text, end) = Self.tail(of: path(index), lines: tail)
                offsets[index] = end
                for line in text { continuation.yield(Self.line(index, line)) }
            }
            while follow && !Task.isCancelled {
                try? await Task.sleep(for: Self.pollInterval)
                for index in replicaIndexes() {
                    let (data, end) = Self.read(path(index), from: offsets[index] ?? 0)
                    offsets[index] = end
                    var pending = (partial[index] ?? Data()) + data
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                        continuation.yield(Self.line(index, line))
                        pending = Data(pending[pending.index(after: newline)...])
                    }
                    partial[index] = pending
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func path(_ index: Int) -> String { "\(directory)/replica-\(index).log" }

    /// The replicas that have a log file, by index.
    private func replicaIndexes() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("replica-"), name.hasSuffix(".log") else { return nil }
            return Int(name.dropFirst("replica-".count).dropLast(".log".count))
        }.sorted()
    }

    private static func line(_ index: Int, _ text: String) -> ReplicaLogLine {
        let trimmed = text.hasSuffix("\r") ? String(text.dropLast()) : text
        return ReplicaLogLine(replica: String(index), line: trimmed, timeUnixMs: Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// The last `lines` complete lines of `path`, and the offset just after the last of them.
    static func tail(of path: String, lines: Int) -> ([String], UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ([], 0) }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd() else { return ([], 0) }
        let start = end > UInt64(tailWindow) ? end - UInt64(tailWindow) : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return ([], 0) }
        guard let lastNewline = data.lastIndex(of: 0x0A) else { return ([], start) }
        let complete = data[data.startIndex..<lastNewline]
        var found = complete.split(separator: 0x0A, omittingEmptySubsequences: false)
        if start > 0, !found.isEmpty { found.removeFirst() }  // cut by the window
        let text = found.suffix(lines).map { String(decoding: $0, as: UTF8.self) }
        return (text, start + UInt64(lastNewline - data.startIndex) + 1)
    }

    /// The bytes of `path` from `offset` to its end, and the new end (0 again after truncation).
    static func read(_ path: String, from offset: UInt64) -> (Data, UInt64) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return (Data(), offset) }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd() else { return (Data(), offset) }
        let from = end < offset ? 0 : offset
        guard end > from, (try? handle.seek(toOffset: from)) != nil, let data = try? handle.readToEnd() else {
            return (Data(), end < offset ? 0 : offset)
        }
        return (data, from + UInt64(data.count))
    }
}

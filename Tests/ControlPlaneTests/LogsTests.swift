@testable import Admin
import Foundation
import GRPC
@testable import Local
import Messages
import Registry
import XCTest

/// GetLogs: the Admin API's validation and version resolution, and the local runtime's reader
/// of replica log files (tail, and lines appended while following).
final class LogsTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var registry: Registry!
    /// The keys, tails and follows the log source was asked for.
    private let asked = Asked()

    final class Asked: @unchecked Sendable {
        private let lock = NSLock()
        private var calls: [(VersionKey, Int, Bool)] = []
        func add(_ call: (VersionKey, Int, Bool)) { lock.withLock { calls.append(call) } }
        var all: [(VersionKey, Int, Bool)] { lock.withLock { calls } }
    }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        registry = try Registry(path: directory.file("logs.db"))
    }

    override func tearDown() { directory.cleanUp() }

    private func service() -> AdminService {
        let asked = self.asked
        return AdminService(registry: registry, changed: {}, logs: { key, tail, follow in
            asked.add((key, tail, follow))
            return AsyncThrowingStream { continuation in
                continuation.yield(LogLine(replica: "0", line: "from \(key)", timeUnixMs: 1))
                continuation.finish()
            }
        })
    }

    private func logs(_ request: GetLogsRequest, admin: AdminService? = nil) async throws -> [LogLine] {
        var lines: [LogLine] = []
        for try await bytes in try await (admin ?? service()).stream(method: "GetLogs", request: request.serializedBytes()) {
            lines.append(try LogLine(serializedBytes: bytes))
        }
        return lines
    }

    private func expect(_ code: GRPCStatusCode, _ request: GetLogsRequest, admin: AdminService? = nil,
                        file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await logs(request, admin: admin)
            XCTFail("expected \(code)", file: file, line: line)
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, code, status.message, file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testQueryDefaultsAndLimits() throws {
        XCTAssertEqual(try AdminLogs.query(GetLogsRequest(model: "iris")),
                       AdminLogs.Query(model: "iris", version: "", tail: 100, follow: false))
        XCTAssertEqual(try AdminLogs.query(GetLogsRequest(model: "iris", version: "2", tailLines: 10_000, follow: true)),
                       AdminLogs.Query(model: "iris", version: "2", tail: 10_000, follow: true))
    }

    func testResolvesTheDefaultVersionAndPassesTailAndFollow() async throws {
        _ = try await registry.register(testSpec("iris", "1"))
        _ = try await registry.register(testSpec("iris", "2"))
        _ = try await registry.setDefault(model: "iris", version: "2")
        let lines = try await logs(GetLogsRequest(model: "iris", tailLines: 5, follow: true))
        XCTAssertEqual(lines.map(\.line), ["from iris/2"])
        _ = try await logs(GetLogsRequest(model: "iris", version: "1"))
        let calls = asked.all
        XCTAssertEqual(calls.map(\.0), [VersionKey(model: "iris", version: "2"), VersionKey(model: "iris", version: "1")])
        XCTAssertEqual(calls.map(\.1), [5, 100])
        XCTAssertEqual(calls.map(\.2), [true, false])
    }

    func testUnknownModelOrVersionIsNotFoundAndBadInputIsInvalid() async throws {
        _ = try await registry.register(testSpec("iris", "1"))
        await expect(.notFound, GetLogsRequest(model: "wine"))
        await expect(.notFound, GetLogsRequest(model: "iris", version: "9"))
        await expect(.invalidArgument, GetLogsRequest(model: ""))
        await expect(.invalidArgument, GetLogsRequest(model: "iris", tailLines: -1))
        await expect(.invalidArgument, GetLogsRequest(model: "iris", tailLines: 10_001))
        await expect(.unimplemented, GetLogsRequest(model: "iris"), admin: AdminService(registry: registry, changed: {}))
        XCTAssertTrue(asked.all.isEmpty, "the source is not asked for a refused request")
    }

    func testTailTakesTheLastCompleteLines() throws {
        let path = directory.file("replica-0.log")
        try Data("one\ntwo\nthree\npartial".utf8).write(to: URL(fileURLWithPath: path))
        let (lines, end) = ReplicaLogReader.tail(of: path, lines: 2)
        XCTAssertEqual(lines, ["two", "three"])
        XCTAssertEqual(end, UInt64("one\ntwo\nthree\n".utf8.count), "the partial line is read when it ends")
        XCTAssertEqual(ReplicaLogReader.tail(of: path, lines: 10).0, ["one", "two", "three"])
        XCTAssertEqual(ReplicaLogReader.tail(of: directory.file("missing.log"), lines: 3).0, [])
    }

    func testReadFromAnOffsetStartsAgainAfterTruncation() throws {
        let path = directory.file("replica-1.log")
        try Data("abc\ndef\n".utf8).write(to: URL(fileURLWithPath: path))
        let (data, end) = ReplicaLogReader.read(path, from: 4)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "def\n")
        XCTAssertEqual(end, 8)
        try Data("x\n".utf8).write(to: URL(fileURLWithPath: path))
        let (again, newEnd) = ReplicaLogReader.read(path, from: 8)
        XCTAssertEqual(String(decoding: again, as: UTF8.self), "x\n")
        XCTAssertEqual(newEnd, 2)
    }

    func testFollowYieldsTheTailThenAppendedLinesOfEveryReplica() async throws {
        let logs = directory.file("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try Data("old 0\nlast 0\n".utf8).write(to: URL(fileURLWithPath: logs + "/replica-0.log"))
        try Data("last 1\n".utf8).write(to: URL(fileURLWithPath: logs + "/replica-1.log"))
        var iterator = ReplicaLogReader(directory: logs).lines(tail: 1, follow: true).makeAsyncIterator()
        let first = try await iterator.next()
        let second = try await iterator.next()
        XCTAssertEqual([first?.replica, second?.replica], ["0", "1"])
        XCTAssertEqual([first?.line, second?.line], ["last 0", "last 1"])
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: logs + "/replica-1.log"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("new 1\n".utf8))
        try handle.close()
        try Data("first 2\n".utf8).write(to: URL(fileURLWithPath: logs + "/replica-2.log"))
        var seen: [String] = []
        while seen.count < 2, let next = try await iterator.next() { seen.append("\(next.replica): \(next.line)") }
        XCTAssertEqual(seen.sorted(), ["1: new 1", "2: first 2"])
    }
}

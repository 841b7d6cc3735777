#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import Transport

/// An `EventLoop` running on its own thread for the duration of a test.
final class LoopThread: @unchecked Sendable {
    let loop: EventLoop
    private let finished = DispatchSemaphore(value: 0)
    private let started = DispatchSemaphore(value: 0)
    private(set) var thread: pthread_t?
    private var stopped = false

    init(name: String = "test-loop") throws {
        loop = try EventLoop(name: name)
        let loop = self.loop
        let thread = Thread { [self] in
            self.thread = pthread_self()
            self.started.signal()
            loop.run()
            self.finished.signal()
        }
        thread.name = name
        thread.start()
        started.wait()
    }

    /// True when called on the loop's thread.
    var isOnLoopThread: Bool {
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Runs `body` on the loop and waits for its result.
    func sync<T>(_ body: @escaping () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        var result: T?
        loop.execute {
            result = body()
            done.signal()
        }
        done.wait()
        return result!
    }

    /// Stops the loop and waits (at most `timeout` seconds) for `run()` to return.
    @discardableResult
    func stop(timeout: Double = 5) -> Bool {
        guard !stopped else { return true }
        stopped = true
        loop.stop()
        return finished.wait(timeout: .now() + timeout) == .success
    }
}

/// A value shared between the test thread and a loop thread.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }

    var current: Value { withLock { $0 } }
}

/// Waits until `condition` holds, polling every millisecond; false on timeout.
func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}

/// Polls `fd` for `events` for at most `milliseconds`; returns the revents.
func pollFD(_ fd: Int32, events: Int16, milliseconds: Int32) -> Int16 {
    var entry = pollfd(fd: fd, events: events, revents: 0)
    let rc = poll(&entry, 1, milliseconds)
    return rc > 0 ? entry.revents : 0
}

/// Runs one test of this bundle in a child process with `BYOC_CRASH_PROBE=1`, so code that traps
/// fails one test instead of killing the whole run. Returns (exited normally, status, output).
func runCrashProbe(_ testName: String) throws -> (normalExit: Bool, status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    process.arguments = [testName]
    var environment = ProcessInfo.processInfo.environment
    environment["BYOC_CRASH_PROBE"] = "1"
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationReason == .exit, process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// True inside a crash-probe child process.
var isCrashProbe: Bool { ProcessInfo.processInfo.environment["BYOC_CRASH_PROBE"] == "1" }

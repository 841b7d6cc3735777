import Foundation
import XCTest
@testable import Kubernetes

/// The pods' log API as GetLogs reads it: timestamps, and which run of a container to read.
final class PodLogsTests: XCTestCase {
    func testTimestampedLinesSplitIntoTimeAndText() {
        let (time, text) = PodLogs.split("2026-01-02T03:04:05.678901234Z listening on 127.0.0.1:9000")
        XCTAssertEqual(time, 1_767_323_045_678)
        XCTAssertEqual(text, "listening on 127.0.0.1:9000")
        XCTAssertEqual(PodLogs.split("2026-01-02T03:04:05Z  two spaces").1, " two spaces")
        XCTAssertEqual(PodLogs.rfc3339Millis("2026-01-02T03:04:05.5Z"), 1_767_323_045_500)
        XCTAssertEqual(PodLogs.split("no timestamp here").1, "no timestamp here")
        XCTAssertNil(PodLogs.rfc3339Millis("yesterday"))
    }

    func testAContainerWaitingAfterACrashIsReadFromItsPreviousRun() throws {
        func pod(_ status: String) throws -> JSON {
            try JSON.parse(Data(#"{"metadata":{"name":"p"},"status":{"containerStatuses":[\#(status)]}}"#.utf8))
        }
        XCTAssertTrue(PodLogs.waitingAfterCrash(try pod(#"{"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"exitCode":1}}}"#)))
        XCTAssertFalse(PodLogs.waitingAfterCrash(try pod(#"{"state":{"running":{}},"lastState":{"terminated":{"exitCode":1}}}"#)))
        XCTAssertFalse(PodLogs.waitingAfterCrash(try pod(#"{"state":{"waiting":{"reason":"ContainerCreating"}}}"#)))
        XCTAssertFalse(PodLogs.waitingAfterCrash(try JSON.parse(Data(#"{"metadata":{"name":"p"}}"#.utf8))))
    }
}

@testable import Router
import Foundation
import Synchronization
import XCTest

/// `--hold-max-calls` counted across workers, per version.
final class HoldBudgetTests: XCTestCase {
    func testTheLimitIsPerVersionAndFreedCallsMakeRoom() {
        let budget = HoldBudget(limit: 2)
        XCTAssertTrue(budget.take(model: "m", version: "1"))
        XCTAssertTrue(budget.take(model: "m", version: "1"))
        XCTAssertFalse(budget.take(model: "m", version: "1"), "full")
        XCTAssertEqual(budget.count(model: "m", version: "1"), 2)
        XCTAssertTrue(budget.take(model: "m", version: "2"), "another version has its own")
        budget.give(model: "m", version: "1")
        XCTAssertTrue(budget.take(model: "m", version: "1"))
        budget.give(model: "m", version: "1", count: 5)
        XCTAssertEqual(budget.count(model: "m", version: "1"), 0, "never below zero")
        XCTAssertFalse(HoldBudget(limit: 0).take(model: "m", version: "1"), "0: nothing is held")
    }

    func testWorkersSharingOneBudgetNeverHoldMoreThanTheLimit() {
        let budget = HoldBudget(limit: 100)
        let taken = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 where budget.take(model: "m", version: "1") { taken.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(taken.load(ordering: .relaxed), 100)
        XCTAssertEqual(budget.count(model: "m", version: "1"), 100)
    }
}

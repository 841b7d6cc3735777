@testable import Router
import Foundation
import Synchronization
import XCTest

/// `--hold-max-calls` counted across workers, per version.
final class HoldBudgetTests: XCTestCase {
    private let m1 = StatsKey(model: "m", version: "1")

    func testTheLimitIsPerVersionAndFreedCallsMakeRoom() {
        let budget = HoldBudget(limit: 2)
        XCTAssertTrue(budget.take(m1))
        XCTAssertTrue(budget.take(m1))
        XCTAssertFalse(budget.take(m1), "full")
        XCTAssertEqual(budget.count(m1), 2)
        XCTAssertTrue(budget.take(StatsKey(model: "m", version: "2")), "another version has its own")
        budget.give(m1)
        XCTAssertTrue(budget.take(m1))
        budget.give(m1, count: 5)
        XCTAssertEqual(budget.count(m1), 0, "never below zero")
        XCTAssertFalse(HoldBudget(limit: 0).take(m1), "0: nothing is held")
    }

    func testWorkersSharingOneBudgetNeverHoldMoreThanTheLimit() {
        let budget = HoldBudget(limit: 100)
        let taken = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<50 where budget.take(m1) { taken.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(taken.load(ordering: .relaxed), 100)
        XCTAssertEqual(budget.count(m1), 100)
    }
}

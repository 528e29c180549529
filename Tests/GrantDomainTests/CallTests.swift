import Foundation
import GrantDomain
import Testing

/// A call's window: each rule of OpenCall, ChangeCallWindow and CloseCall as given, when, then.
@Suite("Calls: the window, moved and closed")
struct CallTests {
    let id = UUID(), pool = UUID()
    func day(_ n: Int) -> Date { World.day(n) }
    var opened: CallOpened { CallOpened(callId: id, poolId: pool, title: "June round", opensAt: day(0), closesAt: day(30), cap: nil, occurredAt: day(-10)) }
    func change(opens: Int = 0, closes: Int, at: Int, reason: String = "") -> (CallState) throws(DomainError) -> [any DomainEvent] {
        { state throws(DomainError) in
            try ChangeCallWindow(callId: id, opensAt: day(opens), closesAt: day(closes), reason: reason, at: day(at)).decide(call: state)
        }
    }

    @Test("a deadline moves later, or earlier while it is still ahead")
    func deadlineMoves() {
        given(CallState.self, opened).when(change(closes: 45, at: 10, reason: "the schools asked for time"))
            .then(CallWindowChanged(callId: id, opensAt: day(0), closesAt: day(45), reason: "the schools asked for time", occurredAt: day(10)))
        given(CallState.self, opened).when(change(closes: 20, at: 10))
            .then(CallWindowChanged(callId: id, opensAt: day(0), closesAt: day(20), reason: "", occurredAt: day(10)))
    }

    @Test("a deadline is never moved into the past: closing now is closing the call")
    func notIntoThePast() {
        given(CallState.self, opened).when(change(closes: 9, at: 10))
            .then(refused: .invalidInput(field: "closesAt", reason: "must be in the future (\(day(10).formatted(.iso8601))); to close the call now, close it"))
    }

    @Test("a call that has opened keeps its opening; one not yet open may move it, but not into the past")
    func opening() {
        given(CallState.self, opened).when(change(opens: 5, closes: 40, at: 10))
            .then(refused: .invalidInput(field: "opensAt", reason: "the call opened \(day(0).formatted(.iso8601)) and keeps that opening"))
        given(CallState.self, opened).when(change(opens: 3, closes: 30, at: -5))
            .then(CallWindowChanged(callId: id, opensAt: day(3), closesAt: day(30), reason: "", occurredAt: day(-5)))
        given(CallState.self, opened).when(change(opens: -6, closes: 30, at: -5))
            .then(refused: .invalidInput(field: "opensAt", reason: "must not be in the past (\(day(-5).formatted(.iso8601)))"))
        given(CallState.self, opened).when(change(opens: 31, closes: 30, at: -5))
            .then(refused: .invalidInput(field: "closesAt", reason: "must be after opensAt (\(day(31).formatted(.iso8601)))"))
    }

    @Test("the same window again is no change")
    func unchanged() {
        given(CallState.self, opened).when(change(closes: 30, at: 10)).then(refused: .invalidInput(field: "closesAt", reason: "the window is unchanged"))
    }

    @Test("a call closes early with a reason, and then nothing reopens it: not a change, not a second closing, not one dated before")
    func closingEarly() {
        let close = { (reason: String, at: Int) in
            { (state: CallState) throws(DomainError) -> [any DomainEvent] in try CloseCall(callId: id, reason: reason, at: day(at)).decide(call: state) }
        }
        given(CallState.self, opened).when(close(" ", 10)).then(refused: .invalidInput(field: "reason", reason: "must not be empty"))
        given(CallState.self, opened).when(close("the pool is spent", 10)).then(CallClosed(callId: id, reason: "the pool is spent", occurredAt: day(10)))
        let closed = CallClosed(callId: id, reason: "the pool is spent", occurredAt: day(10))
        given(CallState.self, opened, closed).when(close("again", 12))
            .then(refused: .invalidState(kind: "call", id: id.uuidString, status: "closed", action: "close"))
        given(CallState.self, opened, closed).when(change(closes: 60, at: 12))
            .then(refused: .invalidState(kind: "call", id: id.uuidString, status: "closed", action: "change the window of"))
        // Dated before the closing (a retry of a change that lost the race, a clock behind): still closed.
        given(CallState.self, opened, closed).when(change(closes: 60, at: 9))
            .then(refused: .invalidState(kind: "call", id: id.uuidString, status: "closed", action: "change the window of"))
    }

    @Test("a call past its deadline is closed: it cannot be closed again or reopened")
    func pastItsDeadline() {
        given(CallState.self, opened).when(change(closes: 60, at: 31))
            .then(refused: .invalidState(kind: "call", id: id.uuidString, status: "closed", action: "change the window of"))
    }

    @Test("a call that was never opened is not there")
    func unknown() {
        given(CallState.self).when(change(closes: 60, at: 1)).then(refused: .notFound(kind: "call", id: id.uuidString))
    }
}

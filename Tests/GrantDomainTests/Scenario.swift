import GrantDomain
import Testing

/// A decider's rule as a sentence with its example: given these events,
/// when this command is decided, then these events, or this refusal.
///
///     given(CallState.self, opened, closed)
///         .when { try CloseCall(callId: id, reason: "again", at: day(12)).decide(call: $0) }
///         .then(refused: .invalidState(kind: "call", id: id.uuidString, status: "closed", action: "close"))
func given<A: Aggregate>(_ type: A.Type, _ events: any DomainEvent...) -> Given<A> {
    Given(state: A.replay(events))
}

struct Given<A: Aggregate> {
    let state: A

    func when(_ decide: (A) throws(DomainError) -> [any DomainEvent]) -> Decided {
        do throws(DomainError) {
            return Decided(outcome: .success(try decide(state)))
        } catch {
            return Decided(outcome: .failure(error))
        }
    }
}

struct Decided {
    let outcome: Result<[any DomainEvent], DomainError>

    /// The command is taken and its events are exactly these.
    func then(_ expected: any DomainEvent..., sourceLocation: SourceLocation = #_sourceLocation) {
        switch outcome {
        case .success(let events):
            #expect(events.map { AnyHashable($0) } == expected.map { AnyHashable($0) }, sourceLocation: sourceLocation)
        case .failure(let error):
            Issue.record("expected \(expected.map { type(of: $0).eventType }), refused: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// The command is refused with exactly this error.
    func then(refused expected: DomainError, sourceLocation: SourceLocation = #_sourceLocation) {
        switch outcome {
        case .success(let events):
            Issue.record("expected \(expected.rule), taken: \(events.map { type(of: $0).eventType })", sourceLocation: sourceLocation)
        case .failure(let error):
            #expect(error == expected, sourceLocation: sourceLocation)
        }
    }
}

import GrantCommands
import Testing

/// The command handler's retry policy, without a database: each rule as a
/// sequence of what happened and what the policy says to do next.
@Suite("When a command is decided again, and on what")
struct AttemptPolicyTests {
    @Test("a command is first decided alone, on what this process folded, reading nothing")
    func firstAttempt() {
        let policy = AttemptPolicy(maximumAttempts: 3)
        #expect(policy.step == .decide(trust: .all))
        #expect(policy.attempt == 1)
    }

    @Test("refused on folded states, it is decided again reading what it took as empty, then everything, before the refusal stands")
    func refusalLadder() {
        var policy = AttemptPolicy(maximumAttempts: 3)
        #expect(policy.refused(tookStreamsAsEmpty: true) == .decideAgain(trust: .folded))
        #expect(policy.refused(tookStreamsAsEmpty: false) == .decideAgain(trust: .none))
        #expect(policy.refused(tookStreamsAsEmpty: false) == .refuse)
        #expect(policy.attempt == 1, "deciding again on read states is the same attempt: nothing was appended")
    }

    @Test("refused having taken nothing as empty, it goes straight to reading everything")
    func refusalWithEveryStreamFolded() {
        var policy = AttemptPolicy(maximumAttempts: 3)
        #expect(policy.refused(tookStreamsAsEmpty: false) == .decideAgain(trust: .none))
        #expect(policy.refused(tookStreamsAsEmpty: true) == .refuse, "on everything read, a refusal stands whatever was taken before")
    }

    @Test("a command writing a stream that clashed lately is decided together on it; otherwise it appends")
    func hotStreams() {
        let policy = AttemptPolicy(maximumAttempts: 3)
        #expect(policy.decided(writingHotStream: "pool-1") == .decideTogether(on: "pool-1"))
        #expect(policy.decided(writingHotStream: nil) == .append)
    }

    @Test("after a clash it backs off once and is then decided together on the stream that clashed, every time after")
    func clashes() {
        var policy = AttemptPolicy(maximumAttempts: 4)
        #expect(policy.clashed(on: "pool-1") == .retry(backOff: true))
        #expect(policy.step == .decideTogether(on: "pool-1"))
        #expect(policy.attempt == 2)
        #expect(policy.clashed(on: "meeting-2") == .retry(backOff: false), "only the first clash backs off")
        #expect(policy.step == .decideTogether(on: "meeting-2"))
        #expect(policy.attempt == 3)
    }

    @Test("refused in a batch on cached states, it is decided again together, without backing off")
    func decidedOnCachedState() {
        var policy = AttemptPolicy(maximumAttempts: 3)
        #expect(policy.decidedOnCachedState(queuedOn: "pool-1") == .retry(backOff: false))
        #expect(policy.step == .decideTogether(on: "pool-1"))
        #expect(policy.clashed(on: "pool-1") == .retry(backOff: false), "a clash after queueing does not back off")
    }

    @Test("it gives up after the last attempt, naming the stream that kept changing and how many attempts it made")
    func givesUp() {
        var policy = AttemptPolicy(maximumAttempts: 2)
        #expect(policy.clashed(on: "pool-1") == .retry(backOff: true))
        #expect(policy.clashed(on: "pool-1") == .giveUp(stream: "pool-1", attempts: 2))
        var once = AttemptPolicy(maximumAttempts: 1)
        #expect(once.decidedOnCachedState(queuedOn: "call-9") == .giveUp(stream: "call-9", attempts: 1))
    }
}

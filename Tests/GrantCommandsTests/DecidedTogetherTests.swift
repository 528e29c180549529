import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Testing

@Suite("Commands decided together in one batch")
struct DecidedTogetherTests {
    @Test("a stream a refused command took as empty, for want of a fold, is read for the next command of its batch, not passed on")
    func emptyForWantOfAFoldIsNotPassedOn() async throws {
        try await TestDatabase.withHandler { here in
            let (group, _, call) = try await ApprovalRaceTests.openCall(here, budget: "500000.00")
            // Another process holds a meeting this handler never folded.
            let elsewhere = CommandHandler(store: here.store)
            let application = try await ApprovalRaceTests.draft(elsewhere, call: call, index: 0)
            try await elsewhere.submitApplication(SubmitApplication(applicationId: application, at: ApprovalRaceTests.at.addingTimeInterval(120)),
                                                  TestDatabase.admin())
            let meeting = UUID()
            try await elsewhere.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: ApprovalRaceTests.at.addingTimeInterval(86_400 * 40),
                                                        present: ["m1", "m2"], agenda: [application]), TestDatabase.admin())
            let meetingStream = MeetingState.streamName(meeting)
            let plan: @Sendable (Session) async throws -> [PendingWrite] = { session in
                let loaded = try await session.load(MeetingState.self, meeting)
                guard loaded.state.held != nil else { throw DomainError.notFound(kind: "meeting", id: meeting.uuidString) }
                return [loaded.unchanged()]
            }
            let metadata = EventMetadata(actor: "admin-1", role: "admin", command: "CheckMeeting", correlationId: UUID())
            let batch = DecidedTogether(after: nil)
            // The first command decides on what this handler folded, reading
            // nothing: to it the meeting is empty, so it is refused (and will
            // be decided again, reading). The second, which clashed before,
            // arrives while the batch is still collecting: it reads what the
            // batch does not hold.
            await here.decide([.init(plan: plan, metadata: metadata, idempotency: nil, loaded: [], clashed: false)], on: meetingStream, into: batch)
            await here.decide([.init(plan: plan, metadata: metadata, idempotency: nil, loaded: [meetingStream], clashed: true)], on: meetingStream, into: batch)
            let failures = batch.failures
            #expect(failures.count == 2)
            guard case .failure(let refusal) = failures[0] else {
                Issue.record("the first command was not refused: \(String(describing: failures[0]))")
                return
            }
            #expect(refusal is DecidedOnCachedState, "a refusal on a guess is decided again, not final: \(refusal)")
            #expect(failures[1] == nil, "the second command was refused: \(String(describing: failures[1]))")
            #expect(batch.appends.map(\.job) == [1])
        }
    }
}

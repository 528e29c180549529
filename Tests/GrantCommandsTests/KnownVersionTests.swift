import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Testing

/// A page reads the versions of the streams it shows with its session, and
/// then reads a stream only if that version is not the one this process folded.
@Suite("Reading through folded states at versions known from elsewhere")
struct KnownVersionTests {
    @Test("a stream folded at its known version is not read; one that moved on in another process is, whatever was folded")
    func knownVersions() async throws {
        try await TestDatabase.withHandler { here in
            let (group, _, call) = try await ApprovalRaceTests.openCall(here, budget: "500000.00")
            let application = try await ApprovalRaceTests.draft(here, call: call, index: 0)
            try await here.submitApplication(SubmitApplication(applicationId: application, at: ApprovalRaceTests.at.addingTimeInterval(120)), TestDatabase.admin())
            let meeting = UUID()
            try await here.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: ApprovalRaceTests.at.addingTimeInterval(86_400 * 40),
                                                   present: ["m1", "m2"], agenda: []), TestDatabase.admin())
            let name = MeetingState.streamName(meeting)
            #expect(try await here.current(MeetingState.self, meeting).version == 1)

            // Another process puts the application on the agenda: this one's fold is one event behind.
            let elsewhere = CommandHandler(store: here.store)
            try await elsewhere.changeAgenda(ChangeAgenda(meetingId: meeting, agenda: [application], reason: "", at: Date()), TestDatabase.admin())

            // Told the version it folded, the reader believes it and reads nothing: that is the contract, so the
            // version must come from the store in the same request.
            let believed = try await here.reader(known: [name: 1]).load(MeetingState.self, meeting)
            #expect(believed.version == 1 && believed.state.held?.agenda == [])
            // Told the store's version, it reads what it has not folded, prefetched or not.
            let told = here.reader(known: [name: 2])
            try await told.prefetch([name])
            let current = try await told.load(MeetingState.self, meeting)
            #expect(current.version == 2 && current.state.held?.agenda == [application])
            #expect(try await here.current(MeetingState.self, meeting, known: 2).state.held?.agenda == [application])
            // A stream known to be empty is the initial state, without a read.
            #expect(try await here.current(MeetingState.self, UUID(), known: 0).state.held == nil)
        }
    }
}

import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Testing

@Suite("Verification catches tampering")
struct VerifyTests {
    enum Tamper: String, CaseIterable, Sendable { case alterData, deleteEvent, deleteNewest, insertForged, orphanStream, emptyStreamId, reorderTwo }

    /// A stream with at least three events, and its events' positions by version.
    static func victim(_ store: EventStore) async throws -> (stream: String, positions: [Int64]) {
        let stream = try await store.client.query("""
            SELECT stream_id FROM events GROUP BY stream_id HAVING count(*) >= 3 ORDER BY min(global_position) LIMIT 1
            """).decode(String.self).first { _ in true } ?? ""
        var positions: [Int64] = []
        for try await position in try await store.client.query(
            "SELECT global_position FROM events WHERE stream_id = \(stream) ORDER BY stream_version").decode(Int64.self) {
            positions.append(position)
        }
        return (stream, positions)
    }

    @Test("Altered data, a deleted event, the newest deleted, a forged insert, streams without a head, two events reordered: verify names the first broken link", arguments: Tamper.allCases)
    func tamper(_ tamper: Tamper) async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            try await AuditDatabase.project(store)
            let clean = try await Verifier(store: store, chunkSize: 50).verify()
            #expect(clean.ok, "\(clean.brokenLinks)")
            #expect(clean.eventsChecked == (try await AuditDatabase.int(store, "SELECT count(*) FROM events")))
            #expect(clean.ledgerEntriesChecked == clean.eventsChecked)
            #expect(clean.streamsChecked == (try await AuditDatabase.int(store, "SELECT count(*) FROM streams")))

            let (stream, positions) = try await Self.victim(store)
            // Behind the store's back: the owner lifts the append-only guard.
            try await AuditDatabase.execute(store, "ALTER TABLE events DISABLE TRIGGER events_append_only")
            try await AuditDatabase.execute(store, "ALTER TABLE events DISABLE TRIGGER events_append_locked")
            try await AuditDatabase.execute(store, "ALTER TABLE events DISABLE TRIGGER events_placed_by_the_database")
            let expected: (position: Int64, check: String)
            var expectedStream = stream
            switch tamper {
            case .alterData:
                try await AuditDatabase.execute(store, "UPDATE events SET data = (data::jsonb || '{\"forged\": true}')::json WHERE global_position = \(positions[1])")
                expected = (positions[1], "content-hash")
            case .deleteEvent:
                try await AuditDatabase.execute(store, "DELETE FROM events WHERE global_position = \(positions[1])")
                expected = (positions[1], "ledger-orphan")
            case .deleteNewest:
                // The chain before it holds; the head remembers one more event.
                try await AuditDatabase.execute(store, "DELETE FROM events WHERE global_position = \(positions.last!)")
                expected = (positions[positions.count - 2], "stream-head")
            case .insertForged:
                // A forger who knows the hash function: the stream's chain holds, the stream head does not.
                try await AuditDatabase.execute(store, """
                    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                        occurred_at, recorded_at, previous_hash, hash)
                    SELECT forged.id, stream_id, stream_version + 1, event_type, schema_version, data, metadata,
                           occurred_at, recorded_at, hash,
                           event_hash(hash, forged.id, stream_id, stream_version + 1, event_type, schema_version,
                                      occurred_at, recorded_at, data, metadata)
                    FROM events, (SELECT gen_random_uuid() AS id) forged WHERE global_position = \(positions.last!)
                    """)
                let forged = try await AuditDatabase.int(store, "SELECT max(global_position) FROM events")
                expected = (forged, "stream-head")
            case .orphanStream:
                // A whole stream the store never wrote, sorting after every real one (the last, open-ended chunk).
                try await AuditDatabase.execute(store, """
                    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                        occurred_at, recorded_at, previous_hash, hash)
                    SELECT forged.id, 'zz-forged', 1, event_type, schema_version, data, metadata, occurred_at, recorded_at, ''::bytea,
                           event_hash(''::bytea, forged.id, 'zz-forged', 1, event_type, schema_version, occurred_at, recorded_at, data, metadata)
                    FROM events, (SELECT gen_random_uuid() AS id) forged WHERE global_position = \(positions[0])
                    """)
                expected = (try await AuditDatabase.int(store, "SELECT max(global_position) FROM events"), "stream-head")
                expectedStream = "zz-forged"
            case .emptyStreamId:
                // Sorting before every real stream (the first, open-ended chunk), once its CHECK is dropped.
                try await AuditDatabase.execute(store, "ALTER TABLE events DROP CONSTRAINT events_stream_id_check")
                try await AuditDatabase.execute(store, """
                    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                        occurred_at, recorded_at, previous_hash, hash)
                    SELECT gen_random_uuid(), '', 1, event_type, schema_version, data, metadata, occurred_at, recorded_at, ''::bytea, hash
                    FROM events WHERE global_position = \(positions[0])
                    """)
                expected = (try await AuditDatabase.int(store, "SELECT max(global_position) FROM events"), "content-hash")
                expectedStream = ""
            case .reorderTwo:
                try await AuditDatabase.execute(store, """
                    UPDATE events e SET data = o.data, event_type = o.event_type FROM events o
                    WHERE (e.global_position, o.global_position) IN ((\(positions[1]), \(positions[2])), (\(positions[2]), \(positions[1])))
                    """)
                expected = (positions[1], "content-hash")
            }
            let report = try await Verifier(store: store, chunkSize: 50).verify()
            #expect(!report.ok)
            #expect(report.firstBrokenLink?.position == expected.position, "\(tamper): \(report.brokenLinks)")
            #expect(report.firstBrokenLink?.check == expected.check, "\(tamper): \(report.brokenLinks)")
            #expect(report.firstBrokenLink?.streamId == expectedStream, "\(tamper): \(report.brokenLinks)")
        }
    }

    enum LedgerTamper: String, CaseIterable, Sendable { case alterEventHash, deleteEntry }

    @Test("An altered or deleted ledger entry, at the start of a chunk: verify names it", arguments: LedgerTamper.allCases)
    func tamperLedger(_ tamper: LedgerTamper) async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            try await AuditDatabase.project(store)
            // With chunks of 50, entry 51 opens the second chunk: its predecessor is in the first.
            let position = try await AuditDatabase.int(store, "SELECT global_position FROM read.ledger WHERE sequence = 51")
            let expected: String
            switch tamper {
            case .alterEventHash:
                try await AuditDatabase.execute(store, "UPDATE read.ledger SET event_hash = sha256(event_hash) WHERE sequence = 51")
                expected = "ledger-chain"
            case .deleteEntry:
                try await AuditDatabase.execute(store, "DELETE FROM read.ledger WHERE sequence = 51")
                expected = "ledger-missing"
            }
            let report = try await Verifier(store: store, chunkSize: 50).verify()
            #expect(report.firstBrokenLink?.position == position, "\(tamper): \(report.brokenLinks)")
            #expect(report.firstBrokenLink?.check == expected, "\(tamper): \(report.brokenLinks)")
            let checks = Set(report.brokenLinks.map(\.check))
            #expect(checks == (tamper == .alterEventHash ? ["ledger-chain", "ledger-hash"] : ["ledger-chain", "ledger-missing"]),
                    "\(tamper): \(report.brokenLinks)")
        }
    }

    @Test("The application's role cannot UPDATE or DELETE events while the guard stands")
    func appendOnly() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            for statement in ["UPDATE events SET data = '{}' WHERE global_position = 1", "DELETE FROM events WHERE global_position = 1", "TRUNCATE events"] {
                await #expect(throws: PSQLError.self, "\(statement)") { try await AuditDatabase.execute(store, statement) }
            }
            #expect(try await Verifier(store: store).verify().ok)
        }
    }
}

@Suite("A history exported and imported")
struct ExportHistoryTests {
    @Test("a database's history exported in commit order imports into an empty one, interleaved streams and all, and verifies")
    func roundTrip() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let written = ExportedHistory()
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            _ = try await HistoryGenerator(seed: 5, pools: 2, applicationsPerPool: 30).generate(chunkEvents: 400) { try await store.append($0) }
            FileManager.default.createFile(atPath: file.path, contents: nil)
            let output = try FileHandle(forWritingTo: file)
            let count = try await HistoryFile.export(from: store, to: output, pageSize: 97)
            try output.close()
            written.count = count
            written.streams = try await AuditDatabase.int(store, "SELECT count(DISTINCT stream_id) FROM events")
            #expect(count == (try await AuditDatabase.int(store, "SELECT count(*) FROM events")))
        }
        // Commit order interleaves streams within a batch and across batches.
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        let streams = lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.map { $0["stream"] as! String }
        #expect(zip(streams, streams.dropFirst()).filter { $0 != $1 }.count > Set(streams).count, "the file should interleave streams")

        try await AuditDatabase.with { store, _ in
            let summary = try await HistoryFile.importFile(file, into: store, batchEvents: 250)
            #expect(summary.events == written.count && summary.streams == Int(written.streams))
            try await AuditDatabase.project(store)
            let report = try await Verifier(store: store).verify()
            #expect(report.ok && report.eventsChecked == Int64(written.count), "\(report.brokenLinks)")
            // What the domain folds from it is what it folded before: the demo's pools and grants read back.
            let pools = try await AuditDatabase.int(store, "SELECT count(*) FROM read.pools")
            #expect(pools >= 4)
        }
    }

    final class ExportedHistory: @unchecked Sendable {
        var count = 0
        var streams: Int64 = 0
    }
}

import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Testing

@Suite("Export memory stays flat")
struct ExportMemoryTests {
    /// Appends `count` commitments to the pool's stream through append_events (taking the append lock, as every append), 10,000 per append.
    static func addCommitments(_ store: EventStore, pool: UUID, count: Int) async throws {
        let stream = PoolState.streamName(pool)
        var left = count
        while left > 0 {
            let batch = min(left, 10_000)
            try await AuditDatabase.execute(store, """
                SELECT * FROM append_events(append_lock(ARRAY[1]), ARRAY[\(batch)], ARRAY['\(stream)'], ARRAY[-1]::bigint[],
                    (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, \(batch))),
                    array_fill(1, ARRAY[\(batch)]), array_fill('MoneyCommitted'::text, ARRAY[\(batch)]), array_fill(1, ARRAY[\(batch)]),
                    (SELECT array_agg(json_build_object('grantId', g, 'applicationId', g, 'callId', g, 'meetingId', g, 'period', '2026',
                                                       'amount', json_build_object('amount', '100.00', 'currency', 'DKK'),
                                                       'sources', json_build_array(json_build_object('source', 'region',
                                                           'amount', json_build_object('amount', '100.00', 'currency', 'DKK'))),
                                                       'occurredAt', '2026-01-01T00:00:00.000Z')::text)
                     FROM (SELECT gen_random_uuid() AS g FROM generate_series(1, \(batch))) ids),
                    array_fill('{"actor": "admin:load", "command": "RecordDecision"}'::text, ARRAY[\(batch)]),
                    array_fill(now(), ARRAY[\(batch)]), ARRAY[''], ARRAY[NULL]::bytea[], false)
                """)
            left -= batch
        }
    }

    /// Peak resident memory (kB) of `grantledger export` over the pool, and the rows it wrote.
    static func exportPeak(_ url: String, pool: UUID) throws -> (peakKB: Int, rows: Int) {
        let binary = try #require(executable(), "build the grantledger executable first (ops/test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        process.arguments = ["-f", "peak-kb=%M", binary.path, "export", "--pool", pool.uuidString, "--format", "csv"]
        process.environment = ProcessInfo.processInfo.environment.merging(["DATABASE_URL": url, "LOG_LEVEL": "error"]) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var rows = 0
        let reader = output.fileHandleForReading
        while case let chunk = reader.availableData, !chunk.isEmpty { rows += chunk.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let peak = stderr.split(separator: "\n").compactMap { $0.hasPrefix("peak-kb=") ? Int($0.dropFirst(8)) : nil }.last ?? -1
        #expect(process.terminationStatus == 0, "\(stderr)")
        return (peak, rows - 1)
    }

    static func executable() -> URL? {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("grantledger")
        return [beside, AuditDatabase.root.appendingPathComponent(".build/release/grantledger")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// GL_EXPORT_MOVEMENTS sets the large size (1,000,000 for the figure in the README); CI uses 100,000.
    @Test("Exporting 10x the movements needs about the same memory", .timeLimit(.minutes(20)))
    func flatMemory() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else {
            Issue.record("/usr/bin/time is needed to read the export's peak memory")
            return
        }
        let large = Int(ProcessInfo.processInfo.environment["GL_EXPORT_MOVEMENTS"] ?? "") ?? 100_000
        do { try await Self.measure(large) } catch {
            Issue.record("\(String(reflecting: error))")
        }
    }

    static func measure(_ large: Int) async throws {
        try await AuditDatabase.with { store, url in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            let pool = Demo.nordjyllandPool
            try await Self.addCommitments(store, pool: pool, count: large / 10)
            // Blocking waits belong off the cooperative pool.
            let small = try await Task.detached { try Self.exportPeak(url, pool: pool) }.value
            try await Self.addCommitments(store, pool: pool, count: large - large / 10)
            let big = try await Task.detached { try Self.exportPeak(url, pool: pool) }.value
            print("export peak memory: \(small.rows) movements \(small.peakKB / 1024) MB, \(big.rows) movements \(big.peakKB / 1024) MB")
            #expect(big.rows >= large && small.rows >= large / 10)
            #expect(big.peakKB > 0 && big.peakKB < small.peakKB + 40 * 1024, "peak grew from \(small.peakKB) kB to \(big.peakKB) kB")
        }
    }
}

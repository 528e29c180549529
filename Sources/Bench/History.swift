import Audit
import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import NIOCore
import PostgresNIO
import Programmes
import Projections
import Synchronization

/// A generated history: imported, read, verified, checkpointed, rebuilt and replayed.
extension Benchmark {
    func history() async throws -> [Figure] {
        var figures: [Figure] = []
        let clock = ContinuousClock()
        var started = clock.now

        // Bulk import of the generated history, then a raw COPY of the same rows.
        let generator = HistoryGenerator(seed: 42, pools: options.pools, applicationsPerPool: options.applicationsPerPool)
        let (imported, importRate) = try await importHistory(generator, label: "import")
        let copyRate = try await rawCopy(transaction: imported.transactionId)
        figures.append(Figure(figure: "bulk import (COPY, \(imported.events) events)", value: importRate, unit: "events/s", baseline: copyRate,
                              baselineName: "raw COPY", ratio: importRate / copyRate, target: "≥ 0.7 and ≥ 100,000/s"))

        // A million rows just inserted get autovacuumed within a minute or
        // so, at a moment that falls in one read or another from run to run.
        // Vacuumed now, untimed, every read below finds the table settled,
        // as a server does some minutes after an import.
        let settling = Progress(label: "VACUUM (ANALYZE) events")
        settling.show("untimed, so autovacuum does not run during the reads")
        started = clock.now
        try await store.client.query("VACUUM (ANALYZE) events", logger: logger)
        settling.done(String(format: "%.1f s", (clock.now - started) / .seconds(1)))

        let (catchUpFigures, read) = try await catchUp()
        figures += catchUpFigures

        // Verification of every chain.
        started = clock.now
        let verifyProgress = Progress(label: "verify")
        let report = try await Verifier(store: store).verify { checked, _ in verifyProgress.show("\(checked) events") }
        let verifyRate = Double(report.eventsChecked) / ((clock.now - started) / .seconds(1))
        verifyProgress.done(String(format: "%lld events, %.0f/s, %@", report.eventsChecked, verifyRate, report.ok ? "intact" : "BROKEN"))
        figures.append(Figure(figure: "verify", value: verifyRate, unit: "events/s", target: "≥ 200,000/s"))

        figures += try await checkpointsAndProofs()

        // Rebuild every read model in a process of its own, as an operator
        // runs it: its peak memory is then the rebuild's alone (in this
        // process the imports and reads before it leave 300+ MB resident).
        if let executable = options.serverExecutable {
            Progress(label: "rebuild --all").show("in a process of its own")
            let rebuild = try await Self.runMeasured(executable, ["rebuild", "--all"])
            let rebuildRate = Double(read * allProjections.count) / rebuild.seconds
            figures.append(Figure(figure: "rebuild --all (\(allProjections.count) read models × \(read) events)", value: rebuildRate,
                                  unit: "events/s", target: "≥ 50,000/s"))
            figures.append(Figure(figure: "peak memory of the rebuild --all process", value: rebuild.peakMB, unit: "MB", target: "≤ 300 MB"))
        }

        // As-of replay of one pool with a long history of its own.
        _ = try await importHistory(HistoryGenerator(seed: 7, pools: 1, applicationsPerPool: options.bigPoolApplications), label: "import big pool")
        let largest = try await largestPool()
        started = clock.now
        let state = try await AsOfReplay(store: store).pool(largest, asOf: Date(), basis: .recorded)
        let replaySeconds = (clock.now - started) / .seconds(1)
        Progress(label: "as-of replay").done(String(format: "%d events of one pool in %.2f s", state.eventsApplied, replaySeconds))
        figures.append(Figure(figure: "as-of replay, one pool of \(state.eventsApplied) events", value: replaySeconds * 1_000, unit: "ms"))
        if let executable = options.serverExecutable {
            figures += try await LedgerPageWorkload(benchmark: self, server: URL(fileURLWithPath: executable)).run(pool: largest)
        }
        return figures
    }

    /// A signed checkpoint of the whole history (read every event's hash in
    /// commit order, build the Merkle root, sign), beside a raw read of the
    /// same hashes; then one grant's proof, its size, and its offline check.
    func checkpointsAndProofs() async throws -> [Figure] {
        let clock = ContinuousClock()
        let tree = HistoryTree(store: store)
        let signer = CheckpointSigner(key: .init())
        let progress = Progress(label: "signed checkpoint")
        progress.show("Merkle root of every event, signed")
        var started = clock.now
        let checkpoint = try await tree.signCheckpoint(with: signer)
        let signSeconds = (clock.now - started) / .seconds(1)
        started = clock.now
        var raw = 0
        for try await _ in try await store.client.query(
            "SELECT hash FROM events WHERE transaction_id < pg_snapshot_xmax(pg_current_snapshot()) ORDER BY transaction_id, global_position",
            logger: logger
        ).decode(Data.self) { raw += 1 }
        let rawSeconds = (clock.now - started) / .seconds(1)
        progress.done(String(format: "%lld events in %.2f s; raw SELECT of their hashes %.2f s", checkpoint.size, signSeconds, rawSeconds))

        var grant = ""
        for try await stream in try await store.client.query(
            "SELECT stream_id FROM streams WHERE stream_id LIKE 'grant-%' ORDER BY version DESC LIMIT 1", logger: logger
        ).decode(String.self) { grant = stream }
        started = clock.now
        let bundle = try await tree.proof(of: grant, against: checkpoint)
        let proofSeconds = (clock.now - started) / .seconds(1)
        let bytes = try JSONEncoder().encode(bundle).count
        started = clock.now
        let failures = bundle.failures(trusting: signer.publicKey)
        let checkSeconds = (clock.now - started) / .seconds(1)
        Progress(label: "grant proof").done(String(format: "%d events in %.2f s, %d bytes, checked offline in %.2f ms: ",
                                                   bundle.events.count, proofSeconds, bytes, checkSeconds * 1_000)
                                            + (failures.isEmpty ? "holds" : "FAILS: \(failures)"))
        let rate = Double(checkpoint.size) / signSeconds, rawRate = Double(raw) / rawSeconds
        return [
            Figure(figure: "signed checkpoint (\(checkpoint.size) events)", value: rate, unit: "events/s", baseline: rawRate,
                   baselineName: "raw SELECT of the hashes", ratio: rate / rawRate, target: "≥ 0.3"),
            Figure(figure: "one grant's proof (\(bundle.events.count) events, \(bytes) bytes) at \(checkpoint.size) events",
                   value: proofSeconds * 1_000, unit: "ms"),
            Figure(figure: "that proof checked offline", value: checkSeconds * 1_000, unit: "ms"),
        ]
    }

    /// The history workloads in a `grantledger bench --only history` process
    /// of its own, on a database of its own, when other workloads ran in
    /// this one: a catch-up or a verify runs in a worker or a command that
    /// starts fresh, not in a process the workloads before it have used (its
    /// heap, its connections), and the figures are then of the generated
    /// history alone, not also of the 250,000 or so events the other
    /// workloads left. Nil when they should run here.
    func historyInOwnProcess() async throws -> [Figure]? {
        guard options.workloads != ["history"], let executable = options.serverExecutable,
              let url = ProcessInfo.processInfo.environment["DATABASE_URL"], var components = URLComponents(string: url) else { return nil }
        let database = "grantledger_bench_history_\(tag)"
        components.path = "/" + database
        guard let historyURL = components.string else { return nil }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(tag)-history.json")
        try await store.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        let outcome: Result<[Figure], any Error>
        do {
            Progress(label: "history").done("in a process of its own, on database \(database)")
            _ = try await Self.runMeasured(executable, [
                "bench", "--only", "history", "--part-of-run", "--output", output.path, "--pools", "\(options.pools)",
                "--applications", "\(options.applicationsPerPool)", "--big-pool-applications", "\(options.bigPoolApplications)",
            ], environment: ["DATABASE_URL": historyURL])
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            outcome = .success(try decoder.decode(BenchReport.self, from: Data(contentsOf: output)).figures)
        } catch {
            outcome = .failure(error)
        }
        try? FileManager.default.removeItem(at: output)
        // Not WITH (FORCE): the process has exited, so only autovacuum may
        // be working there, and FORCE refuses to end a worker of a role the
        // bench's is not (42501), where a plain DROP ends it and waits.
        do {
            try await store.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database)"), logger: logger)
        } catch {
            Progress(label: "history").done("database \(database) left behind: \(String(reflecting: error))")
        }
        return try outcome.get()
    }

    /// The generated history through the store's COPY import. The rate
    /// leaves out the time the generator takes to make the events.
    func importHistory(_ generator: HistoryGenerator, label: String) async throws -> (ImportSummary, Double) {
        let progress = Progress(label: label)
        let clock = ContinuousClock(), started = clock.now
        var generating = Duration.zero
        let summary = try await store.importHistory { history in
            var mark = clock.now
            _ = try await generator.generate(chunkEvents: 5_000) { writes in
                generating += clock.now - mark
                try await history.add(writes)
                mark = clock.now
                progress.show("\(history.events) events")
            }
            generating += clock.now - mark
        }
        let rate = Double(summary.events) / ((clock.now - started - generating) / .seconds(1))
        progress.done(String(format: "%d events in %d streams, %.0f/s (generating them took %.1f s more)",
                             summary.events, summary.streams, rate, generating / .seconds(1)))
        return (summary, rate)
    }

    /// The rows the import wrote, as COPY text in a file, then copied raw into
    /// a table like `events` (same columns, indexes and defaults) in one
    /// transaction: rows per second of the COPY alone.
    func rawCopy(transaction: Int64) async throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(tag).copy")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try FileHandle(forWritingTo: file)
        var after: Int64 = 0, rows = 0
        var buffer = Data()
        while true {
            var page = 0
            for try await (position, line) in try await store.client.execute(CopyLines(transaction: transaction, after: after), logger: logger) {
                buffer.append(contentsOf: line.utf8)
                buffer.append(0x0A)
                after = position
                page += 1
            }
            rows += page
            if buffer.count > 1 << 20 || page < CopyLines.pageSize { try output.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
            if page < CopyLines.pageSize { break }
        }
        try output.close()

        try await store.client.query("CREATE TABLE bench_import (LIKE events INCLUDING ALL)", logger: logger)
        let clock = ContinuousClock(), started = clock.now
        let input = try FileHandle(forReadingFrom: file)
        try await store.client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            try await connection.copyFrom(table: "bench_import", columns: HistoryImport.eventColumns, logger: logger) { writer in
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
            }
            try await connection.query("COMMIT", logger: logger)
        }
        let rate = Double(rows) / ((clock.now - started) / .seconds(1))
        try input.close()
        try await store.client.query("DROP TABLE bench_import", logger: logger)
        Progress(label: "raw COPY").done(String(format: "%d rows, %.0f/s", rows, rate))
        return rate
    }

    /// Catch-up read: every event in the store decoded into domain events
    /// (on every core, the next page read while one is decoded), against
    /// the same rows by a raw SELECT. Also the events read.
    func catchUp() async throws -> (figures: [Figure], events: Int) {
        let clock = ContinuousClock()
        var started = clock.now
        var read = 0, decoding = Duration.zero
        var after = Checkpoint.start
        var reader = PageReader(store: store, pageSize: 5_000)
        while true {
            let page = try await reader.page(after: after)
            guard let through = page.through else { break }
            let decodeStarted = clock.now
            _ = try await EventCoding.decodeInParallel(page.events.filter { !$0.type.hasPrefix("Bench") }, among: EventCoding.allEventTypes) {
                ($0.type, $0.schemaVersion, $0.data)
            }
            decoding += clock.now - decodeStarted
            read += page.rowsRead
            after = through
        }
        let readRate = Double(read) / ((clock.now - started) / .seconds(1))
        let decodeRate = Double(read) / (decoding / .seconds(1))
        started = clock.now
        let raw = try await rawSelect()
        let rawRate = Double(raw) / ((clock.now - started) / .seconds(1))
        Progress(label: "catch-up read").done(String(format: "%d events, %.0f/s decoded (decoding alone %.0f/s); raw SELECT %.0f rows/s",
                                                    read, readRate, decodeRate, rawRate))
        return ([Figure(figure: "catch-up read, decoded", value: readRate, unit: "events/s", baseline: rawRate, baselineName: "raw SELECT",
                        ratio: readRate / rawRate, target: "≥ 0.6 and ≥ 200,000/s"),
                 Figure(figure: "of which decoding alone (payload decoder, every core)", value: decodeRate, unit: "events/s")], read)
    }

    /// The same rows as the catch-up read, in the same order and pages, by a
    /// prepared statement decoded to plain columns only.
    func rawSelect() async throws -> Int {
        var count = 0
        var after = (transaction: Int64(0), position: Int64(0))
        while true {
            var page = 0
            for try await row in try await store.client.execute(RawPage(transaction: after.transaction, position: after.position), logger: logger) {
                after = (row.1, row.0)
                page += 1
            }
            count += page
            if page < 5_000 { return count }
        }
    }

    func largestPool() async throws -> UUID {
        let rows = try await store.client.query("""
            SELECT substr(stream_id, 6)::uuid FROM streams WHERE stream_id LIKE 'pool-%' ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return UUID()
    }
}

/// One transaction's events as lines of COPY text, rendered by PostgreSQL.
struct CopyLines: PostgresPreparedStatement {
    static let pageSize = 10_000
    static let sql = """
        SELECT global_position, concat_ws(E'\\t', event_id, replace(stream_id, '\\', '\\\\'), stream_version, event_type, schema_version,
               replace(data::text, '\\', '\\\\'), replace(metadata::text, '\\', '\\\\'), occurred_at, recorded_at,
               replace(previous_hash::text, '\\', '\\\\'), replace(hash::text, '\\', '\\\\'))
        FROM events WHERE transaction_id = $1::text::xid8 AND global_position > $2
        ORDER BY global_position LIMIT \(pageSize)
        """
    typealias Row = (Int64, String)

    var transaction: Int64
    var after: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(String(transaction))
        bindings.append(after)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// A page of every event's columns in commit order, as the event store reads them.
struct RawPage: PostgresPreparedStatement {
    static let sql = """
        SELECT global_position, transaction_id::text::int8, event_id, stream_id, stream_version, event_type, schema_version,
               data::text, metadata::text, occurred_at, recorded_at, hash
        FROM events WHERE (events.transaction_id, global_position) > ($1::text::xid8, $2)
          AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY events.transaction_id, global_position LIMIT 5000
        """
    typealias Row = (Int64, Int64, UUID, String, Int64, String, Int32, String, String, Date, Date, ByteBuffer)

    var transaction: Int64
    var position: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(String(transaction))
        bindings.append(position)
        return bindings
    }

    /// Column by column, as the event store decodes its rows: the fastest
    /// way PostgresNIO offers, so the baseline is not slowed by a tuple decode.
    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = row.makeIterator()
        func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
            guard let cell = cells.next() else { throw PostgresDecodingError.Code.missingData }
            return try cell.decode(T.self)
        }
        return (try next(Int64.self), try next(Int64.self), try next(UUID.self), try next(String.self), try next(Int64.self),
                try next(String.self), try next(Int32.self), try next(String.self), try next(String.self), try next(Date.self),
                try next(Date.self), try next(ByteBuffer.self))
    }
}

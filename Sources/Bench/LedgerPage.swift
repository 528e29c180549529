import Accounts
import EventStore
import Foundation
import GrantAPI
import GrantCommands
import GrantDomain

/// The auditor's ledger page for the pool with the longest history, as an
/// auditor's browser fetches it, beside the JSON export of the same
/// movements: movements per second of each, and how far the server's peak
/// memory rose while it streamed the page (flat: the page is written a page
/// of the history at a time). The server runs without projection workers
/// (the bench has built the read models the page names periods from, and
/// catching up a generated history would share the two cores with the
/// reads) and signs no checkpoint (its read of every event's hash would be
/// measured as the page's).
struct LedgerPageWorkload {
    let benchmark: Benchmark
    let server: URL

    func run(pool: UUID) async throws -> [Figure] {
        let email = "bench.auditor@bench.example"
        let userId = CommandHandler.userId(email: email)
        _ = try await benchmark.handler.inviteUser(
            InviteUser(userId: userId, email: email, name: "Bench Auditor", roles: [RoleGrant(role: .auditor)], at: Date()), Benchmark.admin)
        let accounts = Accounts(store: benchmark.store, hasher: PasswordHasher(cost: 4))
        let cookie = "Cookie: grantledger_session=" + (try await accounts.openSession(for: userId, kind: .browser, address: "bench").token)
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let auditor = try await Authenticator(key: key).token(for: Identity(subject: "bench-auditor", role: .auditor))
        let progress = Progress(label: "ledger page")
        progress.show("streaming the page of pool \(pool)")
        let (page, pageGrowth) = try await measured(key: key, token: auditor, progress: progress) { base in
            try fetch("\(base)/audit/pools/\(pool)/ledger", header: cookie, counting: Data("<tr><td>".utf8))
        } warm: { base in _ = try fetch("\(base)/audit/pools", header: cookie) }
        progress.show("the JSON export of the same movements")
        let (json, jsonGrowth) = try await measured(key: key, token: auditor, progress: progress) { base in
            try fetch("\(base)/v1/audit/export?pool=\(pool)&format=json", header: "Authorization: Bearer \(auditor)")
        } warm: { base in _ = try fetch("\(base)/v1/audit/export?pool=\(UUID())&format=json", header: "Authorization: Bearer \(auditor)", expecting: "404") }
        let movements = Double(page.count)
        progress.done(String(format: "%.0f movements: page %.2f s (%.1f MB, server +%.1f MB), JSON %.2f s (%.1f MB, server +%.1f MB)",
                             movements, page.seconds, page.megabytes, pageGrowth, json.seconds, json.megabytes, jsonGrowth))
        return [
            Figure(figure: "auditor's ledger page (HTML, streamed), one pool of \(page.count) movements", value: movements / page.seconds,
                   unit: "movements/s", baseline: movements / json.seconds, baselineName: "GET /v1/audit/export?format=json (same movements)",
                   ratio: json.seconds / page.seconds, target: "≥ 0.5"),
            Figure(figure: "server's peak memory growth streaming that page (\(String(format: "%.0f", page.megabytes)) MB of HTML)",
                   value: pageGrowth, unit: "MB", baseline: jsonGrowth, baselineName: "the JSON export's, in a server of its own",
                   target: "≤ 16 MB at any size (flat)"),
        ]
    }

    /// `request` against a server of its own (no projection workers), once
    /// `warm` has run there: its result, and how far the server's peak
    /// resident memory rose during it, in MB.
    func measured<T>(key: String, token: String, progress: Progress, _ request: (String) throws -> T,
                     warm: (String) throws -> Void) async throws -> (T, Double) {
        // No checkpoint signed at start either: it reads every event's hash, and its memory would be counted as the request's.
        let (serve, base) = try await HTTPWorkload.serve(server, key: key, arguments: ["--no-workers"], environment: ["GRANTLEDGER_CHECKPOINT_INTERVAL": "0"],
                                                         readyPath: "/livez", token: token, progress: progress)
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        // A first request, so that the high-water mark counts the request measured, not the server's start.
        try warm(base)
        let before = Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0
        let result = try request(base)
        return (result, ((Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0) - before) / 1024)
    }

    /// One GET with curl, the body to a file: its time, size, and how often `counting` occurs in it.
    func fetch(_ url: String, header: String, counting marker: Data? = nil, expecting status: String = "200") throws
        -> (seconds: Double, megabytes: Double, count: Int) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: HTTPWorkload.which("curl") ?? "/usr/bin/curl")
        curl.arguments = ["-s", "-o", file.path, "-w", "%{http_code} %{time_total} %{size_download}", "-H", header, url]
        let output = Pipe()
        curl.standardOutput = output
        try curl.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")
        curl.waitUntilExit()
        guard report.count == 3, report[0] == status, let seconds = Double(report[1]), let bytes = Double(report[2]) else {
            throw BenchFailure("GET \(url) failed: \(report.joined(separator: " "))")
        }
        var count = 0
        if let marker, let first = marker.first {
            // By hand: Foundation's Data.range(of:) takes minutes over 100 MB on Linux.
            let body = try Data(contentsOf: file, options: .alwaysMapped)
            body.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                let pattern = [UInt8](marker)
                var index = 0
                while index + pattern.count <= bytes.count {
                    guard let found = memchr(bytes.baseAddress! + index, Int32(first), bytes.count - index) else { break }
                    index = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                    if index + pattern.count <= bytes.count, memcmp(bytes.baseAddress! + index, pattern, pattern.count) == 0 { count += 1 }
                    index += 1
                }
            }
        }
        return (seconds, bytes / 1_048_576, count)
    }
}

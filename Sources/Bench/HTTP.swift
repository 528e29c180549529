import Accounts
import EventStore
import Foundation
import GrantAPI
import GrantCommands
import GrantDomain

/// The API as deployed: `grantledger serve` in a process of its own, loaded
/// by wrk from another, on this machine's loopback.
struct HTTPWorkload {
    let benchmark: Benchmark
    /// The `grantledger` executable to serve with.
    let server: URL
    let seconds: Int

    static let organisation = "Bench School"

    func run() async throws -> [Figure] {
        guard let wrk = Self.which("wrk") else {
            Progress(label: "http").done("wrk is not installed (ops/bench installs it): skipped")
            return []
        }
        let (poolId, applicationId, callId, groupId, meetingId) = try await setUp()
        // A signed-in applicant: the browser's cookie for the pages, an API session (same resolution) for their JSON.
        let accounts = Accounts(store: benchmark.store, hasher: PasswordHasher(cost: 4))
        let userId = try await benchmarkUser()
        let browser = try await accounts.openSession(for: userId, kind: .browser, address: "bench").token
        let apiSession = try await accounts.openSession(for: userId, kind: .api, address: "bench").token
        let member = try await steeringUser(groupId)
        let memberBrowser = try await accounts.openSession(for: member, kind: .browser, address: "bench").token
        let memberAPI = try await accounts.openSession(for: member, kind: .api, address: "bench").token
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let authenticator = try await Authenticator(key: key)
        let admin = try await authenticator.token(for: Identity(subject: "bench-admin", role: .admin))
        let applicant = try await authenticator.token(for: Identity(subject: "bench-applicant", role: .applicant, organisation: Self.organisation))

        let (serve, base) = try await Self.serve(server, key: key, readyPath: "/v1/pools/\(poolId)", token: admin, progress: Progress(label: "http"))
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        try await Self.waitFor("\(base)/v1/applications/\(applicationId)", token: admin, while: serve)

        var figures: [Figure] = []
        let trivial = try await load(wrk, "\(base)/livez", connections: 64, token: nil, label: "GET /livez")
        figures.append(trivial.figure("HTTP GET /livez (no database), 64 connections", baseline: nil))
        for (label, path) in [("GET pool balance", "/v1/pools/\(poolId)"), ("GET application", "/v1/applications/\(applicationId)")] {
            let result = try await load(wrk, base + path, connections: 64, token: admin, label: label)
            figures.append(result.figure("HTTP \(label), 64 connections", baseline: trivial.rate, target: "≥ 0.5, p99 ≤ 5 ms"))
        }
        // Rendered pages beside the JSON of the same data, both as the signed-in applicant.
        let organisation = Self.organisation.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        for (label, page, json) in [("application page", "/applications/\(applicationId)", "/v1/applications/\(applicationId)"),
                                    ("dashboard", "/", "/v1/applications?organisation=\(organisation)&limit=500")] {
            let data = try await load(wrk, base + json, connections: 16, token: apiSession, label: "JSON for the \(label)")
            let rendered = try await load(wrk, base + page, connections: 16, token: nil, label: "\(label) (HTML)",
                                          headers: ["Cookie": "grantledger_session=\(browser)"])
            figures.append(rendered.figure("HTTP GET \(label) as HTML, 16 connections", baseline: data.rate, baselineName: "GET \(json.prefix { $0 != "?" }) (JSON)",
                                           target: "≥ 0.5, p99 ≤ 20 ms"))
        }
        // A steering member's meeting pack (eight applications, each checked against the rules), beside the agenda's JSON.
        let agenda = try await load(wrk, "\(base)/v1/steering-groups/\(groupId)/agenda", connections: 16, token: memberAPI, label: "JSON for the meeting pack")
        let pack = try await load(wrk, "\(base)/steering/meetings/\(meetingId)", connections: 16, token: nil, label: "meeting pack (HTML)",
                                  headers: ["Cookie": "grantledger_session=\(memberBrowser)"])
        figures.append(pack.figure("HTTP GET meeting pack as HTML, 16 connections", baseline: agenda.rate,
                                   baselineName: "GET /v1/steering-groups/{id}/agenda (JSON)", target: "≥ 0.5, p99 ≤ 20 ms"))
        let body = #"{"callId": "\#(callId)", "organisation": "\#(Self.organisation)", "projectLeader": "Kim", "title": "HTTP bench", "#
            + #""description": "Load", "focusAreas": ["robotics"], "requested": {"amount": "1000.00", "currency": "DKK"}}"#
        let post = try await load(wrk, "\(base)/v1/applications", connections: 16, token: applicant, label: "POST draft application", postBody: body)
        figures.append(post.figure("HTTP POST /v1/applications (draft), 16 connections", baseline: nil))

        return figures
    }

    /// A group, a pool, a call open now, one drafted application and a meeting with eight on its agenda.
    func setUp() async throws -> (pool: UUID, application: UUID, call: UUID, group: UUID, meeting: UUID) {
        let group = try await benchmark.createGroup("HTTP group")
        let (pool, call) = try await benchmark.openPoolAndCall("HTTP", group: group, budget: "50000000.00")
        let application = UUID()
        let content = ApplicationContent(organisation: Self.organisation, projectLeader: "Kim", title: "Robotics", description: "",
                                         requested: try Money("1000.00", .dkk))
        _ = try await benchmark.handler.draftApplication(
            DraftApplication(applicationId: application, callId: call, content: content, at: Date()), Benchmark.admin)
        // A school's dashboard: a dozen applications besides that one (the POST load, after the pages, adds thousands).
        for number in 1...12 {
            var other = content
            other.title = "Project \(number)"
            _ = try await benchmark.handler.draftApplication(
                DraftApplication(applicationId: UUID(), callId: call, content: other, at: Date()), Benchmark.admin)
        }
        // A meeting with eight submitted applications on its agenda, for the steering member's pack.
        var agenda: [UUID] = []
        for number in 1...8 {
            var submitted = content
            submitted.title = "On the agenda \(number)"
            let id = UUID()
            _ = try await benchmark.handler.draftApplication(DraftApplication(applicationId: id, callId: call, content: submitted, at: Date()), Benchmark.admin)
            _ = try await benchmark.handler.submitApplication(SubmitApplication(applicationId: id, at: Date()), Benchmark.admin)
            agenda.append(id)
        }
        let meeting = UUID()
        _ = try await benchmark.handler.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: Date(), present: ["m"], agenda: agenda),
                                                    Benchmark.admin)
        return (pool, application, call, group, meeting)
    }

    /// The applicant the pages are read as: a user of the bench's organisation.
    func benchmarkUser() async throws -> UUID {
        let email = "bench.applicant@bench.example"
        let id = CommandHandler.userId(email: email)
        _ = try await benchmark.handler.inviteUser(
            InviteUser(userId: id, email: email, name: "Bench Applicant", roles: [RoleGrant(role: .applicant, organisation: Self.organisation)], at: Date()),
            Benchmark.admin)
        return id
    }

    /// The steering group's member "m", as a user.
    func steeringUser(_ group: UUID) async throws -> UUID {
        let email = "bench.member@bench.example"
        let id = CommandHandler.userId(email: email)
        _ = try await benchmark.handler.inviteUser(
            InviteUser(userId: id, email: email, name: "Bench Member", roles: [RoleGrant(role: .steering, groupId: group, member: "m")], at: Date()),
            Benchmark.admin)
        return id
    }

    /// `grantledger serve` (with `arguments`) on a free port, once it answers
    /// `readyPath` with 200; another port if the chosen one is taken before
    /// the server binds it. The caller terminates it.
    static func serve(_ server: URL, key: String, arguments: [String] = [], environment: [String: String] = [:], readyPath: String,
                      token: String, progress: Progress) async throws -> (process: Process, base: String) {
        for attempt in 1...3 {
            let port = freePort()
            let serve = Process()
            serve.executableURL = server
            serve.arguments = ["serve"] + arguments
            serve.environment = ProcessInfo.processInfo.environment.merging(
                // The pages measured hold no documents: no scanner is needed.
                ["GRANTLEDGER_PORT": String(port), "GRANTLEDGER_JWT_KEY": key, "LOG_LEVEL": "error", "GRANTLEDGER_VIRUS_SCAN": "off"]
                    .merging(environment) { $1 }) { $1 }
            try serve.run()
            progress.show("waiting for grantledger serve on port \(port)")
            do {
                try await waitFor("http://127.0.0.1:\(port)\(readyPath)", token: token, while: serve)
                return (serve, "http://127.0.0.1:\(port)")
            } catch let failure as BenchFailure where !serve.isRunning && attempt < 3 {
                progress.show("\(failure.description); trying another port")
            }
        }
        throw BenchFailure("grantledger serve did not start")
    }

    /// A port below the kernel's range for outgoing connections, which no
    /// client socket (PostgreSQL's, wrk's) can be holding.
    static func freePort() -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = Int(range.split(whereSeparator: \.isWhitespace).first ?? "") ?? 32_768
        return Int.random(in: 20_000..<max(21_000, low))
    }

    /// Polls with curl until the URL answers 200 (the server is up and its read models have caught up).
    static func waitFor(_ url: String, token: String, while server: Process) async throws {
        for _ in 0..<300 {
            guard server.isRunning else { throw BenchFailure("grantledger serve exited (status \(server.terminationStatus))") }
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: Self.which("curl") ?? "/usr/bin/curl")
            curl.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(token)", url]
            let output = Pipe()
            curl.standardOutput = output
            try curl.run()
            curl.waitUntilExit()
            if String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "200" { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BenchFailure("\(url) did not answer 200 within 60 s")
    }

    struct Result {
        var rate: Double
        var p50: Double, p95: Double, p99: Double, p999: Double, max: Double
        var failures: Int

        func figure(_ name: String, baseline: Double?, baselineName: String = "GET /livez", target: String? = nil) -> Figure {
            var figure = Figure(figure: failures > 0 ? "\(name) (\(failures) non-2xx)" : name, value: rate, unit: "requests/s",
                                baseline: baseline, baselineName: baseline.map { _ in baselineName }, ratio: baseline.map { rate / $0 }, target: target)
            figure.p50Ms = p50
            figure.p95Ms = p95
            figure.p99Ms = p99
            figure.p999Ms = p999
            figure.maxMs = max
            return figure
        }
    }

    /// wrk keeps its latencies in an HDR histogram but prints only a few
    /// rounded percentiles; its `done` hook reads any of them, in microseconds.
    static let latencyReport = """
        done = function(summary, latency, requests)
          io.write(string.format("grantledger-latency-us %d %d %d %d %d\\n", latency:percentile(50), latency:percentile(95),
                                 latency:percentile(99), latency:percentile(99.9), latency.max))
        end
        """

    /// wrk on two threads for the configured time; its latency distribution and rate parsed from its report.
    func load(_ wrk: String, _ url: String, connections: Int, token: String?, label: String, postBody: String? = nil,
              headers: [String: String] = [:]) async throws -> Result {
        let progress = Progress(label: "http \(label)")
        progress.show("\(connections) connections for \(seconds) s")
        var arguments = ["-t2", "-c\(connections)", "-d\(seconds)s"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        var lua = Self.latencyReport
        if let postBody {
            let escaped = postBody.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            lua += """

                wrk.method = "POST"
                wrk.body = '\(escaped)'
                wrk.headers["Content-Type"] = "application/json"
                """
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(UUID().uuidString).lua")
        try lua.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        arguments += ["-s", script.path]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let result = Self.parse(report) else {
            throw BenchFailure("wrk failed on \(url):\n\(report)")
        }
        progress.done(String(format: "%.0f requests/s, p50 %.2f ms, p99 %.2f ms%@", result.rate, result.p50, result.p99,
                             result.failures > 0 ? ", \(result.failures) non-2xx" : ""))
        return result
    }

    static func parse(_ report: String) -> Result? {
        var rate: Double?, failures = 0
        var latencies: [Double]?
        for line in report.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.first == "Requests/sec:", words.count == 2 { rate = Double(words[1]) }
            if line.contains("Non-2xx or 3xx responses:"), let last = words.last { failures = Int(last) ?? 0 }
            if words.first == "grantledger-latency-us", words.count == 6 {
                latencies = words.dropFirst().compactMap { Double($0).map { $0 / 1_000 } }
            }
        }
        guard let rate, let latencies, latencies.count == 5 else { return nil }
        return Result(rate: rate, p50: latencies[0], p95: latencies[1], p99: latencies[2], p999: latencies[3], max: latencies[4], failures: failures)
    }

    static func which(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

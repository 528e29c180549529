import EventStore
import Foundation
import GrantAPI
import Logging
import PostgresNIO
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The real `grantledger serve` process, spoken to over a socket byte by
/// byte: what the HTTP parser refuses is answered as problem+json like
/// everything else, and no request, however hostile, ends the process.
@Suite("A live server under hostile requests")
struct LiveServerTests {
    static let key = "live-test-key-0123456789abcdef0123456789abcdef"

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    @Test("each extreme answers below 500, the parser's refusals are problems, and the server is the same process after", .timeLimit(.minutes(5)))
    func hostileRequests() async throws {
        let binary = try #require(Self.executable(), "build the grantledger executable first (ops/test does)")
        guard let base = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through ops/test")
            return
        }
        let name = "gl_live_\(UUID().uuidString.prefix(8).lowercased())"
        var components = URLComponents(string: base)!
        components.path = "/\(name)"
        try await TestDatabases.create(name, base: base, logger: Harness.logger)
        do {
            try await Self.exercise(binary, url: components.string!)
            try await TestDatabases.drop(name, base: base, logger: Harness.logger)
        } catch {
            try? await TestDatabases.drop(name, base: base, logger: Harness.logger)
            throw error
        }
    }

    static func exercise(_ binary: URL, url: String) async throws {

        let port = try Self.freePort()
        let server = Process()
        server.executableURL = binary
        server.arguments = ["serve"]
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = url
        environment["GRANTLEDGER_PORT"] = String(port)
        environment["GRANTLEDGER_JWT_KEY"] = Self.key
        environment["GRANTLEDGER_MIGRATIONS"] = Harness.root.appendingPathComponent("db").path
        environment["LOG_LEVEL"] = "critical"
        environment["GRANTLEDGER_VIRUS_SCAN"] = "clamscan -d \(try TestVirus.database().path)"
        server.environment = environment
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        let pid = server.processIdentifier

        var ready = false
        for _ in 0..<600 where !ready {
            ready = (try? Self.exchange(port, "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))?.status == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(ready, "the server did not start")

        let auth = try await Authenticator(key: Self.key)
        let admin = try await auth.token(for: Identity(subject: "admin:live", role: .admin))
        func post(_ path: String, _ body: String, token: String = admin) throws -> Answer {
            try Self.exchange(port, "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                              + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        }
        func get(_ path: String, token: String? = admin) throws -> Answer {
            try Self.exchange(port, "GET \(path) HTTP/1.1\r\nHost: x\r\n\(token.map { "Authorization: Bearer \($0)\r\n" } ?? "")Connection: close\r\n\r\n")
        }

        // What the parser refuses is a problem too, and the connection closes.
        let bigHeader = try Self.exchange(port, "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
        #expect(bigHeader.status == 431 && bigHeader.headers["content-type"] == "application/problem+json", "\(bigHeader)")
        #expect(bigHeader.json["rule"] as? String == "headers-too-large")
        for framing in ["Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"] {
            let smuggled = try Self.exchange(port, "POST /v1/steering-groups HTTP/1.1\r\nHost: x\r\n\(framing)\r\n0\r\n\r\n")
            #expect(smuggled.status == 400 && smuggled.headers["content-type"] == "application/problem+json", "\(smuggled)")
            #expect(smuggled.json["rule"] as? String == "malformed-http", "\(smuggled.body)")
        }
        let garbage = try Self.exchange(port, "\u{1}\u{2}NOT HTTP\r\n\r\n")
        #expect(garbage.status == 400 && garbage.headers["content-type"] == "application/problem+json", "\(garbage)")

        // A method a route does not have: 405 naming the ones it has.
        let wrongMethod = try Self.exchange(port, "DELETE /v1/pools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin)\r\nConnection: close\r\n\r\n")
        #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "GET, POST", "\(wrongMethod)")
        #expect(try get("/v1/pools/\(UUID())/nothing").status == 404)

        // A programme to aim at, then every extreme.
        let group = try post("/v1/steering-groups", #"{"name": "G", "members": [{"id": "m", "name": "M", "affiliations": []}]}"#).json["id"] as? String ?? ""
        let pool = try post("/v1/pools", """
            {"name": "P", "owner": "O", "currency": "DKK", "steeringGroupId": "\(group)",
             "periods": [{"period": "2026", "amount": {"amount": "100.00", "currency": "DKK"}}],
             "sources": [{"id": "s", "name": "S", "amount": {"amount": "100.00", "currency": "DKK"}}]}
            """).json["id"] as? String ?? ""
        let call = try post("/v1/pools/\(pool)/calls", #"{"title": "C", "opensAt": "2026-01-01", "closesAt": "9999-01-01"}"#).json["id"] as? String ?? ""
        let applicant = try await auth.token(for: Identity(subject: "a", role: .applicant, organisation: "S"))
        func draft(_ extra: String) -> String {
            #"{"callId": "\#(call)", "organisation": "S", "projectLeader": "L", "title": "T", "description": "d", "requested": {"amount": "1.00", "currency": "DKK"}\#(extra)}"#
        }
        let extremes: [(String, () throws -> Answer)] = [
            ("a meeting in year 300000", { try post("/v1/steering-groups/\(group)/meetings", #"{"date": "300000-01-01T00:00:00Z", "present": ["m"], "agenda": []}"#) }),
            ("a meeting in year 294277", { try post("/v1/steering-groups/\(group)/meetings", #"{"date": "294277-01-01", "present": ["m"], "agenda": []}"#) }),
            ("a call closing 2024-02-30", { try post("/v1/pools/\(pool)/calls", #"{"title": "C", "opensAt": "2024-01-01", "closesAt": "2024-02-30"}"#) }),
            ("a count of 3,000,000,000", { try post("/v1/applications", draft(#", "studentsReached": 3000000000"#), token: applicant) }),
            ("a count past 64 bits", { try post("/v1/applications", draft(#", "studentsReached": 1e400"#), token: applicant) }),
            ("an amount past 64 bits", { try post("/v1/applications", draft("").replacingOccurrences(of: "\"1.00\"", with: "\"99999999999999999999999.00\""), token: applicant) }),
            ("a key given twice", { try post("/v1/steering-groups", #"{"name": "x\u0000y", "name": "ok", "members": []}"#) }),
            ("10,000 levels of nesting", { try post("/v1/steering-groups", String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)) }),
            ("an agenda of 10,001", { try post("/v1/steering-groups/\(group)/meetings",
                                                #"{"date": "2099-01-01", "present": ["m"], "agenda": ["# + Array(repeating: "\"\(UUID())\"", count: 10_001).joined(separator: ",") + "]}") }),
            ("a body just under 1 MiB of one long list", { try post("/v1/applications", draft(#", "focusAreas": ["# + Array(repeating: "\"x\"", count: 250_000).joined(separator: ",") + "]"), token: applicant) }),
            ("a body over 1 MiB", { try post("/v1/steering-groups", #"{"name": ""# + String(repeating: "x", count: 2 << 20) + #"", "members": []}"#) }),
            ("a position past the head, no token", { try get("/v1/public/grants?after=9223372036854775807", token: nil) }),
            ("an as-of in year 0", { try get("/v1/audit/pools/\(pool)?asOf=0000-01-01") }),
            ("a payment request for tranche 2^63", { try post("/v1/grants/\(UUID())/payment-requests", #"{"tranche": 9223372036854775807}"#) }),
        ]
        for (name, send) in extremes {
            let started = ContinuousClock.now
            let answer: Answer
            do {
                answer = try send()
            } catch {
                Issue.record("\(name): \(error)")
                continue
            }
            #expect((400..<500).contains(answer.status) || (200..<300).contains(answer.status), "\(name): \(answer.status) \(answer.body.prefix(300))")
            #expect(answer.status < 300 || answer.headers["content-type"] == "application/problem+json", "\(name): \(answer.headers)")
            // A guard against a request held without end; that a position past the head is answered
            // without waiting the read bound is LifecycleTests' (staleRead), with a bound long enough for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(60), "\(name) held the request")
            #expect(server.isRunning && server.processIdentifier == pid && kill(pid, 0) == 0, "\(name) ended the server")
        }
        // A document cut off half way (past its first stored chunk): nothing of it stays; a whole one after is attached.
        let application = try post("/v1/applications", draft(""), token: applicant).json["id"] as? String ?? ""
        let head = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"evidence.pdf\"\r\n\r\n%PDF-1.7\n"
        let upload = "POST /v1/applications/\(application)/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(applicant)\r\n"
            + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: \(3 << 20)\r\n\r\n" + head
        try Self.sendAndHangUp(port, upload + String(repeating: "x", count: 3 << 19))
        var chunksLeft = -1
        for _ in 0..<100 where chunksLeft != 0 {
            try await Task.sleep(for: .milliseconds(100))
            chunksLeft = try await Self.count(url, "SELECT count(*) FROM document_chunks")
        }
        #expect(chunksLeft == 0, "a cut-off upload keeps no chunks")
        let whole = head + "whole\n\r\n--b--\r\n"
        let attached = try Self.exchange(port, upload.replacingOccurrences(of: "Content-Length: \(3 << 20)", with: "Content-Length: \(whole.utf8.count)")
                                         .replacingOccurrences(of: head, with: "") + whole)
        #expect(attached.status == 201 && attached.json["scan"] as? String == "clean", "\(attached)")
        // A Content-Length shorter than the body: the body read ends inside the file, refused, nothing kept.
        let short = try Self.exchange(port, upload.replacingOccurrences(of: "Content-Length: \(3 << 20)", with: "Content-Length: \(whole.utf8.count - 12)")
                                      .replacingOccurrences(of: head, with: "") + whole.replacingOccurrences(of: "whole", with: "short"))
        // What follows the body is read as the next request, which the parser may refuse first: either way a 400 problem.
        #expect(short.status == 400 && ["invalid-multipart", "malformed-http"].contains(short.json["rule"] as? String), "\(short)")
        #expect(try await Self.count(url, "SELECT count(*) FROM document_chunks WHERE upload_id NOT IN (SELECT upload_id FROM document_contents)") == 0)
        #expect(try await Self.count(url, "SELECT count(*) FROM document_contents") == 1)

        let stale = try get("/v1/public/grants?after=9223372036854775807", token: nil)
        #expect(stale.status == 200 && stale.headers["read-stale"] == "true")

        // The same process answers, its read models running; anonymous callers see states and counts, not errors.
        #expect(server.isRunning && server.processIdentifier == pid)
        let health = try get("/health", token: nil)
        #expect(health.status == 200, "\(health.body)")
        let projections = health.json["projections"] as? [[String: Any]] ?? []
        #expect(!projections.isEmpty && projections.allSatisfy { $0["state"] as? String == "running" && $0["error"] == nil }, "\(projections)")
        server.terminate()
        while server.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// The `grantledger` built beside this test bundle, else the release build.
    static func executable() -> URL? {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("grantledger")
        return [beside, Harness.root.appendingPathComponent(".build/release/grantledger")].first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                guard bind(socket, $0, length) == 0, getsockname(socket, $0, &length) == 0 else { throw POSIXError(.EADDRINUSE) }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends the start of a request and hangs up, as a client whose upload is cut off.
    static func sendAndHangUp(_ port: Int, _ request: String) throws {
        let socket = try send(port, request)
        close(socket)
    }

    /// A connection to the server on `port` with `request` sent as written (as much as the server reads): the socket.
    static func send(_ port: Int, _ request: String) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }  // the server may answer and close before reading it all
            sent += written
        }
        return socket
    }

    static func count(_ url: String, _ sql: String) async throws -> Int {
        try await PostgresClient.withRunning(try DatabaseURL.configuration(url), logger: Harness.logger) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::int8"), logger: Harness.logger).decode(Int.self) {
                return value
            }
            return -1
        }
    }

    /// Sends `request` as written and reads the answer until the server closes the connection.
    static func exchange(_ port: Int, _ request: String) throws -> Answer {
        let socket = try send(port, request)
        defer { close(socket) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
            if let answer = parse(received), answer.complete { return answer.answer }
        }
        return try parse(received)?.answer ?? { throw POSIXError(.ECONNRESET) }()
    }

    /// An HTTP/1.1 answer with a Content-Length body, and whether all of it has arrived.
    static func parse(_ bytes: [UInt8]) -> (answer: Answer, complete: Bool)? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = String(text[end.upperBound...])
        let length = headers["content-length"].flatMap { Int($0) } ?? 0
        return (Answer(status: status, headers: headers, body: body), body.utf8.count >= length)
    }
}

import Foundation
import GrantAPI
import GrantDomain

/// A 25 MB document uploaded (multipart, streamed into 1 MiB chunks while
/// it is hashed) and downloaded (re-hashed as it streams) through a server
/// of its own, beside a plain binary COPY of the same bytes into a bytea
/// column and a COPY of them out, by psql: throughput of each, and the
/// server's peak memory growth against psql's peak. Scanning is off: the
/// scanner's time is ClamAV's, not the store's.
struct DocumentsWorkload {
    let benchmark: Benchmark
    let server: URL
    static let size = 25_000_000
    static let repetitions = 3
    static let boundary = "grantledger-bench-boundary"

    func run() async throws -> [Figure] {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], let psql = HTTPWorkload.which("psql") else {
            throw BenchFailure("the documents workload needs DATABASE_URL and psql")
        }
        let progress = Progress(label: "documents")
        let group = try await benchmark.createGroup("documents")
        let (_, call) = try await benchmark.openPoolAndCall("documents", group: group)
        let application = UUID()
        _ = try await benchmark.handler.draftApplication(DraftApplication(
            applicationId: application, callId: call,
            content: ApplicationContent(organisation: "Bench School", projectLeader: "Leader", title: "Documents", description: "",
                                        requested: try Money("10000.00", .dkk)), at: Date()), Benchmark.admin)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-documents-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        // Distinct random bytes each time: the same bytes twice would be stored once.
        var bodies: [URL] = [], copies: [URL] = []
        for index in 0..<Self.repetitions {
            progress.show("writing test file \(index + 1) of \(Self.repetitions)")
            var bytes = [UInt8](repeating: 0, count: Self.size)
            var generator = SystemRandomNumberGenerator()
            bytes.withUnsafeMutableBytes { buffer in
                for offset in stride(from: 0, to: buffer.count - 7, by: 8) { buffer.storeBytes(of: generator.next() as UInt64, toByteOffset: offset, as: UInt64.self) }
            }
            // A PDF's signature, so the sniffer takes it.
            bytes.replaceSubrange(0..<5, with: Array("%PDF-".utf8))
            let body = folder.appendingPathComponent("body-\(index)")
            var multipart = Data("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench-\(index).pdf\"\r\n\r\n".utf8)
            multipart.append(contentsOf: bytes)
            multipart.append(Data("\r\n--\(Self.boundary)--\r\n".utf8))
            try multipart.write(to: body)
            bodies.append(body)
            // PostgreSQL's binary COPY format: header, one tuple of one field, trailer.
            var copy = Data([0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]) + Data(count: 8)
            copy.append(contentsOf: [0x00, 0x01])
            withUnsafeBytes(of: UInt32(Self.size).bigEndian) { copy.append(contentsOf: $0) }
            copy.append(contentsOf: bytes)
            copy.append(contentsOf: [0xFF, 0xFF])
            let copyFile = folder.appendingPathComponent("copy-\(index)")
            try copy.write(to: copyFile)
            copies.append(copyFile)
        }

        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let admin = try await Authenticator(key: key).token(for: Identity(subject: "bench-admin", role: .admin))
        let (serve, base) = try await HTTPWorkload.serve(server, key: key, arguments: ["--no-workers"],
                                                         environment: ["GRANTLEDGER_CHECKPOINT_INTERVAL": "0", "GRANTLEDGER_VIRUS_SCAN": "off"],
                                                         readyPath: "/livez", token: admin, progress: progress)
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        let documents = "\(base)/v1/applications/\(application.uuidString.lowercased())/documents"
        // A first small upload and download, so the high-water mark counts the 25 MB ones, not the server's start.
        let warm = folder.appendingPathComponent("warm")
        try Data("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"warm.pdf\"\r\n\r\n%PDF-warm\r\n--\(Self.boundary)--\r\n".utf8)
            .write(to: warm)
        let warmAnswer = try curl(["-X", "POST", "-H", "Expect:", "-H", "Content-Type: multipart/form-data; boundary=\(Self.boundary)", "-T", warm.path, documents],
                                  token: admin, expecting: "201").body
        if let json = try JSONSerialization.jsonObject(with: warmAnswer) as? [String: Any], let digest = json["sha256"] as? String {
            _ = try curl(["\(documents)/\(digest)"], token: admin, expecting: "200")
        }
        var digests: [String] = []
        var uploadSeconds = 0.0, downloadSeconds = 0.0
        Benchmark.resetHighWaterMark(serve.processIdentifier)
        let before = Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0
        for (index, body) in bodies.enumerated() {
            progress.show("upload \(index + 1) of \(Self.repetitions)")
            let (seconds, answer) = try curl(["-X", "POST", "-H", "Expect:", "-H", "Content-Type: multipart/form-data; boundary=\(Self.boundary)",
                                              "-T", body.path, documents], token: admin, expecting: "201")
            uploadSeconds += seconds
            guard let json = try JSONSerialization.jsonObject(with: answer) as? [String: Any], let digest = json["sha256"] as? String else {
                throw BenchFailure("the upload answered no digest")
            }
            digests.append(digest)
        }
        let uploadGrowth = ((Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0) - before) / 1024
        // The peak so far is the uploads': reset, so the downloads' is their own.
        Benchmark.resetHighWaterMark(serve.processIdentifier)
        let beforeDownloads = Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0
        for (index, digest) in digests.enumerated() {
            progress.show("download \(index + 1) of \(Self.repetitions)")
            downloadSeconds += try curl(["\(documents)/\(digest)"], token: admin, expecting: "200").seconds
        }
        let downloadGrowth = ((Benchmark.highWaterMarkKB(serve.processIdentifier) ?? 0) - beforeDownloads) / 1024

        let table = "bench_documents_\(benchmark.tag)"
        _ = try await Benchmark.runMeasured(psql, ["-q", url, "-c", "CREATE TABLE \(table) (id serial PRIMARY KEY, bytes bytea NOT NULL)"])
        var copyInSeconds = 0.0, copyOutSeconds = 0.0, copyInPeak = 0.0, copyOutPeak = 0.0
        for (index, copy) in copies.enumerated() {
            progress.show("COPY in and out \(index + 1) of \(Self.repetitions)")
            let copied = try await Benchmark.runMeasured(psql, ["-q", url, "-c", "\\copy \(table) (bytes) FROM '\(copy.path)' WITH (FORMAT binary)"])
            (copyInSeconds, copyInPeak) = (copyInSeconds + copied.seconds, max(copyInPeak, copied.peakMB))
            let read = try await Benchmark.runMeasured(psql, ["-q", url, "-c",
                                                             "\\copy (SELECT bytes FROM \(table) WHERE id = \(index + 1)) TO '/dev/null' WITH (FORMAT binary)"])
            (copyOutSeconds, copyOutPeak) = (copyOutSeconds + read.seconds, max(copyOutPeak, read.peakMB))
        }
        _ = try await Benchmark.runMeasured(psql, ["-q", url, "-c", "DROP TABLE \(table)"])
        let megabytes = Double(Self.size * Self.repetitions) / 1_000_000
        progress.done(String(format: "upload %.1f MB/s (server +%.1f MB), download %.1f MB/s (server +%.1f MB); COPY in %.1f MB/s, out %.1f MB/s",
                             megabytes / uploadSeconds, uploadGrowth, megabytes / downloadSeconds, downloadGrowth,
                             megabytes / copyInSeconds, megabytes / copyOutSeconds))
        return [
            Figure(figure: "document upload, 25 MB multipart, streamed, hashed, chunked (scan off)", value: megabytes / uploadSeconds, unit: "MB/s",
                   baseline: megabytes / copyInSeconds, baselineName: "psql \\copy of the same bytes into a bytea column (binary COPY)",
                   ratio: copyInSeconds / uploadSeconds, target: "≥ 0.5"),
            Figure(figure: "document download, 25 MB, re-hashed as it streams", value: megabytes / downloadSeconds, unit: "MB/s",
                   baseline: megabytes / copyOutSeconds, baselineName: "psql \\copy of that bytea out (binary COPY)",
                   ratio: copyOutSeconds / downloadSeconds, target: "≥ 0.5"),
            Figure(figure: "server's peak memory growth over three 25 MB uploads", value: uploadGrowth, unit: "MB",
                   baseline: copyInPeak, baselineName: "psql's peak resident memory copying one in", target: "≤ 16 MB (never the whole file)"),
            Figure(figure: "server's peak memory growth over three 25 MB downloads", value: downloadGrowth, unit: "MB",
                   baseline: copyOutPeak, baselineName: "psql's peak resident memory copying one out", target: "≤ 16 MB (never the whole file)"),
        ]
    }

    /// One curl request: its time, and the body it answered.
    func curl(_ arguments: [String], token: String, expecting status: String) throws -> (seconds: Double, body: Data) {
        // A download's body is thrown away as it comes; an upload's answer is kept.
        let output = status == "200" ? URL(fileURLWithPath: "/dev/null")
            : FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(UUID().uuidString)")
        defer { if status != "200" { try? FileManager.default.removeItem(at: output) } }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: HTTPWorkload.which("curl") ?? "/usr/bin/curl")
        curl.arguments = ["-s", "-o", output.path, "-w", "%{http_code} %{time_total}", "-H", "Authorization: Bearer \(token)"] + arguments
        let pipe = Pipe()
        curl.standardOutput = pipe
        try curl.run()
        let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: " ")
        curl.waitUntilExit()
        let body = status == "200" ? Data() : (try? Data(contentsOf: output)) ?? Data()
        guard report.count == 2, report[0] == status, let seconds = Double(report[1]) else {
            throw BenchFailure("curl \(arguments.last ?? "") answered \(report.joined(separator: " ")): \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        return (seconds, body)
    }
}

import Foundation
import GrantDomain

/// What a scan found.
public struct ScanResult: Hashable, Sendable {
    public var verdict: ScanVerdict
    public var signature: String?
    /// The scanner and its signatures' version.
    public var scanner: String
}

public struct ScannerFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Scans a document's bytes before anyone but its uploader may download them.
public protocol VirusScanner: Sendable {
    /// The scanner and its signatures' version: a verdict by the same one need not be sought again.
    var version: String { get }
    func scan(fileAt path: URL) async throws -> ScanResult
}

/// ClamAV through a command that takes a file's path and answers as
/// clamscan does (exit 0 clean, 1 infected with `PATH: SIGNATURE FOUND`,
/// 2 an error): `clamscan` itself, or `clamdscan --fdpass` to reuse a
/// running clamd's loaded signatures.
public struct ClamAVScanner: VirusScanner {
    public let command: [String]
    /// `--version` of the command, read once: "ClamAV 1.4.6/27400/…".
    public let version: String

    public init(command: [String]) async throws {
        guard !command.isEmpty else { throw ScannerFailure(description: "no scanner command") }
        let answer = try await Self.run(command + ["--version"])
        guard answer.status == 0 else { throw ScannerFailure(description: "\(command[0]) --version failed: \(answer.output)") }
        (self.command, self.version) = (command, answer.output.trimmingCharacters(in: .whitespacesAndNewlines))
        // A scanner without signatures answers every scan with an error: found now, not at the first upload.
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-scan-probe-\(UUID().uuidString)")
        try Data("GrantLedger checks that its virus scanner answers.\n".utf8).write(to: probe)
        defer { try? FileManager.default.removeItem(at: probe) }
        guard try await scan(fileAt: probe).verdict == .clean else { throw ScannerFailure(description: "\(command[0]) finds a virus in a line of text") }
    }

    public func scan(fileAt path: URL) async throws -> ScanResult {
        let answer = try await Self.run(command + ["--no-summary", path.path])
        switch answer.status {
        case 0: return ScanResult(verdict: .clean, signature: nil, scanner: version)
        case 1:
            let found = answer.output.split(separator: "\n").first { $0.hasSuffix(" FOUND") }
            let signature = found.map { line in
                String(line.dropLast(" FOUND".count).split(separator: " ").last ?? "unknown")
            } ?? "unknown"
            return ScanResult(verdict: .infected, signature: signature, scanner: version)
        default:
            throw ScannerFailure(description: "\(command[0]) exited \(answer.status): \(answer.output.prefix(500))")
        }
    }

    /// At most this many scans at once: each clamscan loads every signature (about 1 GB with ClamAV's own).
    static let turns = Turns(count: 2)
    /// A scan that has not answered in this long is stopped and counted as failed.
    static let timeout = Duration.seconds(300)

    /// Runs the command to its end, its output (stdout and stderr) through a
    /// file, so a scanner that says much never blocks on a full pipe.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await turns.take()
        defer { Task { await turns.give() } }
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-scan-output-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outputFile.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let output = try FileHandle(forWritingTo: outputFile)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
            Task {
                try? await Task.sleep(for: timeout)
                if process.isRunning { process.terminate() }
            }
        }
        let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        return (status, String(text.prefix(4096)))
    }
}

/// A counting semaphore for async callers.
actor Turns {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    func take() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func give() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

extension DocumentIntake {
    /// Scans the upload's bytes before they are filed, written to a private
    /// temporary file for the scanner to read, and removed after.
    public func scan(with scanner: any VirusScanner) async throws -> ScanResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-scan-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw ScannerFailure(description: "cannot write \(file.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        try await store.read(upload: upload) { chunk in try handle.write(contentsOf: chunk.readableBytesView) }
        try handle.close()
        return try await scanner.scan(fileAt: file)
    }
}

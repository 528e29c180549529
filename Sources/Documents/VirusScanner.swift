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

    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                continuation.resume(returning: (process.terminationStatus, text))
            }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
    }
}

extension DocumentStore {
    /// Scans the bytes stored under `digest`, written to a private temporary
    /// file for the scanner to read, and removed after.
    public func scan(_ digest: DocumentDigest, with scanner: any VirusScanner) async throws -> ScanResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-scan-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw ScannerFailure(description: "cannot write \(file.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        let found = try await read(digest) { chunk in try handle.write(contentsOf: chunk.readableBytesView) }
        try handle.close()
        guard found else { throw ScannerFailure(description: "no bytes stored under \(digest)") }
        return try await scanner.scan(fileAt: file)
    }
}

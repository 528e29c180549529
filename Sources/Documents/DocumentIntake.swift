import Crypto
import Foundation
import GrantDomain
import NIOCore

/// Why an upload was not taken; each names the rule, for a problem+json answer.
public enum IntakeRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case tooLarge(limit: Int64)
    case notAllowed(mediaType: String)

    public var description: String {
        switch self {
        case .empty: "the file is empty"
        case .tooLarge(let limit): "the file is larger than the cap of \(limit) bytes"
        case .notAllowed(let mediaType):
            "the file is \(mediaType), which is not among the kinds taken (\(DocumentKinds.allowed.values.sorted().joined(separator: ", ")))"
        }
    }
}

/// Takes one upload's bytes as they arrive: hashes them, writes them to the
/// store a chunk at a time, and keeps only the chunk being filled and the
/// first bytes (to sniff the kind) in memory, whatever the file's size.
public struct DocumentIntake {
    public static let chunkSize = 1 << 20

    let store: any DocumentStore
    let limit: Int64
    let upload = UUID()
    private var hasher = SHA256()
    private var pending = ByteBuffer()
    private var head: [UInt8] = []
    private var chunks = 0
    public private(set) var size: Int64 = 0
    private var sealed: DocumentFacts?

    public init(store: any DocumentStore, limit: Int64) {
        (self.store, self.limit) = (store, limit)
    }

    /// Takes the next bytes; over the cap, the upload is discarded and refused.
    public mutating func write(_ bytes: ByteBuffer) async throws {
        size += Int64(bytes.readableBytes)
        guard size <= limit else {
            try await store.discard(upload: upload)
            throw IntakeRefusal.tooLarge(limit: limit)
        }
        bytes.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        if head.count < MediaSniffer.headLength {
            head += bytes.getBytes(at: bytes.readerIndex, length: min(bytes.readableBytes, MediaSniffer.headLength - head.count)) ?? []
        }
        var bytes = bytes
        pending.writeBuffer(&bytes)
        while pending.readableBytes >= Self.chunkSize {
            try await store.putChunk(upload: upload, index: chunks, bytes: pending.readSlice(length: Self.chunkSize)!)
            chunks += 1
        }
        if pending.readerIndex >= Self.chunkSize { pending.discardReadBytes() }
    }

    /// The facts of the whole upload once its kind is one taken; refused, the upload is discarded.
    public mutating func seal(fileName: String) async throws -> DocumentFacts {
        do {
            guard size > 0 else { throw IntakeRefusal.empty }
            let mediaType = MediaSniffer.mediaType(of: head, fileName: fileName)
            guard DocumentKinds.allowed[mediaType] != nil else { throw IntakeRefusal.notAllowed(mediaType: mediaType) }
            if pending.readableBytes > 0 {
                try await store.putChunk(upload: upload, index: chunks, bytes: pending)
                chunks += 1
                pending.clear()
            }
            let facts = DocumentFacts(sha256: DocumentDigest(bytes: hasher.finalize()), size: size, mediaType: mediaType,
                                      fileName: DocumentKinds.fileName(fileName, for: mediaType))
            sealed = facts
            return facts
        } catch {
            await abandon()
            throw error
        }
    }

    /// Files the sealed upload under its digest (the same bytes twice are stored once).
    public func file() async throws {
        guard let sealed else { preconditionFailure("file() before seal()") }
        _ = try await store.commit(upload: upload, digest: sealed.sha256, size: sealed.size)
    }

    /// Drops what was written: the upload was cut off or is not wanted.
    public func abandon() async {
        try? await store.discard(upload: upload)
    }
}

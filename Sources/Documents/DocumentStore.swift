import EventStore
import Foundation
import GrantDomain
import Logging
import NIOCore
import PostgresNIO

/// Where documents' bytes live, apart from the event log, under their
/// SHA-256. An upload arrives as numbered chunks under an id of its own and
/// is filed under its digest once it is whole; a cut-off upload is
/// discarded. PostgreSQL is the default; an object store fits the same four
/// verbs (parts, then a copy to the digest's key).
public protocol DocumentStore: Sendable {
    /// Keeps chunk `index` of an upload not yet finished.
    func putChunk(upload: UUID, index: Int, bytes: ByteBuffer) async throws
    /// Files the upload's chunks under `digest`. False when those bytes were
    /// stored already: the upload's chunks are dropped, and the first copy stays.
    func commit(upload: UUID, digest: DocumentDigest, size: Int64) async throws -> Bool
    /// Drops an upload's chunks: it was cut off, too large, or refused.
    func discard(upload: UUID) async throws
    /// The size filed for `digest`; nil when nothing is stored under it.
    func size(of digest: DocumentDigest) async throws -> Int64?
    /// Hands the bytes stored under `digest` to `body` a chunk at a time, in
    /// order; false when nothing is stored under it.
    func read(_ digest: DocumentDigest, _ body: (ByteBuffer) async throws -> Void) async throws -> Bool
    /// Hands an upload's bytes, filed or not, to `body` a chunk at a time (to scan them before they are filed).
    func read(upload: UUID, _ body: (ByteBuffer) async throws -> Void) async throws
}

/// Chunked `bytea` in tables of their own (db/migrations/0002_documents.sql).
/// Each chunk is its own short statement: an upload from a slow client
/// holds no transaction open, which would hold back the horizon readers of
/// the event log wait for (the cluster's oldest running transaction).
public struct PostgresDocumentStore: DocumentStore {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        (self.client, self.logger) = (client, logger)
    }

    public func putChunk(upload: UUID, index: Int, bytes: ByteBuffer) async throws {
        try await client.query("INSERT INTO document_chunks (upload_id, seq, bytes) VALUES (\(upload), \(Int32(index)), \(bytes))", logger: logger)
    }

    public func commit(upload: UUID, digest: DocumentDigest, size: Int64) async throws -> Bool {
        let rows = try await client.query("""
            INSERT INTO document_contents (sha256, size, upload_id) VALUES (decode(\(digest.hex), 'hex'), \(size), \(upload))
            ON CONFLICT (sha256) DO NOTHING RETURNING 1
            """, logger: logger)
        var filed = false
        for try await _ in rows { filed = true }
        if !filed { try await discard(upload: upload) }
        return filed
    }

    public func discard(upload: UUID) async throws {
        try await client.query("DELETE FROM document_chunks WHERE upload_id = \(upload)", logger: logger)
    }

    public func size(of digest: DocumentDigest) async throws -> Int64? {
        let rows = try await client.query("SELECT size FROM document_contents WHERE sha256 = decode(\(digest.hex), 'hex')", logger: logger)
        for try await size in rows.decode(Int64.self) { return size }
        return nil
    }

    public func read(_ digest: DocumentDigest, _ body: (ByteBuffer) async throws -> Void) async throws -> Bool {
        let rows = try await client.query("SELECT upload_id FROM document_contents WHERE sha256 = decode(\(digest.hex), 'hex')", logger: logger)
        var upload: UUID?
        for try await id in rows.decode(UUID.self) { upload = id }
        guard let upload else { return false }
        try await read(upload: upload, body)
        return true
    }

    /// A statement per chunk: a slow reader (a download to a slow client)
    /// holds a pooled connection only while a chunk is read, not for the whole file.
    public func read(upload: UUID, _ body: (ByteBuffer) async throws -> Void) async throws {
        var after: Int32 = -1
        while true {
            let rows = try await client.query("""
                SELECT seq, bytes FROM document_chunks WHERE upload_id = \(upload) AND seq > \(after) ORDER BY seq LIMIT 1
                """, logger: logger)
            var chunk: ByteBuffer?
            for try await (seq, bytes) in rows.decode((Int32, ByteBuffer).self) { (after, chunk) = (seq, bytes) }
            guard let chunk else { return }
            try await body(chunk)
        }
    }

    /// Drops the chunks of uploads neither filed nor discarded (the process
    /// stopped during them) that began over `age` ago; the number dropped.
    public func discardAbandoned(olderThan age: Duration) async throws -> Int {
        let rows = try await client.query("""
            WITH dropped AS (
                DELETE FROM document_chunks c
                WHERE c.written_at < now() - make_interval(secs => \(Double(age.components.seconds)))
                  AND NOT EXISTS (SELECT 1 FROM document_contents d WHERE d.upload_id = c.upload_id)
                RETURNING 1)
            SELECT count(*)::int8 FROM dropped
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}

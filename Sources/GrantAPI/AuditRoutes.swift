import Audit
import EventStore
import Foundation
import GrantDomain
import Hummingbird
import NIOCore

/// An instant from a query (default now); 400 naming the field when it is not one.
func instant(_ text: String?, field: String) throws -> Date {
    guard let text else { return Date() }
    switch AsOfInstant.parse(text) {
    case .success(let instant): return instant
    case .failure(let invalid):
        throw Problem.badRequest(rule: "invalid-value", field: field,
                                 "\(field) must be a date (2021-12-31, meaning its end) or an RFC 3339 time: \(invalid.reason)")
    }
}

func addAuditRoutes(to routes: Routes, _ services: Services) {
    let auditors: Set<Role> = [.auditor, .admin]
    let history = History(store: services.store)

    @Sendable func basis(_ request: Request) throws -> TimeBasis {
        guard let text = request.uri.queryParameters["basis"] else { return .recorded }
        guard let basis = TimeBasis(rawValue: String(text)) else {
            throw Problem.badRequest(rule: "invalid-value", field: "basis", "basis must be recorded or occurred")
        }
        return basis
    }

    routes.get("/v1/audit/roles") { request, _ in
        _ = try await services.auth.require(request, auditors, to: "replay who held which role")
        let asOf = try instant(request.uri.queryParameters["asOf"].map(String.init), field: "asOf")
        let role = try request.enumQuery("role", UserRole.self)
        return try jsonResponse(try await RoleReplay(store: services.store).roles(asOf: asOf, basis: try basis(request), role: role))
    }

    routes.get("/v1/audit/streams/:streamId/events") { request, context in
        _ = try await services.auth.require(request, auditors, to: "read the audit history")
        let name = context.parameters.get("streamId") ?? ""
        guard let stream = try? StreamID(name) else { throw Problem.badRequest(rule: "invalid-id", field: "streamId", "not a stream id") }
        let after = Int64(try request.intQuery("after", default: 0, range: 0...Int(Int32.max)))
        let limit = try request.intQuery("limit", default: 1_000, range: 1...10_000)
        let items = try await history.stream(stream, after: after, limit: limit)
        if items.isEmpty, after == 0 { throw Problem.notFound("stream", name) }
        return try jsonResponse(HistoryPage(items: items, nextAfter: items.count == limit ? items.last?.streamVersion : nil))
    }

    routes.get("/v1/audit/events") { request, _ in
        _ = try await services.auth.require(request, auditors, to: "read the audit history")
        let after = Int64(try request.intQuery("after", default: 0, range: 0...Int.max))
        let limit = try request.intQuery("limit", default: 1_000, range: 1...10_000)
        let items = try await history.all(after: after, limit: limit)
        return try jsonResponse(HistoryPage(items: items, nextAfter: items.last?.position ?? after))
    }

    routes.get("/v1/audit/pools/:poolId") { request, context in
        _ = try await services.auth.require(request, auditors, to: "replay pools")
        let id = try request.uuidParameter(context, "poolId")
        let asOf = try instant(request.uri.queryParameters["asOf"].map(String.init), field: "asOf")
        let state = try await AsOfReplay(store: services.store).pool(id, asOf: asOf, basis: try basis(request))
        if !state.exists, !(try await FundingExport(store: services.store).exists(pool: id)) { throw Problem.notFound("pool", id.uuidString) }
        return try jsonResponse(state)
    }

    routes.get("/v1/audit/grants/:grantId") { request, context in
        _ = try await services.auth.require(request, auditors, to: "replay grants")
        let id = try request.uuidParameter(context, "grantId")
        let asOf = try instant(request.uri.queryParameters["asOf"].map(String.init), field: "asOf")
        let replay = AsOfReplay(store: services.store)
        let state = try await replay.grant(id, asOf: asOf, basis: try basis(request))
        if !state.exists, !(try await replay.grant(id, asOf: .distantFuture, basis: .recorded).exists) {
            throw Problem.notFound("grant", id.uuidString)
        }
        return try jsonResponse(state)
    }

    routes.get("/v1/audit/grants/:grantId/pack") { request, context in
        _ = try await services.auth.require(request, auditors, to: "download audit packs")
        let id = try request.uuidParameter(context, "grantId")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-pack-\(UUID().uuidString).zip")
        do {
            _ = try await AuditPack(store: services.store, documents: services.documents).write(grantId: id, to: file)
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw error
        }
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        let handle = try FileHandle(forReadingFrom: file)
        // Unlinked now: the open handle keeps the bytes until it closes.
        try? FileManager.default.removeItem(at: file)
        let reader = UncheckedFile(handle: handle)
        return Response(status: .ok, headers: [
            .contentType: "application/zip", .contentDisposition: "attachment; filename=\"grant-\(id.uuidString.lowercased())-audit-pack.zip\"",
        ], body: ResponseBody(contentLength: size) { writer in
            defer { try? reader.handle.close() }
            while let data = try reader.handle.read(upToCount: 1 << 20), !data.isEmpty {
                try await writer.write(ByteBuffer(bytes: data))
            }
            try await writer.finish(nil)
        })
    }

    routes.get("/v1/audit/decisions/:applicationId") { request, context in
        _ = try await services.auth.require(request, auditors, to: "read decision trails")
        let id = try request.uuidParameter(context, "applicationId")
        return try jsonResponse(try await history.decisionTrail(applicationId: id))
    }

    routes.get("/v1/audit/verify") { request, _ in
        _ = try await services.auth.require(request, auditors, to: "verify the history")
        return try jsonResponse(try await Verifier(store: services.store).verify())
    }

    routes.get("/v1/audit/export") { request, _ in
        _ = try await services.auth.require(request, auditors, to: "export funding histories")
        guard let pool = try request.uuidQuery("pool") else {
            throw Problem.badRequest(rule: "missing-field", field: "pool", "pool is required")
        }
        let formatText = request.uri.queryParameters["format"].map(String.init) ?? "csv"
        guard let format = FundingExport.Format(rawValue: formatText) else {
            throw Problem.badRequest(rule: "invalid-value", field: "format", "format must be csv or json")
        }
        let export = FundingExport(store: services.store)
        guard try await export.exists(pool: pool) else { throw Problem.notFound("pool", pool.uuidString) }
        let contentType = format == .csv ? "text/csv; charset=utf-8" : "application/json"
        let filename = "pool-\(pool.uuidString.lowercased()).\(format.rawValue)"
        return Response(status: .ok, headers: [.contentType: contentType, .contentDisposition: "attachment; filename=\"\(filename)\""],
                        body: ResponseBody { writer in
                            try await export.write(pool: pool, format: format) { chunk in try await writer.write(ByteBuffer(string: chunk)) }
                            try await writer.finish(nil)
                        })
    }
}

extension ProofError {
    var problem: Problem {
        switch self {
        case .noCheckpoint, .notCovered:
            Problem(.conflict, rule: "no-checkpoint", title: "No signed checkpoint covers this yet", detail: description)
        case .noSuchStream(let stream):
            Problem.notFound("stream", stream)
        case .beyondHistory:
            Problem(.unprocessableContent, rule: "beyond-history", title: "The history is shorter than asked", detail: description)
        case .rewritten:
            Problem(.conflict, rule: "history-rewritten", title: "The history no longer has the signed root", detail: description)
        case .appendsInFlight:
            Problem(.serviceUnavailable, rule: "appends-in-flight", title: "Appends begun earlier are still running", detail: description)
        }
    }
}

/// Signed checkpoints and the proofs built on them (Sources/Audit/Checkpoints.swift).
func addCheckpointRoutes(to routes: Routes, _ services: Services, signer: CheckpointSigner?) {
    let tree = HistoryTree(store: services.store)

    // Public: the point of a checkpoint is that anyone may keep a copy.
    routes.get("/v1/audit/checkpoints") { request, _ in
        let limit = try request.intQuery("limit", default: 100, range: 1...1_000)
        return try jsonResponse(CheckpointList(checkpoints: try await tree.checkpoints(limit: limit, trusting: signer?.publicKey),
                                               publicKey: signer?.publicKey))
    }

    routes.post("/v1/audit/checkpoints") { request, _ in
        _ = try await services.auth.require(request, [.admin, .auditor], to: "sign checkpoints")
        guard let signer else {
            throw Problem(.serviceUnavailable, rule: "no-signing-key", title: "This server has no checkpoint signing key",
                          detail: "set GRANTLEDGER_SIGNING_KEY, or run grantledger checkpoint where the key is")
        }
        do {
            return try jsonResponse(try await tree.signCheckpoint(with: signer), status: .created)
        } catch let error as ProofError {
            throw error.problem
        }
    }

    routes.get("/v1/audit/proofs/grants/:grantId") { request, context in
        let identity = try await services.auth.require(request, [.admin, .auditor, .applicant], to: "read proofs")
        let id = try request.uuidParameter(context, "grantId")
        try await services.requireOwner(identity, grantId: id)
        do {
            return try jsonResponse(try await tree.proof(of: "grant-\(id.uuidString.lowercased())", trusting: signer?.publicKey))
        } catch let error as ProofError {
            throw error.problem
        }
    }

    // Behind a token: a proof reads up to the whole history.
    routes.get("/v1/audit/proofs/consistency") { request, _ in
        _ = try await services.auth.require(request, Set(Role.allCases), to: "read proofs")
        let from = try request.intQuery("from", range: 1...Int.max)
        let to = try request.intQuery("to", range: 1...Int.max)
        guard from <= to else { throw Problem.badRequest(rule: "invalid-value", field: "from", "from must be at most to") }
        do {
            return try jsonResponse(try await tree.consistency(from: Int64(from), to: Int64(to), trusting: signer?.publicKey))
        } catch let error as ProofError {
            throw error.problem
        }
    }
}

struct CheckpointList: Encodable {
    var checkpoints: [SignedCheckpoint]
    /// This server's signing key (base64), when it has one.
    var publicKey: String?
}

struct HistoryPage: Encodable {
    var items: [HistoryEntry]
    /// Pass as `after` for the next page. In commit order an empty page is
    /// the end for now: events still committing appear after it.
    var nextAfter: Int64?
}

/// A file handle read by one response body at a time.
struct UncheckedFile: @unchecked Sendable {
    let handle: FileHandle
}

import Accounts
import Documents
import Foundation
import GrantDomain
import Hummingbird

extension DocumentOwner {
    /// Where its page is, and where the API serves its documents.
    var pagePath: String {
        switch self {
        case .application(let id): "/applications/\(id.uuidString.lowercased())"
        case .grant(let id): "/grants/\(id.uuidString.lowercased())"
        case .meeting(let id): "/admin/meetings/\(id.uuidString.lowercased())"
        }
    }

    var apiPath: String {
        switch self {
        case .application, .grant: "/v1" + pagePath + "/documents"
        case .meeting(let id): "/v1/meetings/\(id.uuidString.lowercased())/documents"
        }
    }

    /// The key a refused upload's message is kept under, for the page to show it once.
    var formKey: String { "documents-" + pagePath.dropFirst().replacingOccurrences(of: "/", with: "-") }
}

extension Language {
    /// A size as people read it: `840 B`, `12,5 kB`, `3,2 MB` (decimal units, as the cap is written).
    func bytes(_ count: Int64) -> String {
        let (value, unit): (Double, String) = count < 1_000 ? (Double(count), "B") : count < 1_000_000 ? (Double(count) / 1_000, "kB")
            : (Double(count) / 1_000_000, "MB")
        var text = unit == "B" ? String(count) : String(format: "%.1f", value)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return (self == .da ? text.replacingOccurrences(of: ".", with: ",") : text) + " " + unit
    }
}

extension Services {
    /// The documents section of an application's or a grant's page: the list,
    /// each linked to its download once a scan has passed it, and the form
    /// to attach one when `canAttach`, with the last refusal next to its field.
    func documentSection(_ attached: [DocumentAttached], of owner: DocumentOwner, language: Language, canAttach: Bool,
                         reports: [(id: UUID, label: String)] = [], refused: FieldErrors?) async throws -> [String: Any] {
        let views = try await documentViews(attached)
        var section: [String: Any] = [
            "hasDocuments": !attached.isEmpty,
            "documents": zip(attached, views).map { attached, view -> [String: Any] in
                var row: [String: Any] = [
                    "name": view.fileName, "kind": (DocumentKinds.allowed[view.mediaType] ?? view.mediaType).uppercased(),
                    "size": language.bytes(view.size), "scanKey": view.scan, "scan": language.word("scan.\(view.scan)"),
                    "attachedAt": language.moment(attached.occurredAt),
                ]
                if view.scan == "clean" || view.scan == "not-scanned" { row["href"] = "\(owner.apiPath)/\(view.sha256)" }
                if let report = view.reportId, let label = reports.first(where: { $0.id == report })?.label { row["report"] = label }
                return row
            },
        ]
        if canAttach {
            section["attachAction"] = owner.pagePath + "/documents"
            section["fileHint"] = language.word("documentHint", ["kinds": DocumentKinds.allowed.values.sorted().map { $0.uppercased() }.joined(separator: ", "),
                                                                 "size": language.bytes(documentLimit)])
            section["accept"] = DocumentKinds.allowed.values.sorted().map { "." + $0 }.joined(separator: ",")
            if !reports.isEmpty {
                section["hasReportChoices"] = true
                section["reportChoices"] = [["value": "", "label": language.word("documentForGrant")]]
                    + reports.map { ["value": $0.id.uuidString.lowercased(), "label": $0.label] }
            }
        }
        // Shown even when the form is gone (the grant was cancelled meanwhile): the message is shown once, then dropped.
        if let error = refused?["file"] ?? refused?.entries.first?.message { section["fileError"] = error }
        return section
    }
}

func addDocumentPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    /// Post/redirect/get: attached, back to the page with a message; refused,
    /// back to the form with the reason kept for it (nothing of the file is).
    @Sendable func attach(_ request: Request, _ owner: DocumentOwner, as roles: Set<Role>) async throws -> Response {
        try await services.page(request, pages: pages) {
            var userId: UUID?
            do {
                let (view, _) = try await services.attach(request, to: owner) { fields in
                    let identity = try await services.auth.require(request, roles, to: "attach documents", csrf: fields["csrf"])
                    userId = try identity.pageUser()
                    return identity
                }
                if let userId { try await accounts.dropFormDraft(userId: userId, key: owner.formKey) }
                return Pages.redirect(owner.pagePath + "?flash=documentAttached&after=\(view.position ?? 0)#documents")
            } catch {
                // Not signed in, a stale form, another organisation's page: the page's own error.
                guard let userId, Problem.from(error)?.rule != "not-owner" else { throw error }
                try await accounts.keepFormDraft(userId: userId, key: owner.formKey, fields: [String: String](),
                                                 errors: FieldErrors(error, language: Language(request)))
                return Pages.redirect(owner.pagePath + "#documents")
            }
        }
    }

    routes.page("POST", "/applications/:applicationId/documents") { request, context in
        try await attach(request, .application(try request.uuidParameter(context, "applicationId")), as: [.applicant])
    }
    routes.page("POST", "/grants/:grantId/documents") { request, context in
        try await attach(request, .grant(try request.uuidParameter(context, "grantId")), as: [.applicant])
    }
    // A meeting's minutes, from its page for administrators.
    routes.page("POST", "/admin/meetings/:meetingId/documents") { request, context in
        try await attach(request, .meeting(try request.uuidParameter(context, "meetingId")), as: [.admin])
    }
}

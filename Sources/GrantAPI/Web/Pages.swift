import Accounts
import EventStore
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the pages: swift-mustache templates (escaped by default) read
/// once from the target's resources, each page in the reader's language,
/// with the signed-in user and the session's CSRF token at hand.
struct Pages: Sendable {
    let library: MustacheLibrary
    let stylesheet: ByteBuffer
    /// Cookies are Secure when people reach the pages over https.
    let secureCookies: Bool

    init(publicURL: String) async throws {
        guard let folder = Bundle.module.url(forResource: "Templates", withExtension: nil) else {
            throw Problem(.internalServerError, rule: "no-templates", title: "Templates missing",
                          detail: "the pages' templates were not found beside the executable")
        }
        // Each template opens with {{% CONTENT_TYPE: HTML-UTF8 }}: the same escaping, a scan of bytes instead of characters.
        MustacheContentTypes.register(HTMLEscaping(), named: "HTML-UTF8")
        var library = MustacheLibrary()
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil).filter { $0.pathExtension == "mustache" }
        for file in files {
            let name = file.deletingPathExtension().lastPathComponent
            let text = try String(contentsOf: file, encoding: .utf8)
            for language in Language.allCases {
                try library.register(try language.translate(template: text, named: name), named: "\(name).\(language.rawValue)")
            }
        }
        self.library = library
        stylesheet = ByteBuffer(string: try String(contentsOf: folder.appendingPathComponent("site.css"), encoding: .utf8))
        secureCookies = publicURL.lowercased().hasPrefix("https://")
    }

    /// A page: the template filled with `values` and what every page shows.
    func render(_ template: String, _ values: [String: Any], _ page: PageContext, status: HTTPResponse.Status = .ok) -> Response {
        response(ResponseBody(byteBuffer: ByteBuffer(string: html(template, values, page))), page, status: status)
    }

    /// A page's HTML: the template filled with `values` and what every page shows.
    func html(_ template: String, _ values: [String: Any], _ page: PageContext) -> String {
        var context = values
        context["lang"] = page.language.rawValue
        context["csrf"] = page.csrf
        context["languages"] = Language.allCases.map { language in
            ["code": language.rawValue, "label": language == .da ? "Dansk" : "English", "current": language == page.language,
             "href": "/language/\(language.rawValue)?back=\(Self.withoutFlash(page.path).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/")"]
                as [String: Any]
        }
        if let user = page.user {
            context["user"] = ["name": user.name, "email": user.email,
                               "roleLine": user.roles.map { page.language.role($0) }.joined(separator: ", "),
                               "applicant": user.roles.contains { $0.role == .applicant }, "admin": user.roles.contains { $0.role == .admin },
                               "auditor": user.roles.contains { $0.role == .auditor || $0.role == .admin },
                               "steering": user.roles.contains { $0.role == .steering }]
                as [String: Any]
        }
        if let flash = page.flash { context["flash"] = flash }
        return library.render(PageValues(context), withTemplate: "\(template).\(page.language.rawValue)") ?? "template \(template) is missing"
    }

    /// A page whose middle is written while it is made (progress, rows a
    /// page of history at a time): the template is rendered with `slot`
    /// holding a marker and split there; `middle` writes through `write`
    /// and returns what closes it (its own failure included), then the
    /// rest of the page follows.
    func streamed(_ template: String, _ values: [String: Any], slot: String, _ page: PageContext,
                  _ middle: @escaping @Sendable (_ write: (String) async throws -> Void) async -> String) throws -> Response {
        let marker = "<!-- \(slot) -->"
        let parts = html(template, values.merging([slot: marker]) { $1 }, page).components(separatedBy: marker)
        guard parts.count == 2 else {
            throw Problem(.internalServerError, rule: "template", title: "Template broken", detail: "\(template) has no {{{\(slot)}}}")
        }
        return response(ResponseBody { writer in
            try await writer.write(ByteBuffer(string: parts[0]))
            let closing = await middle { try await writer.write(ByteBuffer(string: $0)) }
            try await writer.write(ByteBuffer(string: closing + parts[1]))
            try await writer.finish(nil)
        }, page)
    }

    /// A page's response around `body`, with the headers every page has.
    func response(_ body: ResponseBody, _ page: PageContext, status: HTTPResponse.Status = .ok) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentLanguage] = page.language.rawValue
        headers[.vary] = "Accept-Language, Cookie"
        var response = Response(status: status, headers: headers, body: body)
        if let cookie = page.setCookie { response.setCookie(cookie) }
        return response
    }

    /// Part of a page, alone: what many readers share, to be kept and put in a page with `{{{name}}}`.
    func fragment(_ template: String, _ values: [String: Any], language: Language) -> String {
        library.render(PageValues(values), withTemplate: "\(template).\(language.rawValue)") ?? "template \(template) is missing"
    }

    /// A page's address without its one-time message, to come back to.
    static func withoutFlash(_ path: String) -> String {
        guard var components = URLComponents(string: path) else { return "/" }
        components.queryItems = components.queryItems?.filter { $0.name != "flash" }
        if components.queryItems?.isEmpty == true { components.queryItems = nil }
        return components.string ?? "/"
    }

    /// Pages are not framed, run no script but their own, send forms only here, and are not cached (they show a user's own work).
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        .referrerPolicy: "same-origin",
        .cacheControl: "no-store",
    ]

    /// 303 See Other: after a form, the browser GETs the result, so a reload or Back never sends the form again.
    static func redirect(_ location: String, cookies: [Cookie] = []) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        for cookie in cookies { response.setCookie(cookie) }
        return response
    }

    func sessionCookie(_ session: OpenedSession) -> Cookie {
        Cookie(name: Credentials.sessionCookie, value: session.token, maxAge: Int(Accounts.sessionLifetime.components.seconds), path: "/",
               secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    func clearedSessionCookie() -> Cookie {
        Cookie(name: Credentials.sessionCookie, value: "", maxAge: 0, path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
    }

    /// Before sign-in there is no session to hold a CSRF token: a random
    /// one in a cookie of its own must match the form's (double submit).
    func signInCookie(_ token: String) -> Cookie {
        Cookie(name: PageContext.signInCSRFCookie, value: token, maxAge: 3600, path: "/", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }
}

/// What every page knows about its request.
struct PageContext {
    static let signInCSRFCookie = "grantledger_form"
    /// The messages a page may be asked to show after a redirect (`?flash=`): no other text.
    static let flashes: Set<String> = ["passwordSet", "signedOut", "signedOutEverywhere", "draftSaved", "submitted", "withdrawnMessage",
                                       "reportFiled", "documentAttached", "amended", "roleRevoked", "userSignedOut", "decisionRecorded",
                                       "paymentRequested", "paymentApproved", "paymentPaid", "reportApproved", "meetingScheduled", "grantAdjusted", "roleGranted",
                                       "poolCreated", "periodAdded", "budgetMoved", "periodClosed", "callOpened", "callWindowChanged", "callClosed",
                                       "attendanceChanged", "agendaChanged"]

    /// 244 random bits in hexadecimal: two random UUIDs' worth.
    static func newFormToken() -> String {
        (UUID.random().uuidString + UUID.random().uuidString).replacingOccurrences(of: "-", with: "").lowercased()
    }

    var language: Language
    var user: SignedInUser?
    /// The session's CSRF token, or the sign-in form's.
    var csrf: String
    var path: String
    var flash: String?
    var setCookie: Cookie?
}

extension Language {
    func role(_ grant: RoleGrant) -> String {
        switch (self, grant.role) {
        case (.da, .admin): "administrator"
        case (.en, .admin): "administrator"
        case (.da, .auditor): "revisor"
        case (.en, .auditor): "auditor"
        case (.da, .applicant): "ansøger for \(grant.organisation ?? "")"
        case (.en, .applicant): "applicant for \(grant.organisation ?? "")"
        case (.da, .steering): "styregruppemedlem"
        case (.en, .steering): "steering group member"
        }
    }

    /// A template with its words (`{{t.key}}`) written in, escaped, and its
    /// partials (`{{> name}}`) in this language: a page looks up only its
    /// data when it renders (the words were a third of its lookups, each a
    /// walk of the context and a cast). A word missing is an error when the
    /// server starts, not a blank on a page.
    package func translate(template text: String, named template: String) throws -> String {
        let escaping = HTMLEscaping()
        var missing: [String] = []
        let worded = text.replacing(#/\{\{t\.([A-Za-z0-9.-]+)\}\}/#) { match in
            let key = String(match.output.1)
            guard let word = words[key], !word.contains("{{"), !word.contains("}}") else {
                missing.append(key)
                return ""
            }
            return escaping.escapeText(word)
        }
        guard missing.isEmpty else {
            throw Problem(.internalServerError, rule: "missing-words", title: "Words missing",
                          detail: "template \(template) uses words \(rawValue) has not (or that hold {{ or }}): \(missing.joined(separator: ", "))")
        }
        // Words are only written in as {{t.key}}: a section or spacing around one would render blank, the page having no `t`.
        if let stray = worded.firstMatch(of: #/\{\{[#^/&{]?\s*t\.[^}]*\}\}/#) {
            throw Problem(.internalServerError, rule: "missing-words", title: "Words missing",
                          detail: "template \(template) uses a word as \(stray.output): write {{t.key}}")
        }
        return worded.replacing(#/\{\{>\s*([A-Za-z0-9-]+)\s*\}\}/#) { match in "{{> \(match.output.1).\(rawValue)}}" }
    }

    /// A word, with `{name}` placeholders filled.
    func word(_ key: String, _ values: [String: String] = [:]) -> String {
        let text = words[key] ?? key
        guard !values.isEmpty else { return text }
        // One pass; a value that itself holds `{…}` is not filled again.
        var filled = ""
        var rest = text[...]
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            filled += rest[..<open]
            filled += values[String(rest[rest.index(after: open)..<close])] ?? String(rest[open...close])
            rest = rest[rest.index(after: close)...]
        }
        return filled + rest
    }
}

/// A form's fields as `application/x-www-form-urlencoded` sends them.
struct FormFields: Sendable {
    private(set) var values: [String: String] = [:]

    static func read(_ request: Request, limit: Int) async throws -> FormFields {
        let body = try await request.body.collect(upTo: limit)
        return FormFields(encoded: String(buffer: body))
    }

    init(encoded: String) {
        for pair in encoded.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            // NUL is no character anyone types, and PostgreSQL's text cannot hold it.
            values[name.replacingOccurrences(of: "\u{0}", with: "")] = (parts.count > 1 ? Self.decode(parts[1]) ?? "" : "")
                .replacingOccurrences(of: "\u{0}", with: "")
        }
    }

    subscript(_ name: String) -> String? { values[name] }

    /// A field's text, trimmed; "" when absent.
    func text(_ name: String) -> String { (values[name] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let contentLanguage = Self("Content-Language")!
}

/// A path on this site to go back to after signing in: never another site's (`//evil`, `https:`).
func localPath(_ text: String?) -> String {
    guard let text, text.hasPrefix("/"), !text.hasPrefix("//"), !text.hasPrefix("/\\"),
          !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return "/" }
    return text
}

/// HTML escaping of `<`, `>`, `&`, `"` and `'`, as swift-mustache's own,
/// but over UTF-8 bytes: text without them (almost all) is returned as it
/// is after one scan; swift-mustache's walks Characters and builds a new
/// String for every value, which was a tenth of a page's time.
struct HTMLEscaping: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&")
                                          || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }) else { return nil }
            var escaped: [UInt8] = []
            escaped.reserveCapacity(bytes.count + 16)
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "<"): escaped.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): escaped.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "&"): escaped.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "\""): escaped.append(contentsOf: "&quot;".utf8)
                case UInt8(ascii: "'"): escaped.append(contentsOf: "&#39;".utf8)
                default: escaped.append(byte)
                }
            }
            return String(decoding: escaped, as: UTF8.self)
        } ?? text
    }
}

/// A page's text values, to swift-mustache: rendered as themselves (not
/// through `String(describing:)` after three failed casts), and holding no
/// named children (not looked through with a `Mirror` whenever a section on
/// one is open). What a page shows is unchanged; the dashboard spent a
/// quarter of its time in those casts.
extension String: @retroactive MustacheCustomRenderable, @retroactive MustacheParent {
    public var renderText: String { self }
    public var isNull: Bool { false }
    public func child(named: String) -> Any? { nil }
}

/// A page's values as swift-mustache looks them up: each lookup casts the
/// object it looks in to `MustacheCustomRepresentation` and `MustacheParent`,
/// and for a `[String: Any]` the second is a conditional conformance the
/// runtime checks again on every cast; for this type it is a plain one. A
/// struct, not a class: the two casts took 270 ns a lookup against 350 ns
/// for a final class (a loop of 2,000,000 lookups, `swiftc -O`).
struct PageValues: MustacheParent {
    private let values: [String: Any]

    init(_ values: [String: Any]) { self.values = values.mapValues(Self.wrapped) }

    func child(named name: String) -> Any? { values[name] }

    private static func wrapped(_ value: Any) -> Any {
        switch value {
        case let nested as [String: Any]: PageValues(nested)
        case let list as [[String: Any]]: list.map(PageValues.init)
        default: value
        }
    }
}


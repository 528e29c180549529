import Accounts
import EventStore
import Foundation
import GrantDomain
import Hummingbird
import Projections

extension Services {
    /// What a page knows before it renders: the reader's language, the
    /// signed-in user if any (never refused here: a page decides), and the
    /// CSRF token its forms carry.
    /// `showing`: the streams the page shows, whose versions are read with the session.
    func pageContext(_ request: Request, pages: Pages, flash: String? = nil, showing streams: [String] = []) async throws -> PageContext {
        let language = Language(request)
        let user = try await auth.signedInUser(request, alongside: streams)
        var context = PageContext(language: language, user: user, csrf: user?.csrfToken ?? "", path: request.uri.description,
                                  flash: flash.flatMap { PageContext.flashes.contains($0) ? language.word($0) : nil })
        if user == nil {
            // Forms shown before sign-in carry the cookie's token; one is made when there is none.
            if let token = request.cookies[PageContext.signInCSRFCookie]?.value, token.count >= 32 {
                context.csrf = token
            } else {
                context.csrf = PageContext.newFormToken()
                context.setCookie = pages.signInCookie(context.csrf)
            }
        }
        return context
    }

    /// Runs the handler of a page for auditors (and administrators, who
    /// answer to them) once the reader is one; see ``page(_:pages:_:)``.
    func auditorsPage(_ request: Request, pages: Pages, to action: String,
                      _ body: (PageContext) async throws -> Response) async throws -> Response {
        try await page(request, pages: pages) {
            let page = try await pageContext(request, pages: pages)
            _ = try await auth.require(request, [.auditor, .admin], to: action, signedIn: page.user)
            return try await body(page)
        }
    }

    /// Runs the handler of a page for administrators, with the page's
    /// context and the administrator's user id, once `models` have caught
    /// up with the request's `after`; see ``page(_:pages:_:)``.
    func administratorsPage(_ request: Request, pages: Pages, to action: String, reading models: [ReadModelName],
                            _ body: (PageContext, UUID) async throws -> Response) async throws -> Response {
        try await page(request, pages: pages) {
            let page = try await pageContext(request, pages: pages, flash: request.flash)
            let adminId = try await auth.require(request, [.admin], to: action, signedIn: page.user).pageUser()
            _ = try await waitForReadModels(request, models)
            return try await body(page, adminId)
        }
    }

    /// Runs the handler of a form's POST once the form is read and its
    /// sender holds one of `roles` and sent the form's CSRF token; see ``page(_:pages:_:)``.
    func form(_ request: Request, pages: Pages, _ roles: Set<Role>, to action: String,
              _ body: (FormFields, Identity) async throws -> Response) async throws -> Response {
        try await page(request, pages: pages) {
            let fields = try await FormFields.read(request, limit: bodyLimit)
            return try await body(fields, try await auth.require(request, roles, to: action, csrf: fields["csrf"]))
        }
    }

    /// Runs a page's handler; what it throws becomes a page, not JSON: not
    /// signed in goes to the sign-in form and back, a refusal or an unknown
    /// thing is said in the reader's language.
    func page(_ request: Request, pages: Pages, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error {
            guard let problem = Problem.from(error) else { throw error }
            let language = Language(request)
            let context = PageContext(language: language, user: nil, csrf: "", path: request.uri.path)
            switch (problem.status, problem.rule) {
            case (.unauthorized, _):
                let back = request.method == .get ? request.uri.description : "/"
                return Pages.redirect("/sign-in?next=\(back.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/")")
            case (_, "csrf"):
                return pages.render("error", ["title": language.word("formExpiredTitle"), "heading": language.word("formExpiredTitle"),
                                              "message": language.word("formExpired")], context, status: .forbidden)
            // Another organisation's work is, to a page, not there: a page does not confirm that it exists.
            case (.notFound, _), (_, "not-owner"), (.badRequest, _):
                return pages.render("error", ["title": language.word("notFoundTitle"), "heading": language.word("notFoundTitle"),
                                              "message": language.word("notFound")], context, status: .notFound)
            case (.forbidden, _):
                return pages.render("error", ["title": language.word("forbiddenTitle"), "heading": language.word("forbiddenTitle"),
                                              "message": problem.detail], context, status: .forbidden)
            default:
                guard problem.status.code < 500 else { throw error }
                return pages.render("error", ["title": problem.title, "heading": problem.title, "message": problem.detail], context, status: problem.status)
            }
        }
    }
}

/// Signing in and out, choosing a password, choosing a language.
func addAccountPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    routes.page("GET", "/static/site.css") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                 body: ResponseBody(byteBuffer: pages.stylesheet))
    }

    routes.page("GET", "/language/:language") { request, context in
        let language = Language(rawValue: context.parameters.get("language") ?? "") ?? .da
        let back = localPath(request.uri.queryParameters["back"].map(String.init))
        return Pages.redirect(back, cookies: [Cookie(name: Language.cookie, value: language.rawValue, maxAge: 365 * 86_400, path: "/",
                                                     secure: pages.secureCookies, httpOnly: true, sameSite: .lax)])
    }

    routes.page("GET", "/sign-in") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages, flash: request.flash)
            let next = localPath(request.uri.queryParameters["next"].map(String.init))
            if page.user != nil { return Pages.redirect(next) }
            var values: [String: Any] = ["title": page.language.word("signInTitle"), "next": next]
            switch request.uri.queryParameters["error"].map(String.init) {
            case "refused": values["error"] = page.language.word("signInRefused")
            case "throttled":
                let seconds = request.uri.queryParameters["retry"].flatMap { Int($0) } ?? 60
                values["error"] = page.language.word("signInThrottled", ["seconds": String(seconds)])
            default: break
            }
            return pages.render("sign-in", values, page, status: values["error"] == nil ? .ok : .unauthorized)
        }
    }

    routes.page("POST", "/sign-in") { request, context in
        try await services.page(request, pages: pages) {
            let form = try await FormFields.read(request, limit: services.bodyLimit)
            guard let cookie = request.cookies[PageContext.signInCSRFCookie]?.value, cookie.count >= 32, let given = form["csrf"],
                  constantTimeEqual(cookie, given) else {
                throw Problem(.forbidden, rule: "csrf", title: "Form expired", detail: "the sign-in form's token does not match")
            }
            let next = localPath(form["next"])
            let back = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
            switch try await accounts.signIn(email: form.text("email"), password: form["password"] ?? "", address: context.clientAddress(request, trustedProxies: services.trustedProxies), kind: .browser) {
            case .signedIn(let session):
                // A session this browser held before (another user's, or an old one) ends: one browser, one session.
                if case .cookie(let previous) = Credentials(request) { try await accounts.endSession(token: previous) }
                return Pages.redirect(next, cookies: [pages.sessionCookie(session)])
            case .refused:
                return Pages.redirect("/sign-in?error=refused&next=\(back)")
            case .throttled(let seconds):
                return Pages.redirect("/sign-in?error=throttled&retry=\(seconds)&next=\(back)")
            }
        }
    }

    routes.page("POST", "/sign-out") { request, _ in
        try await services.page(request, pages: pages) {
            let form = try await FormFields.read(request, limit: services.bodyLimit)
            if case .cookie(let token) = Credentials(request), try await services.auth.signedInUser(request, csrf: form["csrf"]) != nil {
                try await accounts.endSession(token: token)
            }
            return Pages.redirect("/sign-in?flash=signedOut", cookies: [pages.clearedSessionCookie()])
        }
    }

    routes.page("POST", "/sign-out-everywhere") { request, _ in
        try await services.page(request, pages: pages) {
            let form = try await FormFields.read(request, limit: services.bodyLimit)
            if let user = try await services.auth.signedInUser(request, csrf: form["csrf"]) {
                try await accounts.endSessions(userId: user.userId)
            }
            return Pages.redirect("/sign-in?flash=signedOutEverywhere", cookies: [pages.clearedSessionCookie()])
        }
    }

    routes.page("GET", "/invitations/:token") { request, context in
        try await services.page(request, pages: pages) {
            let token = context.parameters.get("token") ?? ""
            // Whoever is signed in in this browser, the form is the invited user's: it carries the pre-sign-in token.
            var page = try await services.pageContext(request, pages: pages)
            page.user = nil
            if let cookie = request.cookies[PageContext.signInCSRFCookie]?.value, cookie.count >= 32 {
                page.csrf = cookie
            } else {
                page.csrf = PageContext.newFormToken()
                page.setCookie = pages.signInCookie(page.csrf)
            }
            var values: [String: Any] = ["title": page.language.word("setPasswordTitle"), "token": token]
            guard let user = try await accounts.invitedUser(token: token), let invited = user.invited else {
                values["invalid"] = true
                return pages.render("set-password", values, page, status: .notFound)
            }
            values["name"] = invited.name
            values["email"] = invited.email
            if let rule = request.uri.queryParameters["error"].flatMap({ PasswordRule(rawValue: String($0)) }) {
                values["error"] = page.language.passwordRule(rule)
            }
            return pages.render("set-password", values, page, status: values["error"] == nil ? .ok : .unprocessableContent)
        }
    }

    routes.page("POST", "/invitations/:token") { request, context in
        try await services.page(request, pages: pages) {
            let token = context.parameters.get("token") ?? ""
            let form = try await FormFields.read(request, limit: services.bodyLimit)
            guard let cookie = request.cookies[PageContext.signInCSRFCookie]?.value, cookie.count >= 32, let given = form["csrf"],
                  constantTimeEqual(cookie, given) else {
                throw Problem(.forbidden, rule: "csrf", title: "Form expired", detail: "the form's token does not match")
            }
            switch try await accounts.setPassword(token: token, password: form["password"] ?? "", kind: .browser, address: context.clientAddress(request, trustedProxies: services.trustedProxies)) {
            case .set(let session):
                return Pages.redirect("/?flash=passwordSet", cookies: [pages.sessionCookie(session)])
            case .linkInvalid:
                return Pages.redirect("/invitations/\(token)")
            case .refused(let rule):
                return Pages.redirect("/invitations/\(token)?error=\(rule.rawValue)")
            }
        }
    }
}

extension Language {
    func passwordRule(_ rule: PasswordRule) -> String {
        switch (self, rule) {
        case (.da, .tooShort): "Adgangskoden skal have mindst \(PasswordRule.minimum) tegn."
        case (.da, .tooLong): "Adgangskoden må højst have \(PasswordRule.maximum) tegn."
        case (.da, .controlCharacters): "Adgangskoden må ikke indeholde linjeskift eller kontroltegn."
        case (.da, .isEmail): "Adgangskoden må ikke være din e-mailadresse."
        case (.en, let rule): "The password " + rule.reason + "."
        }
    }
}

extension Request {
    /// The one-time message a redirect after a form named (`?flash=saved`); ``Services/pageContext(_:pages:flash:showing:)`` shows only those it knows.
    var flash: String? { uri.queryParameters["flash"].map(String.init) }
}

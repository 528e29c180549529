"""An applicant's whole path, in the browser alone: sign in, draft, leave,
come back, resume, submit with an error and fix it, see the result, write
the report a paid tranche waits for, sign out; and the same refused to
those it does not belong to."""
import re
import uuid

from playwright.sync_api import expect

from conftest import APPLICANT, BASE, STEERING, check, grantledger, sign_in


def test_sign_in_refused_then_accepted(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    check(page, "sign-in")
    page.get_by_label("E-mailadresse").fill(APPLICANT[0])
    page.get_by_label("Adgangskode").fill("not the password")
    page.get_by_role("button", name="Log ind").click()
    expect(page.get_by_role("alert")).to_contain_text("E-mailadressen eller adgangskoden er forkert")
    # An address nobody has gets the very same answer.
    page.get_by_label("E-mailadresse").fill("nobody@demo.grantledger.dk")
    page.get_by_label("Adgangskode").fill("not the password")
    page.get_by_role("button", name="Log ind").click()
    expect(page.get_by_role("alert")).to_contain_text("E-mailadressen eller adgangskoden er forkert")
    sign_in(page, APPLICANT)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine ansøgninger")
    expect(page.get_by_text("Aalborg Tekniske Gymnasium").first).to_be_visible()
    check(page, "dashboard")


def test_keyboard_alone_signs_in(page):
    page.goto("/sign-in")
    page.keyboard.press("Tab")  # the skip link first
    expect(page.get_by_role("link", name="Gå til indholdet")).to_be_focused()
    page.get_by_label("E-mailadresse").focus()
    page.keyboard.type(APPLICANT[0])
    page.keyboard.press("Tab")
    page.keyboard.type(APPLICANT[1])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine ansøgninger")


def test_draft_leave_resume_submit_with_an_error_then_fixed(page):
    sign_in(page, APPLICANT)
    page.get_by_role("link", name="Åbne opslag").first.click()
    expect(page.get_by_role("heading", name="Teknologipagten ansøgningsrunde 2027")).to_be_visible()
    check(page, "open-calls")
    page.get_by_role("link", name=re.compile("Søg nu.*Teknologipagten ansøgningsrunde 2027")).click()
    title = f"Droner i fysik {uuid.uuid4().hex[:6]}"
    page.get_by_label("Projektets titel").fill(title)
    page.get_by_label("Beskrivelse").fill("Elever bygger og programmerer droner.")
    page.get_by_label("Ansøgt beløb").fill("900.000,00")
    page.get_by_role("button", name="Gem kladde").click()
    expect(page.get_by_role("status")).to_have_text("Kladden er gemt.")
    check(page, "application-form")

    # Leave, and come back from the dashboard: the draft is there, with what is expected next.
    page.get_by_role("link", name="Mine ansøgninger").first.click()
    card = page.locator(".card", has_text=title)
    expect(card).to_contain_text("Kladde")
    expect(card).to_contain_text("Gør ansøgningen færdig")
    card.get_by_role("link", name=title).click()
    check(page, "application")
    page.get_by_role("link", name="Ret ansøgningen").click()
    expect(page.get_by_label("Ansøgt beløb")).to_have_value("900.000,00")

    # Above the programme's maximum: refused, the rule and the figures next to the field, a summary on top.
    page.get_by_role("button", name="Indsend ansøgningen").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("over programmets maksimum")
    expect(page.locator("#requested-error")).to_contain_text("Det ansøgte beløb, 900.000,00 kr., er over programmets maksimum på 750.000,00 kr.")
    # The draft itself was saved; only submitting was refused.
    expect(page.locator(".notice")).to_have_count(0)
    expect(page.get_by_label("Ansøgt beløb")).to_have_attribute("aria-invalid", "true")
    check(page, "application-form-error")
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Ansøgt beløb")).to_be_focused()

    page.get_by_label("Ansøgt beløb").fill("500.000,00")
    page.get_by_role("button", name="Indsend ansøgningen").click()
    expect(page.get_by_role("status")).to_have_text("Ansøgningen er indsendt.")
    expect(page.locator(".status").first).to_contain_text("Indsendt")
    # A reload and Back never send the form again: the page was reached by a redirect (GET).
    page.reload()
    expect(page.locator(".status").first).to_contain_text("Indsendt")
    page.go_back()
    page.go_forward()
    expect(page.locator(".status").first).to_contain_text("Indsendt")


def test_unreadable_input_is_kept_with_the_error(page):
    sign_in(page, APPLICANT)
    page.goto("/calls")
    page.get_by_role("link", name=re.compile("Søg nu.*Teknologipagten ansøgningsrunde 2027")).click()
    page.get_by_label("Projektets titel").fill("Mange penge")
    page.get_by_label("Ansøgt beløb").fill("mange penge")
    page.get_by_role("button", name="Gem kladde").click()
    expect(page.locator("#requested-error")).to_contain_text("Skriv et beløb som 250.000,00")
    expect(page.locator(".notice")).to_contain_text("endnu ikke en gyldig kladde")
    # Nothing typed is lost: the text is still there, though it is not an amount.
    expect(page.get_by_label("Ansøgt beløb")).to_have_value("mange penge")
    expect(page.get_by_label("Projektets titel")).to_have_value("Mange penge")
    page.reload()
    expect(page.get_by_label("Ansøgt beløb")).to_have_value("mange penge")
    # Not yet a draft to the programme, but found on the start page.
    page.get_by_role("link", name="Mine ansøgninger").first.click()
    expect(page.get_by_role("heading", name="Ikke gemt som kladde endnu")).to_be_visible()
    page.get_by_role("link", name="Mange penge").click()
    expect(page.get_by_label("Ansøgt beløb")).to_have_value("mange penge")


def test_report_for_the_paid_tranche(page):
    sign_in(page, APPLICANT)
    card = page.locator("li.card", has_text="Robotteknologi i 8. klasse").filter(has_text="Udbetalt")
    expect(card).to_contain_text("Skriv en rapport")
    card.get_by_role("link").first.click()
    expect(page.get_by_role("cell", name="NORD-2024-0117 (1. oktober 2024)")).to_be_visible()
    expect(page.get_by_role("cell", name="NORD-2025-0032 (20. marts 2025)")).to_be_visible()
    check(page, "grant")
    page.get_by_role("button", name="Send rapporten").click()
    expect(page.locator("#summary-error")).to_be_visible()
    # The report due is chosen: the progress report is in, so the final one.
    expect(page.get_by_label("Slutrapport")).to_be_checked()
    page.get_by_label("Rapporten").fill("Tre hold piger har bygget robotter; 64 elever nået.")
    page.get_by_role("button", name="Send rapporten").click()
    expect(page.get_by_role("status")).to_have_text("Rapporten er sendt.")
    expect(page.get_by_text("Tre hold piger har bygget robotter")).to_be_visible()
    expect(page.locator(".card .status", has_text="Venter på godkendelse")).to_be_visible()
    # One report at a time: the form is gone until this one is approved.
    expect(page.get_by_role("button", name="Send rapporten")).to_have_count(0)


def test_english_and_its_money(page):
    sign_in(page, APPLICANT)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My applications")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/awarded")
    expect(page.get_by_role("cell", name="DKK 300,000.00")).to_be_visible()
    check(page, "awarded-en")
    page.get_by_role("link", name="Dansk").click()
    expect(page.get_by_role("cell", name="300.000,00 kr.")).to_be_visible()
    check(page, "awarded")


def test_sign_out_ends_the_session(page):
    sign_in(page, APPLICANT)
    page.get_by_role("button", name="Log ud").click()
    expect(page.get_by_role("status")).to_have_text("Du er logget ud.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_others_are_refused(browser, page):
    # A steering member is not an applicant: the applicant's pages refuse them.
    sign_in(page, STEERING)
    page.goto("/calls")
    expect(page.get_by_role("heading", level=1)).to_have_text("Det må du ikke")
    check(page, "forbidden")

    # An applicant of another school, invited by the command line, sets a password through the link.
    email = f"lærer-{uuid.uuid4().hex[:6]}@hjorring-gym.dk"
    printed = grantledger("users", "add", email, "--name", "Sofie Nielsen", "--role", "applicant", "--organisation", "Hjørring Gymnasium")
    link = re.search(r"(http\S+/invitations/\S+)", printed).group(1)
    other = browser.new_context(base_url=BASE, locale="da-DK", extra_http_headers={"Accept-Language": "da"})
    visitor = other.new_page()
    visitor.goto(link)
    check(visitor, "set-password")
    visitor.get_by_label("Ny adgangskode").fill("kort")
    visitor.get_by_role("button", name="Gem adgangskoden og log ind").click()
    expect(visitor.locator("#password-error")).to_contain_text("mindst 10 tegn")
    visitor.get_by_label("Ny adgangskode").fill("en god lang adgangskode")
    visitor.get_by_role("button", name="Gem adgangskoden og log ind").click()
    expect(visitor.get_by_role("status")).to_have_text("Din adgangskode er gemt. Du er logget ind.")
    expect(visitor.get_by_text("Hjørring Gymnasium").first).to_be_visible()
    # The link works once.
    visitor.goto(link)
    expect(visitor.get_by_role("alert")).to_contain_text("Linket er brugt")

    # Aalborg's grant and its report form are not Hjørring's: the same check as the API's.
    own = visitor.request.get("/v1/public/grants").json()["grants"]
    aalborg = next(g for g in own if g["recipient"] == "Aalborg Tekniske Gymnasium")
    visitor.goto(f"/grants/{aalborg['grantId'].lower()}")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Siden findes ikke")
    visitor.goto("/")
    csrf = visitor.locator("input[name=csrf]").first.get_attribute("value")
    refused = visitor.request.post(f"/grants/{aalborg['grantId'].lower()}/reports",
                                   form={"csrf": csrf, "kind": "progress", "summary": "Ikke vores"}, max_redirects=0)
    assert refused.status == 404
    # A form without the session's token is refused, whoever sends it.
    forged = visitor.request.post("/sign-out-everywhere", form={"csrf": "forged"}, max_redirects=0)
    assert forged.status == 403
    other.close()

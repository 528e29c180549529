"""An administrator invites, sees the one-time link once, revokes a role,
and the user's open session feels it at the next request; a second server
process on the same database knows the same sessions."""
import os
import re
import uuid

import pytest
from playwright.sync_api import expect

from conftest import ADMIN, BASE, check, sign_in



def test_invite_link_once_revoke_at_once(browser, page):
    sign_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/admin/users"))
    check(page, "users")
    email = f"ny-{uuid.uuid4().hex[:6]}@aalborg-tg.dk"
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_label("Navn").fill("Ny Lærer")
    page.get_by_label("Rolle", exact=True).select_option("applicant")
    page.get_by_label("Organisation", exact=True).fill("Aalborg Tekniske Gymnasium")
    page.get_by_role("button", name="Invitér").click()
    link = page.get_by_label(re.compile("Link til")).input_value()
    assert "/invitations/" in link
    # Shown once: a reload does not show it again.
    page.reload()
    expect(page.get_by_label(re.compile("Link til"))).to_have_count(0)

    teacher = browser.new_context(base_url=BASE, locale="da-DK", extra_http_headers={"Accept-Language": "da"})
    tab = teacher.new_page()
    tab.goto(link)
    tab.get_by_label("Ny adgangskode").fill("en god lang adgangskode")
    tab.get_by_role("button", name="Gem adgangskoden og log ind").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Mine ansøgninger")

    # Revoked in the admin's page: the teacher's next request is refused.
    row = page.get_by_role("row", name=re.compile(email))
    row.get_by_role("button", name=re.compile("Fjern")).click()
    expect(page.get_by_role("status")).to_contain_text("Rollen er fjernet")
    tab.reload()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Det må du ikke")

    # An invitation the domain refuses (no organisation for an applicant) says so next to the field, keeping what was typed.
    page.get_by_label("E-mailadresse").fill(f"uden-{uuid.uuid4().hex[:6]}@skole.dk")
    page.get_by_label("Navn").fill("Uden Skole")
    page.get_by_role("button", name="Invitér").click()
    expect(page.locator("#organisation-error")).to_contain_text("Skal udfyldes")
    expect(page.get_by_label("Navn")).to_have_value("Uden Skole")
    # One address is one user.
    page.get_by_label("E-mailadresse").fill(email.upper())
    page.get_by_label("Organisation", exact=True).fill("Aalborg Tekniske Gymnasium")
    page.get_by_role("button", name="Invitér").click()
    expect(page.locator("#email-error")).to_contain_text("Der er allerede en bruger")
    teacher.close()


@pytest.mark.skipif(not os.environ.get("GL_WEB_URL_2"), reason="no second server")
def test_a_second_process_knows_the_session(page):
    sign_in(page, ("jens.kristensen@demo.grantledger.dk", "demo-applicant-2026"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine ansøgninger")
    # The same browser (cookies are per host, not per port) asks the other process.
    page.goto(os.environ["GL_WEB_URL_2"] + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mine ansøgninger")
    page.get_by_role("button", name="Log ud").click()
    page.goto(BASE + "/")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_schedule_a_meeting(page):
    sign_in(page, ADMIN)
    page.get_by_role("link", name="Møder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Styregruppernes møder")
    expect(page.get_by_label("Styregruppe")).to_have_text(re.compile("STEM i Nord"))
    # The waiting application stays with the meeting of 26 November; two members will be away.
    for box in page.get_by_role("group", name="Dagsordenen").get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("checkbox", name="Ole Pedersen").uncheck()
    page.get_by_role("checkbox", name="Lars Christensen").uncheck()
    page.get_by_role("button", name="Planlæg et møde").click()
    expect(page.locator("#day-error")).to_contain_text("Vælg mødets dato.")
    # What was chosen is kept.
    expect(page.get_by_role("checkbox", name="Ole Pedersen")).not_to_be_checked()
    page.get_by_label("Dato").fill("2027-01-14")
    page.get_by_label("Klokkeslæt (valgfrit)").fill("15:30")
    page.get_by_role("button", name="Planlæg et møde").click()
    expect(page.get_by_role("status")).to_have_text("Mødet er planlagt.")
    row = page.get_by_role("row", name=re.compile("14. januar 2027"))
    expect(row).to_contain_text("kl. 15.30")
    expect(row.get_by_role("cell").nth(1)).to_have_text("10")
    check(page, "meetings")

    # Ole can come after all: his attendance is changed on the meeting's own page, with the reason.
    row.get_by_role("link", name=re.compile("Fremmøde og dagsorden")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("STEM i Nord")
    attendance = page.get_by_role("group", name="Til stede")
    for box in attendance.get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Gem fremmødet").click()
    expect(page.locator("#present")).to_contain_text("Sæt kryds ved mindst ét medlem.")
    expect(page.get_by_role("checkbox", name="Ole Pedersen")).not_to_be_checked()
    for box in attendance.get_by_role("checkbox").all():
        box.check()
    page.get_by_role("checkbox", name="Lars Christensen").uncheck()
    page.locator("#attendanceReason").fill("Ole kan alligevel komme")
    page.get_by_role("button", name="Gem fremmødet").click()
    expect(page.get_by_role("status")).to_have_text("Fremmødet er gemt.")
    expect(page.get_by_role("checkbox", name="Ole Pedersen")).to_be_checked()
    check(page, "meeting-admin")
    page.get_by_role("link", name="Tilbage til møderne").click()
    expect(page.get_by_role("row", name=re.compile("14. januar 2027")).get_by_role("cell").nth(1)).to_have_text("11")


def test_reduce_a_grant(page):
    sign_in(page, ADMIN)
    page.goto("/admin/payments")
    page.get_by_role("link", name="Fra grundskole til EUX").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fra grundskole til EUX")
    page.get_by_label("Beløb").fill("ti tusind")
    page.get_by_label("Begrundelse").fill("Færre hold end planlagt")
    page.get_by_role("button", name="Registrér ændringen").click()
    expect(page.locator("#amount-error")).to_be_visible()
    expect(page.get_by_label("Begrundelse")).to_have_value("Færre hold end planlagt")
    page.get_by_label("Beløb").fill("10.000")
    page.get_by_role("button", name="Registrér ændringen").click()
    expect(page.get_by_role("status")).to_have_text("Ændringen er registreret.")
    check(page, "admin-grant")


def test_give_a_user_another_role(page):
    sign_in(page, ADMIN)
    email = f"to-roller-{uuid.uuid4().hex[:6]}@aalborg-tg.dk"
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_label("Navn").fill("To Roller")
    page.get_by_label("Rolle", exact=True).select_option("auditor")
    page.get_by_role("button", name="Invitér").click()
    # An applicant's role names the organisation: without it, refused beside the form, nothing given.
    page.get_by_label("Bruger", exact=True).select_option(label=f"To Roller ({email})")
    page.get_by_label("Den nye rolle").select_option("applicant")
    page.get_by_role("button", name="Giv rollen").click()
    expect(page.locator("#grant-error")).to_be_visible()
    expect(page.get_by_label("Bruger", exact=True)).to_have_value(re.compile("[0-9a-f-]{36}"))
    page.get_by_label("Den nye rolle").select_option("applicant")
    page.get_by_label("Ansøgerens organisation").fill("Aalborg Tekniske Gymnasium")
    page.get_by_role("button", name="Giv rollen").click()
    expect(page.get_by_role("status")).to_contain_text("Rollen er givet")
    row = page.get_by_role("row", name=re.compile(email))
    expect(row).to_contain_text("revisor")
    expect(row).to_contain_text("ansøger for Aalborg Tekniske Gymnasium")

"""An administrator creates a pool, adds a period, moves money between
periods (refused beyond what is left, with the figures), opens a call,
moves its deadline and closes it early; applicants see the call while it
is open and not after."""
import re
import uuid
from datetime import timedelta

from playwright.sync_api import expect

from conftest import ADMIN, APPLICANT, BASE, check, sign_in, today


def test_run_a_pool_and_its_call(browser, page):
    sign_in(page, ADMIN)
    page.get_by_role("link", name="Puljer og opslag").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Puljer og opslag")
    name = f"Naturfag i Vest {uuid.uuid4().hex[:4]}"
    page.get_by_label("Puljens navn").fill(name)
    page.get_by_label("Ejer").fill("Region Midtjylland")
    page.get_by_label("Styregruppe").select_option(label="STEM i Nord")
    first_period = page.get_by_role("group", name="Budgetperiode 1")
    first_period.get_by_label("Periode").fill("2027")
    first_period.get_by_label("Beløb").fill("1.000.000")
    source = page.get_by_role("group", name="Finansieringskilde 1")
    source.get_by_label("Kildens navn").fill("Region Midtjylland")
    source.get_by_label("Beløb").fill("en million")
    page.get_by_role("button", name="Opret en pulje").click()
    # Refused beside the field; what was typed is kept.
    expect(page.locator("#sources-0-amount-error")).to_contain_text("Skriv et beløb")
    expect(page.get_by_label("Puljens navn")).to_have_value(name)
    check(page, "admin-pools")
    page.get_by_role("group", name="Finansieringskilde 1").get_by_label("Beløb").fill("1.000.000")
    page.get_by_role("button", name="Opret en pulje").click()
    expect(page.get_by_role("status")).to_have_text("Puljen er oprettet.")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)

    page.locator("#addPeriod").fill("2028")
    page.locator("#addAmount").fill("500.000")
    page.get_by_role("button", name="Tilføj en periode").click()
    expect(page.get_by_role("status")).to_have_text("Perioden er tilføjet.")
    expect(page.get_by_role("row", name=re.compile("^2028"))).to_contain_text("500.000,00 kr.")

    # More than the period has left: the rule and the figures, nothing moved.
    page.get_by_label("Fra periode").select_option("2027")
    page.get_by_label("Til periode").select_option("2028")
    page.locator("#moveAmount").fill("2.000.000")
    page.locator("#moveReason").fill("Flere skoler i 2028")
    page.get_by_role("button", name="Flyt penge mellem perioder").click()
    expect(page.locator("#moveAmount-error")).to_contain_text("1.000.000,00 kr.")
    expect(page.locator("#moveReason")).to_have_value("Flere skoler i 2028")
    page.locator("#moveAmount").fill("200.000")
    page.get_by_role("button", name="Flyt penge mellem perioder").click()
    expect(page.get_by_role("status")).to_have_text("Pengene er flyttet.")
    expect(page.get_by_role("row", name=re.compile("^2028"))).to_contain_text("700.000,00 kr.")

    opens = today()
    title = f"Forårsrunde {uuid.uuid4().hex[:4]}"
    page.get_by_label("Opslagets titel").fill(title)
    page.locator("#callOpensDay").fill(opens.isoformat())
    page.locator("#callClosesDay").fill((opens + timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Opret et opslag").click()
    expect(page.get_by_role("status")).to_have_text("Opslaget er oprettet.")
    call = page.get_by_role("region", name=re.compile(title))
    expect(call.get_by_role("heading")).to_contain_text("Åbent")

    applicant = browser.new_context(base_url=BASE, locale="da-DK", extra_http_headers={"Accept-Language": "da"})
    tab = applicant.new_page()
    sign_in(tab, APPLICANT)
    tab.goto("/calls")
    expect(tab.get_by_role("heading", name=title)).to_be_visible()

    # A deadline in the past is refused: closing is its own step.
    call.get_by_text("Ændr eller luk opslaget").click()
    closes = call.get_by_label("Lukker den")
    closes.fill("2020-01-01")
    call.get_by_role("button", name=re.compile("Ændr perioden")).click()
    call = page.get_by_role("region", name=re.compile(title))
    expect(call.get_by_role("paragraph").filter(has_text="lukke opslaget nu")).to_be_visible()
    later = opens + timedelta(days=60)
    call.get_by_label("Lukker den").fill(later.isoformat())
    call.get_by_label("Begrundelse (valgfri)").fill("Skolerne bad om mere tid")
    call.get_by_role("button", name=re.compile("Ændr perioden")).click()
    expect(page.get_by_role("status")).to_have_text("Opslagets periode er ændret.")
    check(page, "admin-pool")

    # Closing needs a reason; then it is closed and applicants no longer see it.
    call = page.get_by_role("region", name=re.compile(title))
    call.get_by_text("Ændr eller luk opslaget").click()
    call.get_by_role("button", name=re.compile("Luk opslaget nu")).click()
    call = page.get_by_role("region", name=re.compile(title))
    expect(call.locator(".field-error")).to_contain_text("Skal udfyldes")
    call.get_by_label("Begrundelse", exact=True).fill("Puljen er brugt")
    call.get_by_role("button", name=re.compile("Luk opslaget nu")).click()
    expect(page.get_by_role("status")).to_have_text("Opslaget er lukket.")
    expect(page.get_by_role("region", name=re.compile(title)).get_by_role("heading")).to_contain_text("Lukket")
    tab.goto("/calls")
    expect(tab.get_by_role("heading", name=title)).to_have_count(0)
    applicant.close()

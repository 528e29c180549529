"""An auditor replays who held which role, and when; reads only: the
administrator's pages and every form that changes something are refused."""
import json
import re
import zipfile
import uuid
from datetime import timedelta

from playwright.sync_api import expect

from conftest import AUDITOR, check, grantledger, sign_in, today



def test_roles_over_time(page):
    sign_in(page, AUDITOR)
    expect(page).to_have_url(re.compile(r"/audit/roles"))
    check(page, "audit-roles")
    # Today: the demo applicant holds the applicant role, given by whoever invited him.
    row = page.get_by_role("row", name=re.compile("jens.kristensen@demo.grantledger.dk"))
    expect(row).to_contain_text("ansøger for Aalborg Tekniske Gymnasium")

    # Long before the demo: nobody held anything.
    page.get_by_label("Dato").fill("2020-01-01")
    page.get_by_role("radio", name="Som det var da").check()
    page.get_by_role("button", name="Vis rollerne").click()
    expect(page).to_have_url(re.compile(r"day=2020-01-01.*basis=occurred"))
    expect(page.get_by_text("Ingen havde en rolle på det tidspunkt.")).to_be_visible()
    # The choices stay as made, so the question can be changed and asked again.
    expect(page.get_by_label("Dato")).to_have_value("2020-01-01")
    expect(page.get_by_role("radio", name="Som det var da")).to_be_checked()

    # Only the administrators, as of tomorrow's end.
    page.get_by_label("Dato").fill((today() + timedelta(days=1)).isoformat())
    page.get_by_label("Rolle").select_option("admin")
    page.get_by_role("button", name="Vis rollerne").click()
    expect(page.get_by_role("row", name=re.compile("maria.admin@demo.grantledger.dk"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("jens.kristensen"))).to_have_count(0)


def test_an_auditor_changes_nothing(page):
    sign_in(page, AUDITOR)
    # The administrator's page is not the auditor's.
    page.goto("/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Det må du ikke")
    # Nor is an applicant's form: refused, not a blank page.
    page.goto("/calls")
    expect(page.get_by_role("heading", level=1)).to_have_text("Det må du ikke")
    # A form posted with the auditor's own session and token is still refused by role.
    token = page.request.get("/audit/roles").text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', token).group(1)
    answer = page.request.post("/admin/users", form={"csrf": csrf, "email": "x@skole.dk", "name": "X", "role": "admin"},
                               max_redirects=0)
    assert answer.status == 403
    # Nor may an auditor request, approve or pay money, or record a steering group's decision.
    for path in ["/admin/payments/request", f"/admin/payments/{uuid.uuid4()}/approve",
                 f"/steering/meetings/{uuid.uuid4()}/decisions/{uuid.uuid4()}"]:
        answer = page.request.post(path, form={"csrf": csrf, "grantId": str(uuid.uuid4()), "tranche": "1", "version": "1"},
                                   max_redirects=0)
        assert answer.status == 403, path
    page.goto("/admin/payments")
    expect(page.get_by_role("heading", level=1)).to_have_text("Det må du ikke")


def test_verification_from_the_page(page):
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Kontrol").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kontrollér historikken")
    page.get_by_role("button", name="Kontrollér nu").click()
    # The progress is written as it goes, then the result.
    expect(page.locator("ol.progress li").first).to_contain_text("hændelser kontrolleret")
    expect(page.locator("#verification-result")).to_contain_text("Historikken er intakt")
    check(page, "audit-verify")


def test_a_decisions_trail(page):
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Beslutninger").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Beslutninger")
    check(page, "audit-decisions")
    # The demo school's approved grant, as the steering group decided it.
    row = page.get_by_role("row", name=re.compile("Aalborg Tekniske Gymnasium")).first
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Beslutningens spor")
    timeline = page.locator("ol.timeline")
    for step in ["Opslag åbnet", "Ansøgning indsendt", "Møde afholdt", "Beslutning registreret", "Tilskud givet"]:
        expect(timeline).to_contain_text(step)
    # The application's path as a picture: the same steps, each with its day.
    path = page.get_by_role("region", name="Ansøgningens vej")
    for step in ["Ansøgning indsendt", "Møde afholdt", "Tilskud givet", "Udbetalt"]:
        expect(path.locator("svg")).to_contain_text(step)
    check(page, "audit-decision")

    # The grant as of the day before its first payment was recorded, and what has changed since.
    page.get_by_role("link", name="Tilskuddet på en dato, og pengene over tid").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tilskud:")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("som registreret da")
    page.get_by_label("Dato").fill((today() - timedelta(days=1)).isoformat())
    page.get_by_role("radio", name="Som det var da").check()
    page.get_by_role("button", name="Vis tilskuddet").click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("som det var da")
    expect(page.locator("svg.chart path.paid-line")).to_have_count(1)
    expect(page.get_by_role("region", name="Bevilget og udbetalt over tid")).to_contain_text("Udbetalt")
    check(page, "audit-grant")

    # The grant's evidence in one ZIP, checked offline by the command line.
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Hent revisionspakken")).click()
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert {"trail.json", "trail.html", "movements.csv", "manifest.json"} <= set(names), names
    assert any(name.startswith("documents/") and name.endswith("/Regnskab 1. rate.csv") for name in names), names
    report = json.loads(grantledger("verify-pack", str(download.value.path())))
    assert report["ok"] and report["documentsChecked"] >= 1, report


def test_a_pool_as_of_the_day_before(page):
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Puljer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Puljer")
    page.get_by_role("row").nth(1).get_by_role("link").click()
    # Today, then the day before: the same page, asked again.
    expect(page.locator("svg.chart").first).to_be_visible()
    page.get_by_label("Dato").fill((today() - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Vis puljen").click()
    # The demo's history was recorded today: as recorded the day before, there was no pool yet ...
    expect(page.get_by_text("Puljen fandtes ikke endnu.")).to_be_visible()
    # ... as true the day before (what happened by then, recorded later too), its figures.
    page.get_by_role("radio", name="Som det var da").check()
    page.get_by_role("button", name="Vis puljen").click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("som det var da")
    expect(page.locator("svg.chart").first).to_be_visible()
    check(page, "audit-pool")
    # The movements as CSV, for the auditor's own tools.
    csv = page.request.get(page.get_by_role("link", name="Alle pengebevægelser som CSV").get_attribute("href"))
    assert csv.status == 200 and "text/csv" in csv.headers["content-type"]


def test_a_pools_movements(page):
    sign_in(page, AUDITOR)
    page.get_by_role("link", name="Puljer").click()
    page.get_by_role("row").nth(1).get_by_role("link").click()
    page.get_by_role("link", name="Alle pengebevægelser", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pengebevægelser")
    expect(page.get_by_role("status")).to_contain_text("bevægelser vist")
    check(page, "audit-ledger")
    # One source only: every row shown draws on it.
    source = page.get_by_label("Finansieringskilde").locator("option").nth(1).get_attribute("value")
    page.get_by_label("Finansieringskilde").select_option(source)
    page.get_by_role("button", name="Vis bevægelserne").click()
    expect(page).to_have_url(re.compile(f"source={source}"))
    rows = page.locator("tbody tr")
    for index in range(rows.count()):
        expect(rows.nth(index).locator("td").nth(4)).to_contain_text(source)

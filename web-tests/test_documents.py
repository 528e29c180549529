"""Documents in the browser: an applicant attaches a file to an application,
sees it scanned and listed, downloads it byte for byte; a file with a
virus is refused with the reason next to the field, and nothing is attached."""
import os
import re
import uuid

from playwright.sync_api import expect

from conftest import ADMIN, APPLICANT, STEERING, check, sign_in

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def new_draft(page):
    page.goto("/calls")
    page.get_by_role("link", name=re.compile("Søg nu.*Teknologipagten ansøgningsrunde 2027")).click()
    title = f"Bilag til droner {uuid.uuid4().hex[:6]}"
    page.get_by_label("Projektets titel").fill(title)
    page.get_by_label("Ansøgt beløb").fill("300.000,00")
    page.get_by_role("button", name="Gem kladde").click()
    expect(page.get_by_role("status")).to_have_text("Kladden er gemt.")
    page.get_by_role("link", name="Mine ansøgninger").first.click()
    page.locator(".card", has_text=title).get_by_role("link", name=title).click()
    return title


def test_attach_scan_list_download(page):
    sign_in(page, APPLICANT)
    new_draft(page)
    documents = page.locator("#documents")
    expect(documents).to_contain_text("Ingen dokumenter endnu.")
    page.get_by_label("Vedhæft en fil").set_input_files(files=[{"name": "Budget 2027.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.get_by_role("button", name="Vedhæft", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Filen er vedhæftet.")
    row = documents.locator("tbody tr", has_text="Budget 2027.pdf")
    expect(row).to_contain_text("PDF")
    expect(row).to_contain_text("Ren")
    check(page, "application-documents")
    with page.expect_download() as download:
        row.get_by_role("link", name="Budget 2027.pdf").click()
    assert download.value.suggested_filename == "Budget 2027.pdf"
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == PDF
    # A reload does not send the file again.
    page.reload()
    expect(documents.locator("tbody tr")).to_have_count(1)


def test_a_virus_is_refused_next_to_the_field(page):
    sign_in(page, APPLICANT)
    new_draft(page)
    with open(os.environ["GL_TEST_VIRUS_FILE"], "rb") as virus:
        payload = virus.read()
    page.get_by_label("Vedhæft en fil").set_input_files(files=[{"name": "noter.txt", "mimeType": "text/plain", "buffer": payload}])
    page.get_by_role("button", name="Vedhæft", exact=True).click()
    expect(page.locator("#file-error")).to_contain_text("Virusscanningen fandt")
    expect(page.locator("#file-error")).to_contain_text("Den er ikke vedhæftet.")
    expect(page.get_by_label("Vedhæft en fil")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#documents")).to_contain_text("Ingen dokumenter endnu.")
    check(page, "application-document-refused")
    # The message is shown once: after a reload the form is clean again.
    page.reload()
    expect(page.locator("#file-error")).to_have_count(0)


def test_the_meeting_pack_links_each_applications_documents(page):
    sign_in(page, STEERING)
    item = page.locator("article", has_text="Teknologiforståelse for lærerstuderende")
    link = item.get_by_role("link", name="Budget Teknologiforståelse 2027.pdf")
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    with open(download.value.path(), "rb") as saved:
        assert saved.read().startswith(b"%PDF-1.4")


def test_a_meetings_minutes_attached_by_an_administrator(page):
    sign_in(page, ADMIN)
    page.goto("/admin/meetings")
    # The meeting still to decide, so no grant's audit pack depends on what this test adds.
    page.get_by_role("row", name=re.compile("26. november 2026")).get_by_role("link", name=re.compile("Fremmøde og dagsorden")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("STEM i Nord")
    # Bytes of this run's own: the same file twice on one meeting is refused.
    minutes = f"%PDF-1.4\nDagsorden 26. november 2026 ({uuid.uuid4()})\n%%EOF\n".encode()
    page.get_by_label("Vedhæft en fil").set_input_files(files=[{"name": "Dagsorden 2026-11-26.pdf", "mimeType": "application/pdf", "buffer": minutes}])
    page.get_by_role("button", name="Vedhæft", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Filen er vedhæftet.")
    row = page.locator("#documents tbody tr", has_text="Dagsorden 2026-11-26.pdf").last
    expect(row).to_contain_text("Ren")
    with page.expect_download() as download:
        row.get_by_role("link", name="Dagsorden 2026-11-26.pdf").click()
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == minutes

    # The group's members find it on the meeting's minutes page.
    page.get_by_role("button", name=re.compile("Log ud")).first.click()
    sign_in(page, STEERING)
    page.get_by_role("row", name=re.compile("26. november 2026")).get_by_role("link", name="Referat").click()
    expect(page.locator("#documents")).to_contain_text("Dagsorden 2026-11-26.pdf")

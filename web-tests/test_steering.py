"""A steering member reads the pack for the group's next meeting: every
application waiting for a decision, the version to be decided, the rules,
the money asked for against what is left; and cannot act as an applicant."""
import re

from playwright.sync_api import expect

from conftest import STEERING, check, sign_in


def test_the_meeting_pack(page):
    sign_in(page, STEERING)
    expect(page).to_have_url(re.compile(r"/steering"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mødepakke")
    expect(page.get_by_role("heading", name="Ansøgt mod tilbage")).to_be_visible()
    # Each application on the agenda shows the version the group decides on.
    first = page.locator("article.card").first
    expect(first).to_contain_text("Version, der besluttes om")
    check(page, "steering-pack")
    # The applicant's pages are not a steering member's.
    page.goto("/calls")
    expect(page.get_by_role("heading", level=1)).to_have_text("Det må du ikke")

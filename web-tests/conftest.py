"""Browser tests: Debian's chromium driven by Playwright, against a server
that ops/webtest started with the demo loaded (GL_WEB_URL)."""
import os
import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from axe_playwright_python.sync_playwright import Axe

BASE = os.environ.get("GL_WEB_URL", "http://127.0.0.1:8091")
SHOTS = Path(os.environ.get("GL_SCREENSHOTS", Path(__file__).resolve().parent.parent / ".data" / "screenshots"))
APPLICANT = ("jens.kristensen@demo.grantledger.dk", "demo-applicant-2026")
STEERING = ("line.poulsen@demo.grantledger.dk", "demo-steering-2026")
ADMIN = ("maria.admin@demo.grantledger.dk", "demo-admin-2026")
SECOND_ADMIN = ("bo.admin@demo.grantledger.dk", "demo-admin-2026")
AUDITOR = ("revisor@demo.grantledger.dk", "demo-auditor-2026")
_axe = Axe()


@pytest.fixture(scope="session")
def browser_type_launch_args():
    # The system's browser: `playwright install` would download one, which fails here.
    return {"executable_path": os.environ.get("GL_CHROMIUM", "/usr/bin/chromium"), "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def base_url():
    return BASE


@pytest.fixture
def context(browser):
    context = browser.new_context(base_url=BASE, locale="da-DK", extra_http_headers={"Accept-Language": "da"})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    yield page
    page.close()


def check(page, name):
    """Every page the tests see: no serious or critical axe violations, and a screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    results = _axe.run(page)
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def sign_in(page, who):
    email, password = who
    page.goto("/sign-in")
    page.get_by_label(re.compile("E-mail")).fill(email)
    page.get_by_label(re.compile("Adgangskode|Password")).fill(password)
    page.get_by_role("button", name=re.compile("Log ind|Sign in")).click()


def sign_out(page):
    page.get_by_role("button", name=re.compile("Log ud|Sign out")).first.click()
    expect(page.get_by_role("status")).to_be_visible()


def today() -> date:
    """Today as the pages count days: in Copenhagen, whatever the machine's zone."""
    return datetime.now(ZoneInfo("Europe/Copenhagen")).date()


def grantledger(*args):
    """The command line, against the same database as the server."""
    return subprocess.run([os.environ["GL_BIN"], *args], check=True, capture_output=True, text=True).stdout

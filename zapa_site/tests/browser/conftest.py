"""Real-browser tests: Playwright driving Debian's Chromium against pytest-django's
live server (on PostgreSQL; the tests are marked `postgres`).

No browser is ever downloaded: Chromium is /usr/bin/chromium (`.ci/run` installs it
with apt). A failing test leaves a screenshot under test-artifacts/.
"""

import os
import re
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would otherwise
# refuse database access from the test body ("async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
STAFF_PASSWORD = "correct-horse-battery-staple"  # StaffUserFactory's


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (rep_setup, rep_call) for the fixtures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def artifact_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=artifact_path(f"FAILED-{request.node.name}"), full_page=True)
    context.close()


@pytest.fixture
def staff(transactional_db):
    from accounts.tests.factories import StaffUserFactory

    return StaffUserFactory(password=STAFF_PASSWORD)


def log_in(page, user, password: str = STAFF_PASSWORD) -> None:
    """Through the admin's own login form, as a person would."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Phone number").fill(user.phone_number)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


@pytest.fixture
def staff_page(page, staff):
    log_in(page, staff)
    return page


def no_horizontal_overflow(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )

"""An approver in a real browser (Debian's headless Chromium, driven by Playwright): the
approve link from the email opens the confirmation page, a click records the decision and
shows the thank-you page, and the run resumes. A screenshot of each page is kept in
``HIGHWAY_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the repository).

Without ``/usr/bin/chromium`` the tests skip, except with ``CI`` set, where they fail
(``.ci/run`` installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from approval_hub import Hub, links_of, local
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("HIGHWAY_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"no browser at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone-sized page that fails the test on any console error (a blocked form, a
    policy violation) but the browser's own request for a favicon."""
    context = browser.new_context(viewport=PHONE)
    opened = context.new_page()
    errors: list[str] = []

    def noted(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            errors.append(message.text)

    opened.on("console", noted)
    try:
        yield opened
        assert errors == []
    finally:
        context.close()


def test_approve_from_the_email_in_a_browser(sqlite_hub: Hub, page: Page, artifacts: Path) -> None:
    hub = sqlite_hub
    (approver,) = approvers = hub.approvers(1)
    asked = hub.ask(approvers=approvers, description="Ships **4.2** to every region.")
    (message,) = hub.mailbox.to(approver)
    page.goto(hub.gateway.url + local(links_of(message)["approve"]))
    assert page.title() == "Approve: Deploy release 4.2 to production"
    assert page.get_by_role("heading", level=1).inner_text() == "Deploy release 4.2 to production"
    assert page.locator("strong", has_text="4.2").count() == 1
    page.screenshot(path=str(artifacts / "approval-confirm.png"), full_page=True)

    page.get_by_label("Comment (optional)").fill("Looks good from here")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert page.get_by_role("status").inner_text() == "The request is approved."
    page.screenshot(path=str(artifacts / "approval-thank-you.png"), full_page=True)

    data = hub.resumed(asked["workflow_run_id"])
    assert (data["status"], data["comment"]) == ("approved", "Looks good from here")
    (decision,) = hub.status(asked["approval_id"])["decisions"]
    assert "Chrome" in decision["user_agent"]


def test_the_form_may_redirect_to_another_origin(sqlite_hub: Hub, page: Page) -> None:
    """The page's policy lets its form's answer redirect to the request's URL (browsers
    check ``form-action`` on the redirect too): here another server on loopback."""
    hub = sqlite_hub
    elsewhere = f"{hub.engine_url}/v2/workflows/after-approval/executions"
    asked = hub.ask(approvers=hub.approvers(1), notify="none", redirect_url_rejected=elsewhere)
    page.goto(hub.gateway.url + local(asked["reject_url"]))
    page.get_by_role("button", name="Reject").click()
    page.wait_for_url(elsewhere)
    assert hub.resumed(asked["workflow_run_id"])["status"] == "rejected"

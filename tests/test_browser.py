"""The web UI in a real browser: Debian's chromium driven by Playwright against the app on loopback.

The app runs in a uvicorn subprocess on the test database, sending mail to an aiosmtpd server
started here; participants follow the link from the mail they actually received.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from server.config import Settings
from server.models import User
from server.services import auth
from tests.factories import make_group, make_user
from tests.live import free_port, live_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ROOT = Path(__file__).resolve().parent.parent
MANAGER_PASSWORD = "correct horse battery"
LEARNER_PASSWORD = "staple battery horse"
LINK_PATTERN = re.compile(r"https?://[^\s\"'<>]+/learn#[A-Za-z0-9_\-.]+")
# Generous bounds for a machine shared with other work: they only stop a hung run, they assert nothing.
WAIT_MS = 30_000


def _unavailable(reason: str) -> None:
    """Skip on a developer machine without the browser; fail in CI, where it must run."""
    if os.environ.get("ROSTER_CI_REQUIRE_ALL") == "1":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    async def link_for(self, address: str, *, count: int = 1) -> str:
        """The link in the count-th message to address, once it has arrived."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            received = self.to(address)
            if len(received) >= count:
                message = received[count - 1]
                part = message.get_body(preferencelist=("plain", "html"))
                found = LINK_PATTERN.search(part.get_content() if part else "")
                assert found, f"no course link in the mail to {address}"
                return found.group(0)
            await asyncio.sleep(0.2)
        raise AssertionError(f"no mail to {address} arrived; got mail for {[str(m['To']) for m in self.messages]}")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def server(settings: Settings, mailbox: Mailbox) -> Iterator[str]:
    """The real app (`roster serve`) on the test database, its mail going to the mailbox, links naming itself."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with live_server(
        settings,
        ARTIFACTS / "browser-server.log",
        port=port,
        ROSTER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ROSTER_SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}",
        ROSTER_MAIL_WORKER="1",
    ) as running:
        yield running.url


@pytest.fixture
def browser_factory():
    """Playwright's async API (the tests run inside pytest-asyncio's loop) on Debian's chromium."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    return async_playwright


class Screens:
    """Screenshots of the main screens, for a person to look at; and every console error seen."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def watch(self, page) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))

    async def shot(self, page, name: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def seed_directory() -> None:
    """A manager who signs in, a group of two, and an internal user whose address gets pasted as external."""
    manager = await make_user("manager", display_name="Mia Manager", email="mia@corp.example")
    manager.is_admin = True
    await manager.save(update_fields=["is_admin"])
    await auth.set_password(username="manager", password=MANAGER_PASSWORD, actor="test")
    await make_user("alice", display_name="Alice Archer", email="alice@corp.example")
    await make_user("bob", display_name="Bob Baker", email="bob@corp.example")
    await make_user("carol", display_name="Carol Cruz", email="carol@corp.example")
    await auth.set_password(username="carol", password=LEARNER_PASSWORD, actor="test")
    await make_group("sales", ["alice", "bob"])


def showing(last: int, total: int) -> str:
    return f"Showing 1\u2013{last} of {total} participants."


def row(page, name: str):
    return page.locator("table.report tbody tr", has=page.locator("td", has_text=re.compile(f"^{re.escape(name)}")))


async def enroll_external(page, emails: str, *, keyboard: bool = False) -> None:
    """The arrow beside "Enroll participants", then its menu's "Enroll external participants"."""
    if keyboard:
        await page.get_by_role("button", name="More ways to enroll").focus()
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")
        await page.keyboard.type(emails)
        await page.keyboard.press("Tab")  # the "email each participant" box
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
    else:
        await page.get_by_role("button", name="More ways to enroll").click()
        await page.get_by_role("menuitem", name="Enroll external participants").click()
        await page.get_by_label("Email addresses").fill(emails)
        await page.get_by_role("button", name="Enroll", exact=True).click()
    await page.locator(".result-title").wait_for()


async def test_manager_enrolls_and_a_participant_completes_the_course(browser_factory, server: str, mailbox: Mailbox) -> None:
    # given a manager, a group "sales" of two, and carol, an internal user
    await seed_directory()
    assert await User.filter(is_admin=True).count() == 1
    screens = Screens()
    async with browser_factory() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        manager_context = await browser.new_context(viewport={"width": 1280, "height": 900})
        manager_context.set_default_timeout(WAIT_MS)
        page = await manager_context.new_page()
        screens.watch(page)

        # when the manager signs in
        response = await page.goto(f"{server}/")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        await page.get_by_label("Username").fill("manager")
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").get_by_text("Wrong username or password.").wait_for()
        await screens.shot(page, "01-sign-in")
        await page.get_by_label("Password").fill(MANAGER_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Courses").wait_for()

        # and creates a course with a lesson and a one-question quiz, then publishes it
        await page.get_by_label("Title").fill("Safety basics")
        await page.get_by_label("Description (optional)").fill("What everyone on site must know.")
        await page.get_by_role("button", name="Create course").click()
        await page.get_by_role("heading", name="Safety basics").wait_for()
        await page.get_by_label("Lesson title").fill("Why it matters")
        await page.get_by_label(re.compile("^Text")).fill("Accidents are **preventable**.\n\n- look\n- think")
        await page.get_by_role("button", name="Add lesson").click()
        await page.get_by_text("The lesson “Why it matters” was added.").wait_for()
        await page.get_by_role("button", name="Add a question").click()
        await page.get_by_label("Question 1", exact=True).fill("What prevents accidents?")
        await page.get_by_label("Choice 1 of question 1", exact=True).fill("Attention")
        await page.get_by_label("Choice 2 of question 1", exact=True).fill("Luck")
        await page.get_by_label("Pass mark (%)").fill("100")
        await page.get_by_role("button", name="Save quiz").click()
        await page.get_by_text("The quiz was saved.").wait_for()
        await page.get_by_role("button", name="Publish").click()
        await page.locator("h1 .badge", has_text="Published").wait_for()
        await screens.shot(page, "02-course-content")

        # and enrolls the group "sales" through search-as-you-type
        await page.get_by_role("button", name="Enroll participants").click()
        await page.get_by_label("Users or groups").fill("sal")
        await page.get_by_role("button", name=re.compile("Group: sales")).wait_for()
        await page.screenshot(path=str(ARTIFACTS / "03-enroll-search.png"))
        await page.get_by_role("button", name=re.compile("Group: sales")).click()
        await page.get_by_role("button", name=re.compile(r"^Enroll \(1 choice\)")).click()
        await page.get_by_role("heading", name="Enrolled 2 participants, skipped 0.").wait_for()
        await page.get_by_role("button", name="Close").click()

        # and two externals, pasting carol's address by mistake
        await enroll_external(page, "dana@partner.example, eve@partner.example\ncarol@corp.example")
        result = page.locator(".result")
        await result.get_by_role("heading", name="Enrolled 2 participants, skipped 1.").wait_for()
        skipped = result.locator(".skipped li")
        assert "carol@corp.example" in await skipped.inner_text()
        await page.screenshot(path=str(ARTIFACTS / "04-enrollment-result.png"))

        # then one click enrolls carol as the internal user instead
        await result.get_by_role("button", name="Enroll Carol Cruz (carol) instead").click()
        await result.get_by_text("Enrolled carol as an internal user").wait_for()
        await page.get_by_role("button", name="Close").click()

        # and the report lists all five, with the warning that links are personal
        await page.get_by_role("link", name="Report").click()
        await page.get_by_text(showing(5, 5)).wait_for()
        await page.get_by_text("Links are personal.").wait_for()
        assert await row(page, "alice").locator("td[data-label=Type]").inner_text() == "Internal"
        assert await row(page, "alice").locator("td[data-label='Enrolled via']").inner_text() == "group:sales"
        assert await row(page, "dana@partner.example").locator("td[data-label=Type]").inner_text() == "External"
        await screens.shot(page, "05-report")
        await page.get_by_label("Type").select_option("EXTERNAL")
        await page.get_by_text(showing(2, 2)).wait_for()
        await page.get_by_label("Type").select_option("")
        await page.get_by_label("Search").fill("dana")
        await page.get_by_text(showing(1, 1)).wait_for()
        await page.get_by_label("Search").fill("")
        await page.get_by_text(showing(5, 5)).wait_for()

        # when the manager removes eve (confirming) and enrolls her again
        await row(page, "eve@partner.example").get_by_role("button", name="Remove").click()
        await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        await page.get_by_text("eve@partner.example was removed from the course.").wait_for()
        await page.get_by_text(showing(4, 4)).wait_for()
        await enroll_external(page, "eve@partner.example", keyboard=True)
        await page.locator(".result").get_by_role("heading", name="Enrolled 1 participant, skipped 0.").wait_for()
        await page.get_by_role("button", name="Close").click()
        await page.get_by_text(showing(5, 5)).wait_for()

        # then dana follows the link from her mail, in a browser of her own
        dana_link = await mailbox.link_for("dana@partner.example")
        assert dana_link.startswith(f"{server}/learn#")
        participant_context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        participant_context.set_default_timeout(WAIT_MS)
        learner = await participant_context.new_page()
        screens.watch(learner)
        response = await learner.goto(dana_link)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        await learner.get_by_role("heading", name="Safety basics").wait_for()
        await learner.get_by_text("This link is personal.").wait_for()
        assert await learner.locator(".lesson-body strong").inner_text() == "preventable"
        await screens.shot(learner, "06-participant-course-phone")

        # and completes the lesson and passes the quiz
        await learner.get_by_role("button", name="Mark as complete").click()
        await learner.get_by_text("✓ Completed").wait_for()
        await learner.get_by_label("Attention").check()
        await learner.get_by_role("button", name="Submit answers").click()
        await learner.get_by_text("You scored 100%: you passed.").wait_for()
        await learner.locator("#result").get_by_text("You have completed this course").wait_for()
        await screens.shot(learner, "07-participant-result-phone")

        # when the manager resends dana's link
        await row(page, "dana@partner.example").get_by_role("button", name="Resend link").click()
        await page.get_by_role("dialog").get_by_role("button", name="Resend link").click()
        await page.get_by_text("A new link is on its way to dana@partner.example.").wait_for()
        dana_new_link = await mailbox.link_for("dana@partner.example", count=2)

        # then her old link gets a calm page with no detail, and the new one opens her course as she left it
        await learner.goto("about:blank")
        await learner.goto(dana_link)
        await learner.get_by_role("heading", name="This link is no longer valid").wait_for()
        await learner.get_by_text("ask your course manager").wait_for()
        await screens.shot(learner, "08-invalid-link-phone")
        await learner.goto(dana_new_link)
        await learner.locator("#result").get_by_text("You have completed this course").wait_for()

        # and a new link made for bob is shown once to the manager, not mailed
        bob_first_link = await mailbox.link_for("bob@corp.example")
        await row(page, "bob").get_by_role("button", name="New link").click()
        await page.get_by_role("dialog").get_by_role("button", name="Make a new link").click()
        bob_link = await page.get_by_role("textbox", name="New link for bob").input_value()
        assert bob_link.startswith(f"{server}/learn#")
        assert bob_link != bob_first_link
        assert len(mailbox.to("bob@corp.example")) == 1

        # and carol, enrolled as the internal user, finds the course in My learning
        carol_context = await browser.new_context(viewport={"width": 1024, "height": 768})
        carol_context.set_default_timeout(WAIT_MS)
        carol = await carol_context.new_page()
        screens.watch(carol)
        await carol.goto(f"{server}/learning")
        await carol.get_by_label("Username").fill("carol")
        await carol.get_by_label("Password").fill(LEARNER_PASSWORD)
        await carol.get_by_role("button", name="Sign in").click()
        await carol.get_by_role("link", name="Safety basics").click()
        await carol.get_by_role("button", name="Mark as complete").click()
        await carol.get_by_text("✓ Completed").wait_for()
        await screens.shot(carol, "09-my-learning-course")

        # then the manager's report shows dana's progress and score
        await page.reload()
        dana = row(page, "dana@partner.example")
        await dana.locator("td[data-label=Status]", has_text="Passed").wait_for()
        assert await dana.locator("td[data-label=Score]").inner_text() == "100%"
        assert await dana.locator("td[data-label=Progress] progress").get_attribute("value") == "100"
        assert await dana.locator("td[data-label='Last activity']").inner_text() != "—"
        carol_row = row(page, "carol")
        await carol_row.locator("td[data-label=Status]", has_text="In progress").wait_for()
        await screens.shot(page, "10-report-after")

        # and the report pages through a longer list
        await enroll_external(page, " ".join(f"guest{i}@partner.example" for i in range(1, 9)))
        await page.get_by_role("button", name="Close").click()
        # the report redraws after an enrollment: change the page size on the redrawn one
        await page.get_by_text(showing(13, 13)).wait_for()
        await page.get_by_label("Rows per page").select_option("10")
        await page.get_by_text(showing(10, 13)).wait_for()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_text("Showing 11\u201313 of 13 participants.").wait_for()
        assert await page.locator("table.report tbody tr").count() == 3
        await page.get_by_role("button", name="Previous").click()
        await page.get_by_text(showing(10, 13)).wait_for()

        # and the CSV export holds the same participants
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Export CSV").click()
        download = await download_info.value
        csv_text = Path(await download.path()).read_text()
        assert "dana@partner.example" in csv_text
        assert "eve@partner.example" in csv_text

        await page.set_viewport_size({"width": 390, "height": 844})
        await screens.shot(page, "11-report-phone")
        await page.set_viewport_size({"width": 1280, "height": 900})

        # and the group "sales" can be set to enroll automatically; its members are enrolled already
        await page.get_by_role("link", name="Content").click()
        await page.get_by_label("Group", exact=True).fill("sales")
        await page.get_by_role("button", name="Enroll this group automatically").click()
        await page.get_by_text("sales now enrolls automatically; 0 members enrolled now.").wait_for()
        await page.get_by_role("button", name="Stop enrolling sales automatically").wait_for()
        await page.set_viewport_size({"width": 390, "height": 844})
        await screens.shot(page, "12-course-phone")

        # and signing out leads back to the sign-in form
        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_role("heading", name="Sign in to Roster").wait_for()

        await browser.close()
    assert screens.errors == []

"""The UI in a real browser: Debian's chromium, via Playwright, through real nginx to a real users API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

from localservices import NginxServer, UsersApiServer

pytestmark = [pytest.mark.browser, pytest.mark.services]


@pytest.fixture(scope="module")
def nginx(api: UsersApiServer) -> Iterator[NginxServer]:
    with NginxServer(backend_url=api.url) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Browser, clean_state: None, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        page.screenshot(path=str(tmp_path / "ui-final.png"), full_page=True)
        context.close()
    assert errors == [], errors  # no uncaught JavaScript error on the page


def seed(base_url: str, count: int) -> None:
    with httpx.Client(base_url=base_url) as client:
        for index in range(count):
            response = client.post(
                "/api/users", json={"email": f"seed{index:02d}@example.com", "name": f"Seed {index}"}
            )
            assert response.status_code == 201


def test_list_page_add_validate_and_delete(page: Page, nginx: NginxServer, tmp_path: Path) -> None:
    seed(nginx.url, 12)
    rows = page.locator("#users-table tbody tr")
    cache_state = page.locator("#cache-state")

    # List: the first page of 10, served from Postgres and then from the cache.
    page.goto(nginx.url)
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("seed00@example.com")
    expect(cache_state).to_have_text("MISS")
    page.reload()
    expect(rows).to_have_count(10)
    expect(cache_state).to_have_text("HIT")

    # Page forward by cursor: the last two users, and no further page.
    page.locator("#next-page").click()
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text("seed11@example.com")
    expect(page.locator("#next-page")).to_be_disabled()

    # Add: the new user appears on this (last) page, read fresh after the write invalidated the cache.
    page.fill("#email", "grace@example.com")
    page.fill("#name", "Grace Hopper")
    page.click("#add-user")
    expect(page.locator("#status")).to_have_text("Added grace@example.com.")
    expect(rows).to_have_count(3)
    expect(rows.last).to_contain_text("Grace Hopper")
    expect(cache_state).to_have_text("MISS")
    expect(page.locator("#email")).to_have_value("")

    # Validation errors come from the API and are shown next to the form.
    page.fill("#email", "not-an-email")
    page.fill("#name", "")
    page.click("#add-user")
    form_error = page.locator("#form-error")
    expect(form_error).to_be_visible()
    expect(form_error).to_contain_text("email")
    expect(page.locator("#email-error")).to_contain_text("must be an email address")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).not_to_be_empty()
    expect(rows).to_have_count(3)

    # A duplicate email (in another case) is refused with the API's message.
    page.fill("#email", "GRACE@example.com")
    page.fill("#name", "Impostor")
    page.click("#add-user")
    expect(form_error).to_contain_text("already exists")
    expect(page.locator("#email-error")).to_have_text("is already taken")
    page.screenshot(path=str(tmp_path / "ui-validation.png"), full_page=True)

    # Delete: the row goes away, here and in the API.
    grace = rows.filter(has_text="grace@example.com")
    grace.get_by_role("button", name=re.compile("Delete")).click()
    expect(page.locator("#status")).to_have_text("Deleted grace@example.com.")
    expect(rows).to_have_count(2)
    expect(page.locator("#users-table")).not_to_contain_text("grace@example.com")
    with httpx.Client(base_url=nginx.url) as client:
        emails = [u["email"] for u in client.get("/api/users", params={"limit": "200"}).json()["items"]]
    assert "grace@example.com" not in emails
    assert len(emails) == 12

    # Back to the first page.
    page.locator("#prev-page").click()
    expect(rows).to_have_count(10)
    expect(page.locator("#page-info")).to_have_text("Page 1")
    page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
    assert (tmp_path / "ui.png").stat().st_size > 10_000


def test_deleting_the_last_row_of_a_page_shows_the_previous_page(page: Page, nginx: NginxServer) -> None:
    seed(nginx.url, 11)
    rows = page.locator("#users-table tbody tr")
    page.goto(nginx.url)
    expect(rows).to_have_count(10)
    page.locator("#next-page").click()
    expect(rows).to_have_count(1)

    rows.first.get_by_role("button", name=re.compile("Delete")).click()

    expect(rows).to_have_count(10)
    expect(page.locator("#page-info")).to_have_text("Page 1")
    expect(page.locator("#next-page")).to_be_disabled()

"""The budget meter and a project's cap in a real Chromium against a real `sorakit serve`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from playwright.sync_api import Page, sync_playwright

from sorakit.settings import Settings
from tests.studio.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium

pytestmark = needs_chromium

METER_TEXT = "document.querySelector('#budget-meter .budget-text')"


def _meter_says(page: Page, words: str, timeout: float = 15_000) -> None:
    """Wait until the meter (polled every 3 s) reads `words`."""
    page.wait_for_function(
        f"{METER_TEXT} && {METER_TEXT}.textContent.includes({words!r})", timeout=timeout
    )


def _make_a_video(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/")
    page.fill("textarea[name=prompt]", "a red kite over a windy beach")
    page.select_option("select[name=model]", "sora-2")
    page.select_option("select[name=seconds]", "4")  # $0.40
    page.click("#create button[type=submit]")


def test_the_meter_is_on_every_page_and_follows_the_spend(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.5})
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/")  # open: no keys yet, on loopback
            pages = page.eval_on_selector_all("nav.pages a", "links => links.map(a => a.href)")
            assert len(pages) >= 6
            for url in [*pages, f"{base_url}/budget"]:
                page.goto(url)
                _meter_says(page, "$0.00 spent + $0.00 reserved · all jobs")
                assert page.get_attribute("#budget-meter a", "href") == "/budget", url

            _make_a_video(page, base_url)
            page.wait_for_selector("video#result", timeout=60_000)
            _meter_says(page, "$0.40 spent + $0.00 reserved · all jobs")
        finally:
            browser.close()


def test_a_project_cap_refusal_is_shown_and_nothing_is_sent(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/budget")
            page.fill("#new-project input[name=name]", "Trailer")
            page.fill("#new-project input[name=cap]", "0.30")
            page.click("#new-project button[type=submit]")
            page.wait_for_selector("tr.budget-active[data-project=Trailer]")
            _meter_says(page, "$0.00 spent + $0.00 reserved of $0.30 · project Trailer")
            assert page.get_attribute("#budget-meter .budget-bar", "role") == "meter"

            page.fill("#new-project input[name=cap]", "lots")  # a mistake, read in the page
            page.fill("#new-project input[name=name]", "Teaser")
            page.click("#new-project button[type=submit]")
            alert = page.wait_for_selector("#budget-error [role=alert]")
            assert alert is not None and "must be an amount in USD" in alert.inner_text()

            _make_a_video(page, base_url)  # $0.40 passes the project's $0.30
            alert = page.wait_for_selector("#job [role=alert]")
            assert alert is not None
            assert 'passes project "Trailer"\'s budget of $0.30' in alert.inner_text()
            assert page.evaluate("document.querySelector('#job video')") is None
            assert page.request.get(f"{base_url}/v1/videos").json()["data"] == []

            page.goto(f"{base_url}/budget")  # start anew, through the confirm
            page.on("dialog", lambda dialog: dialog.accept())
            page.click("tr[data-project=Trailer] button:text('Start anew')")
            page.wait_for_selector("#budget-history")
            _meter_says(page, "of $0.30 · project Trailer")
        finally:
            browser.close()

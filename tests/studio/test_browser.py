"""The studio in a real Chromium (Debian's, launched by path) against a real `sorakit serve`."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from sorakit.settings import Settings
from tests.studio.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOT_DIR,
    WATCH_PERCENTS,
    needs_chromium,
    sign_in_page,
)
from tests.studio.conftest import make_keys, png

pytestmark = needs_chromium


def test_create_with_a_reference_plays_the_video_in_the_page(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    keys = make_keys(settings, "alice")
    reference = tmp_path / "reference.png"
    reference.write_bytes(png((1280, 720)))
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            sign_in_page(page, base_url, keys["alice"])
            assert "signed in as" in page.inner_text("header")

            page.fill("textarea[name=prompt]", "a red kite over a windy beach at dusk")
            page.select_option("select[name=model]", "sora-2-pro")
            page.wait_for_selector("select[name=size] option[value='1792x1024']", state="attached")
            page.select_option("select[name=seconds]", "4")
            page.wait_for_function("document.querySelector('#estimate').textContent === '$1.20'")
            page.set_input_files("input[name=reference]", str(reference))
            page.select_option("select[name=size]", "1280x720")
            page.wait_for_function("document.querySelector('#estimate').textContent === '$1.20'")

            page.evaluate(WATCH_PERCENTS)
            page.click("#create button[type=submit]")
            page.wait_for_selector("video#result", timeout=60_000)
            seen = page.evaluate("window.seenPercents")
            assert len(set(seen)) >= 2, f"the progress never moved: {seen}"

            page.wait_for_function(
                "document.querySelector('video#result').readyState >= 1", timeout=30_000
            )
            duration = page.evaluate("document.querySelector('video#result').duration")
            seconds = int(page.get_attribute("#job [data-seconds]", "data-seconds") or 0)
            assert seconds == 4
            assert duration == pytest.approx(seconds, abs=0.1)
            assert page.get_attribute("a[download]", "href", timeout=5_000)

            page.wait_for_function(  # its first frame shown, for the screenshot
                "document.querySelector('video#result').readyState >= 2", timeout=30_000
            )
            page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)
            if target := os.environ.get(SCREENSHOT_DIR):
                page.screenshot(path=str(Path(target) / "studio.png"), full_page=True)
        finally:
            browser.close()


def test_a_budget_refusal_is_shown_in_the_page_and_nothing_is_sent(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    settings = settings.model_copy(update={"budget_usd": 0.1})
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/")  # open: no keys yet, on loopback
            page.fill("textarea[name=prompt]", "a red kite")
            page.click("#create button[type=submit]")
            alert = page.wait_for_selector("#job [role=alert]")
            assert alert is not None and "budget" in alert.inner_text().lower()
            assert page.evaluate("document.querySelector('#job video')") is None
            listing = page.request.get(f"{base_url}/v1/videos").json()
            assert listing["data"] == []
        finally:
            browser.close()

"""The Long video and Remix chain pages in a real Chromium (Debian's, launched by path) against a
real `sorakit serve`: plan, edit, render, and the run page filling in to the stitched video."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from playwright.sync_api import sync_playwright

from sorakit.settings import Settings
from tests.studio.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    keep_screenshot,
    needs_chromium,
    sign_in_page,
)
from tests.studio.conftest import make_keys

pytestmark = needs_chromium

WATCH_STEPS = """() => {
  window.seenSteps = [];
  const note = () => {
    const rows = Array.from(document.querySelectorAll('tr[data-step]'));
    const seen = rows.map(row => row.dataset.step + ':' + row.className).join(' ');
    if (seen && window.seenSteps[window.seenSteps.length - 1] !== seen) window.seenSteps.push(seen);
  };
  document.addEventListener('DOMContentLoaded', () => {
    note();
    new MutationObserver(note).observe(document.body, {childList: true, subtree: true});
  });
}"""
"""Every distinct state of the steps table, from the moment a page loads."""
EDITED = "EDITED: the paper boat drifts out of the gutter onto a wide calm river at dawn"


def test_plan_edit_render_and_watch_the_segments_fill_in(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    keys = make_keys(settings, "alice")
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            sign_in_page(page, base_url, keys["alice"])
            page.click("nav.pages a:text-is('Long video')")
            page.wait_for_url(f"{base_url}/long")

            page.fill("textarea[name=prompt]", "A paper boat sails down a rain gutter to the sea")
            page.fill("input[name=seconds]", "8")
            page.fill("input[name=segments]", "2")
            page.press("input[name=segments]", "Tab")  # a change: the estimate follows
            page.wait_for_function(
                "document.querySelector('#long-estimate')?.textContent === '$0.80'"
            )
            page.select_option("select[name=size]", "1280x720")
            page.click("#long button:text-is('Plan')")
            page.wait_for_selector("textarea[name=segment_prompt] >> nth=1")
            keep_screenshot(page, "long-plan")
            assert page.inner_text("#plan-estimate") == "$0.80"
            assert page.locator("textarea[name=segment_prompt]").count() == 2
            page.locator("textarea[name=segment_prompt]").nth(1).fill(EDITED)

            page.add_init_script(script=f"({WATCH_STEPS})()")  # for the run page, from its load
            page.click("#long button:text-is('Render')")
            page.wait_for_url(f"{base_url}/runs/long_*")
            assert EDITED in page.inner_text(".run-plan")
            page.wait_for_selector("video#result", timeout=90_000)
            keep_screenshot(page, "long-run")

            seen: list[str] = page.evaluate("window.seenSteps")
            assert any(
                "segment-1:step-completed" in state and "segment-2:step-completed" not in state
                for state in seen
            ), f"the segments never filled in one by one: {seen}"
            assert "segment-2:step-completed" in seen[-1]
            assert page.inner_text(".run-state") == "Completed"

            page.wait_for_function(
                "document.querySelector('video#result').readyState >= 1", timeout=30_000
            )
            duration = page.evaluate("document.querySelector('video#result').duration")
            assert duration == pytest.approx(8.0, abs=0.15)  # chained: the shared frame once

            second = page.get_attribute("tr[data-step='segment-2'] a", "href")
            assert second is not None
            video_id = second.rsplit("/", 1)[-1]
            token = {"Authorization": f"Bearer {keys['alice']}"}
            video = page.request.get(f"{base_url}/v1/videos/{video_id}", headers=token).json()
            assert video["prompt"] == EDITED  # the edited prompt is what rendered
        finally:
            browser.close()


def test_remix_rows_come_and_go_and_the_estimate_follows(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base_url}/remix-chain")  # open: no keys yet, on loopback
            assert page.inner_text("#remix-estimate") == "$1.20"  # a base and 2 remixes of 4 s
            page.click("text=Add a remix")
            page.wait_for_selector("#steps li >> nth=2")
            page.locator("#steps textarea").nth(2).fill("night falls")
            page.locator("#steps textarea").nth(2).blur()
            page.wait_for_function(
                "document.querySelector('#remix-estimate').textContent === '$0.80'"
            )
            page.locator("#steps li").nth(0).locator("button").click()
            assert page.locator("#steps li").count() == 2
            page.select_option("select[name=seconds]", "8")
            page.wait_for_function(
                "document.querySelector('#remix-estimate').textContent === '$1.60'"
            )
        finally:
            browser.close()

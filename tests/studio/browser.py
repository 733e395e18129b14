"""What the browser tests share: Debian's Chromium launched by path, and signing in as a person does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = "STUDIO_SCREENSHOT_DIR"  # not SORAKIT_: the tests clear those
"""Where to keep the screenshots as well (docs/studio*.png come from one such run)."""

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
"""Mark a module of browser tests: `pytestmark = needs_chromium`."""

WATCH_PERCENTS = """() => {
  window.seenPercents = [];
  new MutationObserver(() => {
    const percent = document.querySelector('#job .percent');
    if (percent) window.seenPercents.push(percent.textContent);
  }).observe(document.querySelector('#job'), {childList: true, subtree: true});
}"""


def sign_in_page(page: Page, base_url: str, token: str) -> None:
    """Sign in through the page, as a person does, and land on Create."""
    page.goto(f"{base_url}/")
    assert page.url == f"{base_url}/sign-in"
    page.fill("input[name=api_key]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def keep_screenshot(page: Page, name: str) -> None:
    """Save the page as `studio-NAME.png` for docs/studio.md when STUDIO_SCREENSHOT_DIR is set."""
    if target := os.environ.get(SCREENSHOT_DIR):
        page.screenshot(path=str(Path(target) / f"studio-{name}.png"), full_page=True)

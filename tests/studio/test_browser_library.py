"""The Library in a real Chromium (Debian's, launched by path) against a real `sorakit serve`:
two tenants, each seeing only its own videos."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

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


def _video(base_url: str, token: str, prompt: str) -> str:
    """A finished video of the tenant, made through the Videos API."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        made = api.post("/v1/videos", json={"prompt": prompt, "seconds": "4"})
        assert made.status_code == 200, made.text
        video_id = str(made.json()["id"])
        deadline = time.monotonic() + 60
        while (status := api.get(f"/v1/videos/{video_id}").json()["status"]) != "completed":
            assert status in ("queued", "in_progress") and time.monotonic() < deadline, status
            time.sleep(0.1)
    return video_id


def _signed_in(browser: Browser, base_url: str, token: str) -> Page:
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    sign_in_page(page, base_url, token)
    return page


def _cards(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#gallery article.tile", "tiles => tiles.map(t => t.dataset.videoId)"
    )
    return ids


def test_each_tenant_sees_only_its_own_library(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.3})
    keys = make_keys(settings, "alice", "bob")
    with serve(settings) as base_url, sync_playwright() as playwright:
        alices = _video(base_url, keys["alice"], "a lighthouse at dawn")
        bobs = _video(base_url, keys["bob"], "a harbour at night")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            alice = _signed_in(browser, base_url, keys["alice"])
            alice.click("nav.pages a:text('Library')")
            alice.wait_for_url(f"{base_url}/library")
            assert _cards(alice) == [alices]
            thumbnail = alice.wait_for_selector(f"#card-{alices} img")
            assert thumbnail is not None
            keep_screenshot(alice, "library")
            alice.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=thumbnail, timeout=10_000
            )

            # The spritesheet scrubs: left edge the first tile, right edge the last.
            frame = alice.locator(f"#card-{alices} [data-sprite]")
            box = frame.bounding_box()
            assert box is not None
            tiles = int(frame.get_attribute("data-tiles") or 0)
            alice.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
            assert frame.get_attribute("data-tile") == "0"
            scrub = frame.locator(".scrub")
            first = scrub.evaluate("s => getComputedStyle(s).backgroundPosition")
            alice.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2, steps=5)
            assert frame.get_attribute("data-tile") == str(tiles - 1)
            assert scrub.evaluate("s => getComputedStyle(s).backgroundPosition") != first
            assert "spritesheet" in scrub.evaluate("s => getComputedStyle(s).backgroundImage")
            assert scrub.is_visible()
            alice.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] + 200)
            assert not scrub.is_visible()

            # The search filters in place and the URL follows it.
            alice.fill("#q", "zebra")
            alice.wait_for_selector("#gallery .empty")
            assert "q=zebra" in alice.url
            alice.fill("#q", "lighthouse")
            alice.wait_for_selector(f"#card-{alices}")
            assert "q=lighthouse" in alice.url

            # Another tenant's details are not found.
            refused = alice.goto(f"{base_url}/library/{bobs}")
            assert refused is not None and refused.status == 404
            assert "No video found" in alice.inner_text("main")
            assert "harbour" not in alice.content()
            mine = alice.goto(f"{base_url}/library/{alices}")
            assert mine is not None and mine.status == 200
            assert alice.locator("table.files code.sha").count() == 3

            bob = _signed_in(browser, base_url, keys["bob"])
            bob.goto(f"{base_url}/library")
            assert _cards(bob) == [bobs]
            refused = bob.goto(f"{base_url}/library/{alices}")
            assert refused is not None and refused.status == 404
            assert "lighthouse" not in bob.content()

            # Bob exports his video, then deletes it from its card.
            bob.goto(f"{base_url}/library")
            bob.check(f"#card-{bobs} input[name=ids]")
            with bob.expect_download() as download:
                bob.click("#export button[type=submit]")
            path = download.value.path()
            with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
                assert sorted(archive.namelist()) == sorted([f"{bobs}.mp4", "jobs.json"])
            bob.on("dialog", lambda dialog: dialog.accept())
            bob.click(f"#card-{bobs} button.danger")
            bob.wait_for_selector(f"[data-deleted='{bobs}']")
            assert bob.goto(f"{base_url}/library/{bobs}").status == 404  # type: ignore[union-attr]
            alice.goto(f"{base_url}/library")
            assert _cards(alice) == [alices]  # alice's library is untouched
        finally:
            browser.close()

"""A first frame drawn from a prompt, in a real Chromium (Debian's, by path) against a real
`sorakit serve`: typed, drawn, previewed as the frame the video starts from, then the video."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sorakit.settings import Settings
from tests.studio.browser import keep_screenshot, needs_chromium
from tests.studio.test_browser_create import PREVIEW_SIZE, signed_in_page

pytestmark = needs_chromium

Serve = Callable[..., AbstractContextManager[str]]

DRAWN_SIZE = "[...document.querySelectorAll('#drawn img')].map((i) => [i.naturalWidth, i.naturalHeight, i.complete])"


def test_a_drawn_image_is_previewed_and_opens_the_video(serve: Serve, settings: Settings) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with signed_in_page(serve, settings) as page:
        page.fill("textarea[name=prompt]", "the lighthouse's beam sweeps over a stormy sea")
        page.select_option("select[name=size]", "1280x720")
        page.wait_for_function(
            "document.querySelector('#draw-estimate')?.textContent.includes('fitted to 1280x720')"
        )
        assert page.get_attribute("[data-draw-prompt]", "placeholder") == (
            "the lighthouse's beam sweeps over a stormy sea"  # what an empty field draws
        )
        page.fill("[data-draw-prompt]", "a lighthouse on a cliff at dusk, waves below")
        page.click("button[data-draw]")
        page.wait_for_function(f"({DRAWN_SIZE}).some(([w, h, done]) => done && w > 0)")
        assert page.evaluate(DRAWN_SIZE)[0][:2] == [1792, 1024]
        caption = page.inner_text("#drawn figcaption")
        assert "Drawn by sim-image at 1792x1024" in caption and "$0.00" in caption
        image_id = page.input_value("input[name=from_image]")
        assert image_id.startswith("img_")
        # The drawn image is now the first frame: the preview shows it fitted to the video.
        page.wait_for_function(
            "document.querySelector('#preview figcaption')?.textContent.includes('-> 1280x720 (crop)')"
        )
        page.wait_for_function(f"({PREVIEW_SIZE}).some(([w, h, done]) => done && w === 1280)")
        keep_screenshot(page, "create-draw")

        page.click("#create button[type=submit]")
        page.wait_for_selector("video#result", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('video#result').readyState >= 1", timeout=30_000
        )
        duration = page.evaluate("document.querySelector('video#result').duration")
        assert duration > 0
        # Left out: the id goes, and the preview goes back to the prompt alone.
        page.click("[data-drop-drawn]")
        page.wait_for_function(
            "document.querySelector('#preview')?.textContent.includes('starts from the prompt alone')"
        )
        assert page.locator("input[name=from_image]").count() == 0

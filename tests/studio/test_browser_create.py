"""The Create page in a real Chromium (Debian's, by path) against a real `sorakit serve`: images
dropped into a montage and previewed, the video played, its last frame taken as a new reference;
an enhanced prompt taken, and a limit's countdown holding the button."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from playwright.sync_api import Page, sync_playwright

from sorakit.settings import Settings
from tests.studio.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    keep_screenshot,
    needs_chromium,
    sign_in_page,
)
from tests.studio.conftest import make_keys
from tests.studio.test_create_images import BLUE, RED, picture

pytestmark = needs_chromium

Serve = Callable[..., AbstractContextManager[str]]

DROP = """(images) => {
  const dropped = new DataTransfer();
  for (const [name, data] of images) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    dropped.items.add(new File([bytes], name, {type: "image/png"}));
  }
  const zone = document.querySelector("#drop-zone");
  for (const kind of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(kind, {dataTransfer: dropped, bubbles: true, cancelable: true}));
  }
}"""
PREVIEW_SIZE = "[...document.querySelectorAll('#preview img')].map((i) => [i.naturalWidth, i.naturalHeight, i.complete])"


@contextmanager
def signed_in_page(serve: Serve, settings: Settings, **limits: float) -> Iterator[Page]:
    keys = make_keys(settings, "alice", **limits)
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            sign_in_page(page, base_url, keys["alice"])
            yield page
        finally:
            browser.close()


def test_dropped_images_make_a_previewed_montage_and_the_last_frame_comes_back(
    serve: Serve, settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with signed_in_page(serve, settings) as page:
        page.fill("textarea[name=prompt]", "a red kite and a blue kite over a beach")
        page.select_option("select[name=size]", "1280x720")
        images = [
            [f"{name}.png", base64.b64encode(picture(colour)).decode()]
            for name, colour in (("red", RED), ("blue", BLUE))
        ]
        page.evaluate(DROP, images)
        assert page.evaluate("document.querySelector('input[name=reference]').files.length") == 2
        page.wait_for_selector("select[name=layout]")  # two images: the montage's layouts
        page.select_option("select[name=layout]", "Nx1")
        page.wait_for_function(
            "document.querySelector('#preview figcaption')?.textContent.includes('a montage of 2 images')"
        )
        page.wait_for_function(f"({PREVIEW_SIZE}).some(([w, h, done]) => done && w === 1280)")
        keep_screenshot(page, "create-montage")
        assert page.evaluate(PREVIEW_SIZE)[0][:2] == [1280, 720]

        page.click("#create button[type=submit]")
        page.wait_for_selector("video#result", timeout=60_000)
        page.wait_for_function(
            "document.querySelector('video#result').readyState >= 1", timeout=30_000
        )
        video_id = page.get_attribute("#job [data-video-id]", "data-video-id")
        assert video_id

        page.click("text=Use last frame as reference")
        page.wait_for_url(f"**/?from_last_frame={video_id}")
        assert page.input_value("input[name=from_last_frame]") == video_id
        assert page.input_value("select[name=size]") == "1280x720"  # the video's own size
        page.wait_for_function(f"({PREVIEW_SIZE}).some(([w, h, done]) => done && w === 1280)")
        caption = page.inner_text("#preview figcaption")
        assert "1280x720" in caption and "montage" not in caption


def test_an_enhanced_prompt_is_taken_and_a_limit_holds_the_button(
    serve: Serve, settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 30.0})
    with signed_in_page(serve, settings, concurrency=1) as page:
        page.fill("textarea[name=prompt]", "a kite")
        page.select_option("select[name=enhance_style]", "noir")
        page.click("text=Enhance prompt")
        page.click("text=Use enhanced")
        prompt = page.input_value("textarea[name=prompt]")
        assert prompt.startswith("a kite. Film noir")
        assert page.input_value("input[name=enhanced_from]") == "a kite"

        page.click("#create button[type=submit]")  # renders for 30 s: the one it may run
        page.wait_for_selector("#job [data-video-id]")
        page.click("#create button[type=submit]")
        # The countdown starts once htmx has settled the refusal (static/studio.js).
        page.wait_for_selector("#job [data-retry-after][data-counting]")
        assert page.is_disabled("#create button[type=submit]")
        page.wait_for_function(
            "!document.querySelector('#create button[type=submit]').disabled", timeout=10_000
        )
        assert "try again now" in page.inner_text("#job")

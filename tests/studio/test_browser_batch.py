"""The Batch page in a real Chromium (Debian's, launched by path) against a real `sorakit serve`."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from playwright.sync_api import sync_playwright

from sorakit.settings import Settings
from tests.studio.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    keep_screenshot,
    needs_chromium,
    sign_in_page,
)
from tests.studio.conftest import make_keys, png

pytestmark = needs_chromium


def _file(name: str, rows: list[str]) -> dict[str, object]:
    """A file for `set_input_files`, as a person's file chooser gives it."""
    return {"name": name, "mimeType": "application/jsonl", "buffer": "\n".join(rows).encode()}


def test_a_batch_with_a_bad_row_shows_the_line_then_the_fixed_file_runs(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 2.0})
    keys = make_keys(settings, "alice")
    good = [
        json.dumps({"prompt": "a red kite over a beach", "seconds": 4}),
        json.dumps({"prompt": "a lighthouse at night", "seconds": 4}),
        json.dumps({"prompt": "a heron in the reeds", "seconds": 4}),
    ]
    bad = [good[0], '{"prompt": "a lighthouse at night", "seconds": 7}', good[2]]
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            sign_in_page(page, base_url, keys["alice"])
            page.click("nav.pages a[href='/batch']")
            page.wait_for_url(f"{base_url}/batch")

            page.set_input_files("input[name=file]", files=[_file("shots.jsonl", bad)])
            row = page.wait_for_selector("#check table.bad-rows tr[data-line='2']")
            assert row is not None and "line 2" in row.inner_text()
            assert "seconds" in row.inner_text().lower()
            keep_screenshot(page, "batch-bad-row")
            assert page.query_selector("#start") is None  # nothing can be started
            listing = page.request.get(
                f"{base_url}/v1/videos", headers={"Authorization": f"Bearer {keys['alice']}"}
            )
            assert listing.json()["data"] == []

            page.set_input_files("input[name=file]", files=[_file("shots.jsonl", good)])
            page.wait_for_selector("#start")
            assert page.query_selector("#check table.bad-rows") is None
            assert page.inner_text("#batch-total") == "$1.20"  # 3 rows x 4 s x $0.10
            page.click("#start")

            page.wait_for_url(f"{base_url}/runs/batch_*")
            page.wait_for_selector("table.run-steps tr[data-step='row-3']")
            completed = "document.querySelectorAll('table.run-steps tr.step-completed').length"
            assert page.evaluate(completed) < 3  # still rendering: the table is live
            page.wait_for_function(  # the live table fills as the rows render
                f"{completed} === 3",
                timeout=90_000,
            )
            link = page.wait_for_selector(".run-reports a[href$='report.csv']", timeout=30_000)
            keep_screenshot(page, "batch-run")
            assert link is not None
            report = page.request.get(f"{base_url}{link.get_attribute('href')}")
            assert report.status == 200
            lines = report.text().splitlines()
            assert lines[0].startswith("row,line,step,status") and len(lines) == 5
            assert all(",completed," in line for line in lines[1:4])
        finally:
            browser.close()


def test_multiple_estimates_as_you_type_and_takes_end_on_a_contact_sheet(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.5})
    reference = tmp_path / "first.png"
    reference.write_bytes(png((1280, 720)))
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1000})
            page.goto(f"{base_url}/multiple")  # open: no keys yet, on loopback
            page.select_option("select[name=seconds]", "8")
            page.fill("textarea[name=prompts]", "a lighthouse\na fox in snow\na heron")
            page.wait_for_function("document.querySelector('#estimate').textContent === '$2.40'")
            page.check("input[name=mode][value=takes]")
            page.fill("input[name=takes]", "2")
            page.dispatch_event("input[name=takes]", "change")
            page.wait_for_function("document.querySelector('#estimate').textContent === '$1.60'")
            with page.expect_response("**/multiple/choices") as refreshed:
                page.set_input_files("input[name=reference]", str(reference))
            sent = refreshed.value.request.post_data or ""
            assert refreshed.value.status == 200 and "reference=" in sent, sent
            assert "IHDR" not in sent  # the chosen file is named, its bytes are not sent
            page.select_option("select[name=size]", "1280x720")
            page.wait_for_function("document.querySelector('#estimate').textContent === '$1.60'")
            page.fill("textarea[name=prompts]", "a paper boat on a pond")
            page.click("#multiple button[type=submit]")
            page.wait_for_url(f"{base_url}/runs/variations_*")
            sheet = page.wait_for_selector("img.run-sheet", timeout=90_000)
            assert sheet is not None
            page.wait_for_function("document.querySelector('img.run-sheet').naturalWidth > 0")
            assert len(page.query_selector_all(".run-takes video")) == 2
        finally:
            browser.close()

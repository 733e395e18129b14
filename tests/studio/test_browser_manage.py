"""The Admin page in a real Chromium (Debian's, launched by path) against a real `sorakit serve`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from playwright.sync_api import Dialog, sync_playwright

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


def test_the_admin_creates_and_revokes_a_key(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings
) -> None:
    # A tenant key too: with the admin key alone the gateway would run open, with no sign-in.
    keys = make_keys(settings, "root", admin=True) | make_keys(settings, "alice")
    with serve(settings) as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1200, "height": 1000},
                permissions=["clipboard-read", "clipboard-write"],
            )
            page = context.new_page()
            sign_in_page(page, base_url, keys["root"])
            page.click("nav.pages a[href='/manage']")
            page.wait_for_url(f"{base_url}/manage/keys")

            page.fill("#new-key input[name=name]", "carol")
            page.fill("#new-key input[name=budget_usd]", "3")
            page.fill("#new-key input[name=rpm]", "10")
            page.fill("#new-key input[name=concurrency]", "1")
            page.fill("#new-key input[name=models]", "sora-2")
            page.click("#new-key button[type=submit]")
            token = page.inner_text("#new-key-token", timeout=10_000).strip()
            assert token.startswith("sk-sorakit-")
            assert page.input_value("#new-key input[name=name]") == ""  # ready for the next
            row = page.locator("#key-list tr", has_text="carol")
            cells = row.inner_text()
            for shown in ("$3.00", "10", "sora-2", "tenant", "active"):
                assert shown in cells, cells
            page.click("#result button.copy")
            page.wait_for_function(
                "document.querySelector('#result button.copy').textContent === 'Copied'"
            )
            assert page.evaluate("navigator.clipboard.readText()") == token

            bearer = {"Authorization": f"Bearer {token}"}
            assert page.request.get(f"{base_url}/v1/videos", headers=bearer).status == 200
            page.reload()
            assert token not in page.content()  # shown once, never again

            dialogs: list[str] = []

            def accept(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                dialog.accept()

            page.once("dialog", accept)
            page.locator("#key-list tr", has_text="carol").locator(
                "button", has_text="Revoke"
            ).click()
            page.wait_for_selector("#result .notice", timeout=10_000)
            keep_screenshot(page, "admin-keys")
            assert "Revoked carol" in page.inner_text("#result")
            assert dialogs and "Revoke carol" in dialogs[0]
            assert "revoked" in page.locator("#key-list tr", has_text="carol").inner_text()
            refused = page.request.get(f"{base_url}/v1/videos", headers=bearer)
            assert refused.status == 401
        finally:
            browser.close()

"""Studio fixtures: the app in FastAPI's test client, and helpers that act as a browser would."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sorakit.engine import Engine
from sorakit.settings import Settings


@pytest.fixture
def studio(settings: Settings) -> Callable[..., AbstractContextManager[TestClient]]:
    """`with studio(**settings_changes) as client:` the whole app (lifespan on)."""

    @contextmanager
    def run(**changes: Any) -> Iterator[TestClient]:
        from sorakit.server import create_app

        app = create_app(settings.model_copy(update=changes))
        with TestClient(app, follow_redirects=False) as client:
            yield client

    return run


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def make_keys(settings: Settings, *names: str, **limits: Any) -> dict[str, str]:
    """Tenant keys (with `limits`) made in the settings' ledger before the server starts:
    name -> token."""

    async def make() -> dict[str, str]:
        async with await Engine.open(settings) as engine:
            return {name: (await engine.ledger.create_key(name, **limits))[1] for name in names}

    return asyncio.run(make())


def png(size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def sign_in(client: TestClient, token: str) -> None:
    page = client.get("/sign-in")
    answer = client.post("/sign-in", data={"api_key": token, "csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303, answer.text

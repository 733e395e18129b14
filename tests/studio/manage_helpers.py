"""What the Admin page's tests share: an admin and a tenant key (fixtures `keys`, `admin`), and
forms posted as a page does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}
SECTIONS = ("/manage/keys", "/manage/usage", "/manage/log", "/manage/pools", "/manage/models")


def admin_and_tenant(settings: Settings) -> dict[str, str]:
    """An admin key (`root`) and a tenant key (`alice`): name -> token."""
    return make_keys(settings, "root", admin=True) | make_keys(settings, "alice")


@pytest.fixture
def keys(settings: Settings) -> dict[str, str]:
    """The admin and tenant keys, for a test module that imports this fixture."""
    return admin_and_tenant(settings)


@pytest.fixture
def admin(studio: Studio, keys: dict[str, str]) -> Studio:
    """`with admin(**settings_changes) as client:` the app, signed in with the admin key."""
    return signed_in_as(studio, keys["root"])


def signed_in_as(studio: Studio, token: str) -> Studio:
    """`with signed_in_as(studio, token)(**settings_changes) as client:` the app, signed in."""

    @contextmanager
    def run(**changes: object) -> Iterator[TestClient]:
        with studio(**changes) as client:
            sign_in(client, token)
            yield client

    return run


def post_form(
    client: TestClient, path: str, page: str, *, htmx: bool = True, **data: str
) -> Response:
    """Post a form of the section at `page` with that page's CSRF token, as the page would."""
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, headers=HTMX if htmx else {})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""Characters are owned like videos: another tenant can neither see nor cast them."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest

from sorakit.engine import Engine, Owner
from sorakit.errors import NotFoundError
from sorakit.providers.base import SourceVideo
from sorakit.settings import Settings
from tests.conftest import make_mp4
from tests.gateway.test_tenants import make_key

Serve = Callable[..., contextlib.AbstractContextManager[str]]
MISSING = "char_" + "0" * 24
"""A character id of the real shape that nobody made."""


@contextlib.contextmanager
def tenants(settings: Settings, serve: Serve) -> Iterator[dict[str, httpx.Client]]:
    """Clients for alice, bob and the admin on one gateway."""
    tokens = {name: make_key(settings, name) for name in ("alice", "bob")}
    tokens["admin"] = make_key(settings, "root", admin=True)
    with serve(settings) as url, contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                httpx.Client(
                    base_url=f"{url}/v1",
                    headers={"authorization": f"Bearer {token}"},
                    timeout=30,
                )
            )
            for name, token in tokens.items()
        }


def make_character(client: httpx.Client, name: str, key: str | None = None) -> str:
    response = client.post(
        "/videos/characters",
        data={"name": name},
        files={"video": ("clip.mp4", make_mp4(), "video/mp4")},
        headers={"Idempotency-Key": key} if key else {},
    )
    assert response.status_code == 200, response.text
    character_id: str = response.json()["id"]
    return character_id


def test_another_tenants_character_is_not_found(settings: Settings, serve: Serve) -> None:
    with tenants(settings, serve) as clients:
        mochi = make_character(clients["alice"], "Mochi")
        assert len(mochi) == len(MISSING)  # so the two answers below may be compared byte by byte

        assert clients["alice"].get(f"/videos/characters/{mochi}").json()["name"] == "Mochi"
        assert clients["admin"].get(f"/videos/characters/{mochi}").json()["name"] == "Mochi"
        theirs = clients["bob"].get(f"/videos/characters/{mochi}")
        missing = clients["bob"].get(f"/videos/characters/{MISSING}")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.content.replace(mochi.encode(), MISSING.encode()) == missing.content


def test_another_tenants_character_cannot_be_cast(settings: Settings, serve: Serve) -> None:
    with tenants(settings, serve) as clients:
        mochi = make_character(clients["alice"], "Mochi")

        def cast(client: httpx.Client, character_id: str) -> httpx.Response:
            body = {"prompt": "a cat", "seconds": "4", "characters": [{"id": character_id}]}
            return client.post("/videos", json=body)

        theirs, missing = cast(clients["bob"], mochi), cast(clients["bob"], MISSING)
        assert theirs.status_code == missing.status_code == 404, theirs.text
        assert theirs.content.replace(mochi.encode(), MISSING.encode()) == missing.content
        assert theirs.json()["error"]["param"] == "characters"
        assert clients["bob"].get("/videos").json()["data"] == []  # nothing was made for bob
        assert cast(clients["alice"], mochi).status_code == 200
        assert cast(clients["admin"], mochi).status_code == 200  # the admin key sees all


def test_character_idempotency_keys_are_per_tenant(settings: Settings, serve: Serve) -> None:
    with tenants(settings, serve) as clients:
        first = make_character(clients["alice"], "Mochi", key="same")
        assert make_character(clients["alice"], "Mochi", key="same") == first
        bobs = make_character(clients["bob"], "Rex", key="same")
        assert bobs != first
        assert clients["bob"].get(f"/videos/characters/{bobs}").json()["name"] == "Rex"
        assert clients["alice"].get(f"/videos/characters/{bobs}").status_code == 404


def test_the_engine_checks_a_characters_owner(settings: Settings) -> None:
    # The library and the CLI stand on the engine: the owner check is there, not in a route.
    async def go() -> None:
        async with await Engine.open(settings) as engine:
            clip = SourceVideo(make_mp4(), "clip.mp4", "video/mp4")
            made = await engine.create_character("Mochi", clip, owner=Owner("key_alice"))
            assert (await engine.get_character(made.id, owner=Owner("key_alice"))).name == "Mochi"
            assert (await engine.get_character(made.id)).name == "Mochi"  # no owner: sees all
            with pytest.raises(NotFoundError):
                await engine.get_character(made.id, owner=Owner("key_bob"))
            with pytest.raises(NotFoundError):
                await engine.create(
                    "a cat", seconds="4", characters=[made.id], owner=Owner("key_bob")
                )

    anyio.run(go)


POSTGRES_URL = os.environ.get("SORAKIT_TEST_POSTGRES_URL")


@pytest.mark.postgres
@pytest.mark.skipif(
    POSTGRES_URL is None, reason="SORAKIT_TEST_POSTGRES_URL is not set (scripts/postgres start)"
)
def test_character_owners_on_postgres(settings: Settings, serve: Serve) -> None:
    import asyncpg

    assert POSTGRES_URL is not None
    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"sorakit_test_{uuid.uuid4().hex[:12]}"

    async def run_sql(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    anyio.run(run_sql, f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        on_postgres = settings.model_copy(update={"database_url": url})
        with tenants(on_postgres, serve) as clients:
            first = make_character(clients["alice"], "Mochi", key="same")
            assert make_character(clients["alice"], "Mochi", key="same") == first
            assert make_character(clients["bob"], "Rex", key="same") != first
            assert clients["bob"].get(f"/videos/characters/{first}").status_code == 404
            assert clients["alice"].get(f"/videos/characters/{first}").status_code == 200
    finally:
        anyio.run(run_sql, f'DROP DATABASE "{name}" WITH (FORCE)')

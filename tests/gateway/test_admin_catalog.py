"""The admin API for aliases and prices, through real servers: tenants on the official `openai`
SDK, the admin on httpx; changes apply without a restart, survive one, and reach a second server.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import openai
import pytest
from pydantic import SecretStr

from sorakit.ledger import JobRecord, Ledger
from sorakit.settings import Settings
from tests.conftest import FakeProvider
from tests.gateway.test_tenants import client, creates, finished, gateway, make_key


@contextlib.contextmanager
def admin_client(url: str, token: str) -> Iterator[httpx.Client]:
    """httpx on the server's root (the gateway helper yields its `/v1`)."""
    base = url.removesuffix("/v1")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


def job(settings: Settings, video_id: str) -> JobRecord:
    async def read() -> JobRecord:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            return await ledger.get(video_id)
        finally:
            await ledger.close()

    return anyio.run(read)


def changes(raw: Any) -> list[str]:
    return list(json.loads(raw.headers.get("x-sorakit-changes", "[]")))


def eventually(check: Callable[[], bool], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the change never arrived")
        time.sleep(0.1)


def test_an_alias_set_by_the_admin_routes_the_sdk_and_wins_over_settings(
    settings: Settings, serve: Callable[..., contextlib.AbstractContextManager[str]]
) -> None:
    fal = FakeProvider()
    settings = settings.model_copy(
        update={"aliases": {"sora-2": "sora-2-pro"}, "fal_key": SecretStr("fal-test-key")}
    )
    tenant = make_key(settings, "tenant")
    ops = make_key(settings, "ops", admin=True)
    with serve(settings, providers={"fal": fal}) as url, admin_client(url, ops) as admin:
        sdk = client(f"{url}/v1", tenant)
        before = sdk.videos.with_raw_response.create(model="sora-2", prompt="a cat", seconds="4")
        assert changes(before)[0] == "model sora-2 -> sora-2-pro (alias)"

        put = admin.put("/admin/aliases/sora-2", json={"target": "fal/veo-3.1"})
        assert put.status_code == 200, put.text
        assert put.json() == {"alias": "sora-2", "target": "fal/veo-3.1", "source": "admin"}
        raw = sdk.videos.with_raw_response.create(model="sora-2", prompt="a dog", seconds="4")
        video = raw.parse()
        assert changes(raw)[0] == "model sora-2 -> fal/veo-3.1 (alias)"
        assert finished(sdk, video.id) == "completed"
        assert (video.model, video.seconds) == ("sora-2", "4")
        assert [r.model for r in fal.requests] == ["veo3.1"]
        stored = job(settings, video.id)
        assert (stored.provider, stored.provider_model) == ("fal", "veo3.1")
        assert stored.estimated_cost == pytest.approx(1.6)  # fal's Veo 3.1: $0.40/s

        listed = admin.get("/admin/aliases").json()["data"]
        assert listed == [{"alias": "sora-2", "target": "fal/veo-3.1", "source": "admin"}]
        assert admin.get("/admin/aliases/sora-2").json()["target"] == "fal/veo-3.1"

        # A new name, and the chat facade's model list, see it too.
        assert admin.put("/admin/aliases/house", json={"target": "sora-2-pro"}).status_code == 200
        house = sdk.videos.with_raw_response.create(model="house", prompt="x", seconds="4")
        assert changes(house)[0] == "model house -> sora-2-pro (alias)"

        removed = admin.delete("/admin/aliases/sora-2")
        assert removed.json() == {"alias": "sora-2", "deleted": True, "target": "sora-2-pro"}
        after = sdk.videos.with_raw_response.create(model="sora-2", prompt="a cow", seconds="4")
        assert changes(after)[0] == "model sora-2 -> sora-2-pro (alias)"
        # Pointing the name at itself takes the settings alias off it.
        assert admin.put("/admin/aliases/sora-2", json={"target": "sora-2"}).status_code == 200
        native = sdk.videos.with_raw_response.create(model="sora-2", prompt="plain", seconds="4")
        assert changes(native) == []
        assert job(settings, native.parse().id).provider_model == "sora-2"
    assert len(fal.requests) == 1


def test_a_price_override_moves_the_estimate_and_the_budget(settings: Settings) -> None:
    tenant = make_key(settings, "tenant", budget_usd=1.0)
    ops = make_key(settings, "ops", admin=True)
    with gateway(settings) as url, admin_client(url, ops) as admin:
        sdk = client(url, tenant)
        first = sdk.videos.create(model="sora-2", prompt="at list price", seconds="4")
        assert finished(sdk, first.id) == "completed"  # $0.40 of $1.00

        put = admin.put("/admin/prices/sora-2", json={"usd_per_second": 0.2})
        assert put.status_code == 200, put.text
        assert put.json()["usd_per_second"] == {"720x1280": 0.2, "1280x720": 0.2}
        assert put.json()["list_price"]["usd_per_second"] == {"720x1280": 0.1, "1280x720": 0.1}
        assert put.json()["overridden"] is True
        sent = creates(settings)
        with pytest.raises(openai.BadRequestError) as broke:  # $0.80 more would pass $1.00
            sdk.videos.create(model="sora-2", prompt="now too dear", seconds="4")
        assert broke.value.code == "budget_exceeded"
        assert creates(settings) == sent  # refused before the provider

        # A price per size: the other size goes back to its list price.
        cheap = {"usd_per_second": {"720x1280": 0.05}}
        assert admin.put("/admin/prices/sora-2", json=cheap).status_code == 200
        second = sdk.videos.create(model="sora-2", prompt="cheap", seconds="4", size="720x1280")
        assert job(settings, second.id).estimated_cost == pytest.approx(0.2)
        with pytest.raises(openai.BadRequestError):  # 1280x720 is $0.40 again: $1.00 is passed
            sdk.videos.create(model="sora-2", prompt="wide", seconds="8", size="1280x720")
        assert finished(sdk, second.id) == "completed"
        usage = admin.get("/admin/usage").json()["data"]
        assert [(u["model"], u["jobs"], u["committed"]) for u in usage] == [
            ("sora-2", 2, pytest.approx(0.6))
        ]
        shown = admin.get("/admin/prices/sora-2").json()
        assert shown["usd_per_second"] == {"720x1280": 0.05, "1280x720": 0.1}

        # Per-clip prices, and back to the list price.
        clip = {"usd_per_clip": [{"size": "720x1280", "seconds": "4", "usd": 0.01}]}
        assert admin.put("/admin/prices/sora-2", json=clip).status_code == 200
        third = sdk.videos.create(model="sora-2", prompt="a clip", seconds="4", size="720x1280")
        assert job(settings, third.id).estimated_cost == pytest.approx(0.01)
        restored = admin.delete("/admin/prices/sora-2").json()
        assert restored["overridden"] is False
        assert restored["usd_per_second"] == restored["list_price"]["usd_per_second"]
        everything = admin.get("/admin/prices").json()["data"]
        assert {p["model"] for p in everything} >= {"sora-2", "sora-2-pro", "fal/veo-3.1"}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_only_the_admin_key_may_use_it_and_bad_input_is_a_400(settings: Settings) -> None:
    tenant = make_key(settings, "tenant")
    ops = make_key(settings, "ops", admin=True)
    with (
        gateway(settings) as url,
        admin_client(url, ops) as admin,
        admin_client(url, tenant) as outsider,
    ):
        for method, path, body in [
            ("GET", "/admin/aliases", None),
            ("GET", "/admin/aliases/sora-2", None),
            ("PUT", "/admin/aliases/sora-2", {"target": "sora-2-pro"}),
            ("DELETE", "/admin/aliases/sora-2", None),
            ("GET", "/admin/prices", None),
            ("GET", "/admin/prices/sora-2", None),
            ("PUT", "/admin/prices/sora-2", {"usd_per_second": 0}),
            ("DELETE", "/admin/prices/sora-2", None),
        ]:
            refused = outsider.request(method, path, json=body)
            assert _error(refused, 403)["type"] == "permission_error", (method, path)
        assert admin.get("/admin/aliases").json()["data"] == []  # nothing was changed

        unknown = _error(admin.put("/admin/aliases/old", json={"target": "sora-9"}), 400)
        assert unknown["param"] == "target" and "sora-2-pro" in unknown["message"]
        assert _error(admin.put("/admin/aliases/old", json={}), 400)["param"] == "target"
        assert _error(admin.put("/admin/aliases/old", json={"target": 3}), 400)["param"] == "target"
        extra = admin.put("/admin/aliases/old", json={"target": "sora-2", "why": "x"})
        assert _error(extra, 400)["param"] == "why"
        assert (
            _error(admin.put("/admin/aliases/ old", json={"target": "sora-2"}), 400)["param"]
            == "name"
        )
        # Aliases never chain, in either direction.
        assert admin.put("/admin/aliases/old", json={"target": "sora-2"}).status_code == 200
        assert admin.put("/admin/aliases/sora-2", json={"target": "sora-2-pro"}).status_code == 400
        assert admin.put("/admin/aliases/older", json={"target": "old"}).status_code == 400
        chained = _error(admin.put("/admin/aliases/older", json={"target": "old"}), 400)
        assert "aliases do not chain" in chained["message"]
        missing = _error(admin.delete("/admin/aliases/never-set"), 404)
        assert missing["param"] == "name"

        negative = _error(admin.put("/admin/prices/sora-2", json={"usd_per_second": -1}), 400)
        assert negative["param"] == "usd_per_second" and "0 or more" in negative["message"]
        size = _error(
            admin.put("/admin/prices/sora-2", json={"usd_per_second": {"640x480": 0.1}}), 400
        )
        assert "720x1280" in size["message"]
        bad_clip = {"usd_per_clip": [{"size": "720x1280", "seconds": 5, "usd": 1}]}
        clip = _error(admin.put("/admin/prices/sora-2", json=bad_clip), 400)
        assert clip["param"] == "usd_per_clip" and "5" in clip["message"]
        for body in ({}, {"usd_per_second": "cheap"}, {"usd_per_second": True}, {"usd": 1}):
            _error(admin.put("/admin/prices/sora-2", json=body), 400)
        not_json = admin.put("/admin/prices/sora-2", content=b"{", headers={"content-type": "x"})
        _error(not_json, 400)
        assert _error(admin.get("/admin/prices/sora-9"), 404)["param"] == "model"
        assert _error(admin.delete("/admin/prices/sora-2"), 404)["param"] == "model"
        assert admin.get("/admin/prices/sora-2").json()["overridden"] is False


def test_changes_survive_a_restart_and_reach_a_second_server(settings: Settings) -> None:
    tenant = make_key(settings, "tenant")
    ops = make_key(settings, "ops", admin=True)
    with gateway(settings) as first, gateway(settings) as second:
        other = client(second, tenant)
        with pytest.raises(openai.NotFoundError):
            other.videos.create(model="house", prompt="not yet", seconds="4")
        with admin_client(first, ops) as admin:
            assert admin.put("/admin/aliases/house", json={"target": "sora-2-pro"}).is_success
            assert admin.put("/admin/prices/sora-2-pro", json={"usd_per_second": 1}).is_success
        made: list[str] = []

        def routed() -> bool:
            try:
                made.append(other.videos.create(model="house", prompt="now", seconds="4").id)
            except openai.NotFoundError:
                return False
            return True

        eventually(routed)  # the second server re-reads the overrides every few seconds
        stored = job(settings, made[0])
        assert (stored.model, stored.provider_model) == ("house", "sora-2-pro")
        assert stored.estimated_cost == pytest.approx(4.0)

    with gateway(settings) as again, admin_client(again, ops) as admin:
        sdk = client(again, tenant)
        video = sdk.videos.create(model="house", prompt="after a restart", seconds="4")
        assert job(settings, video.id).estimated_cost == pytest.approx(4.0)
        assert admin.get("/admin/aliases/house").json()["source"] == "admin"
        assert admin.get("/admin/prices/sora-2-pro").json()["overridden"] is True

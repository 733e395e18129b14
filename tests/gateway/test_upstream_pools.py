"""An upstream pool end to end: the gateway in front of another `sorakit serve`, over real HTTP.

The upstream is a gateway with three keys: one that works, one limited to a single video at a
time (its second concurrent create is a 429 with Retry-After), and a revoked one (401). Our
gateway pools them for its `openai` provider; a tenant drives it with the official SDK.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from sorakit.ledger import Ledger
from sorakit.logs import RedactingFormatter
from sorakit.security.secretbox import generate_key
from sorakit.settings import Settings, get_settings
from tests.gateway.test_tenants import client, creates, finished, gateway, make_key


def revoked_key(settings: Settings, name: str) -> str:
    async def go() -> str:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            key, token = await ledger.create_key(name)
            await ledger.revoke_key(key.id)
            return token
        finally:
            await ledger.close()

    return anyio.run(go)


@pytest.fixture
def all_logs() -> Iterator[io.StringIO]:
    """Every log line of both gateways, at DEBUG, as `sorakit serve` formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_pool_keeps_jobs_completing_while_one_credential_cools_and_one_is_disabled(
    tmp_path: Path, all_logs: io.StringIO
) -> None:
    upstream = get_settings(home=tmp_path / "upstream", simulator_render_seconds=1.5)
    good = make_key(upstream, "good")
    busy = make_key(upstream, "busy", concurrency=1)
    revoked = revoked_key(upstream, "revoked")
    with gateway(upstream) as upstream_url:
        settings = get_settings(
            home=tmp_path / "gateway",
            openai_base_url=upstream_url,
            openai_api_key=good,
            secret_key=generate_key(),
            pool_auth_failures=2,
        )
        ops = make_key(settings, "ops", admin=True)
        team = make_key(settings, "team")
        with gateway(settings) as url, contextlib.ExitStack() as stack:
            admin = httpx.Client(
                base_url=url.removesuffix("/v1"), headers={"Authorization": f"Bearer {ops}"}
            )
            stack.callback(admin.close)
            for label, secret in (("busy", busy), ("revoked", revoked)):
                answer = admin.post(
                    "/admin/pools/openai/credentials", json={"label": label, "secret": secret}
                )
                assert answer.status_code == 200, answer.text
                assert secret not in answer.text and answer.json()["state"] == "active"

            sdk = client(url, team)
            videos = [
                sdk.videos.create(model="sora-2", prompt=f"shot {i}", seconds="4") for i in range(8)
            ]
            assert [finished(sdk, video.id) for video in videos] == ["completed"] * 8
            assert len(sdk.videos.download_content(videos[-1].id).read()) > 1000

            pools = admin.get("/admin/pools")
            assert pools.status_code == 200
            for secret in (good, busy, revoked):
                assert secret not in pools.text
            (openai_pool,) = [p for p in pools.json()["data"] if p["provider"] == "openai"]
            state = {c["label"]: c for c in openai_pool["credentials"]}
            assert state["revoked"]["state"] == "disabled"
            assert "2 authentication failures in a row" in state["revoked"]["disabled_reason"]
            assert state["revoked"]["jobs_submitted"] == 0
            assert "in progress" in state["busy"]["last_error"]  # its 429 cooled it down
            assert state["busy"]["jobs_submitted"] >= 1
            submitted = sum(c["jobs_submitted"] for c in openai_pool["credentials"])
            assert submitted == 8

            tenant = httpx.get(
                f"{url.removesuffix('/v1')}/admin/pools",
                headers={"Authorization": f"Bearer {team}"},
            )
            assert tenant.status_code == 403
            assert tenant.json()["error"]["code"] == "permission_denied"

            # Re-enabled by the admin, the credential is picked again (and fails again).
            revoked_id = state["revoked"]["id"]
            enabled = admin.patch(
                f"/admin/pools/openai/credentials/{revoked_id}", json={"enabled": True}
            )
            assert enabled.json()["state"] == "active" and enabled.json()["auth_failures"] == 0
    # Never paid twice: one upstream create per video, whatever was refused on the way.
    assert creates(upstream) == 8
    logged = all_logs.getvalue()
    assert "credential" in logged and "disabled" in logged  # the pool said what it did
    for secret in (good, busy, revoked):
        tail = secret.rsplit("-", 1)[1]  # the key's secret part (its prefix is public)
        assert all(tail[i : i + 12] not in logged for i in range(len(tail) - 11))


def test_the_admin_api_refuses_bad_pool_input(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path, simulator_render_seconds=0.2)
    ops = make_key(settings, "ops", admin=True)
    make_key(settings, "team")
    with gateway(settings) as url, contextlib.ExitStack() as stack:
        admin = httpx.Client(
            base_url=url.removesuffix("/v1"), headers={"Authorization": f"Bearer {ops}"}
        )
        stack.callback(admin.close)
        no_key = admin.post("/admin/pools/fal/credentials", json={"secret": "k:s"})
        assert no_key.status_code == 400
        assert no_key.json()["error"]["code"] == "secret_key_required"
        assert "SORAKIT_SECRET_KEY" in no_key.json()["error"]["message"]
        for path, body, param in (
            ("/admin/pools/simulator/credentials", {"secret": "x"}, "provider"),
            ("/admin/pools/fal/credentials", {"label": "x"}, "secret"),
            (
                "/admin/pools/fal/credentials",
                {"secret": "x", "max_concurrency": 0},
                "max_concurrency",
            ),
            ("/admin/pools/fal/credentials", {"secret": "x", "color": "red"}, "color"),
            ("/admin/pools/fal", {"strategy": "random"}, "strategy"),
        ):
            answer = admin.request("PUT" if path.endswith("/fal") else "POST", path, json=body)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["param"] == param
        missing = admin.patch("/admin/pools/fal/credentials/cred_nope", json={"enabled": False})
        assert missing.status_code == 404
        listed = admin.get("/admin/pools").json()["data"]
        assert {p["provider"] for p in listed} >= {"fal", "runway", "gemini", "vertex", "openai"}
        assert all(p["credentials"] == [] for p in listed)  # no variable set, nothing stored

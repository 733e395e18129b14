"""The admin API and the keys/usage commands: keys made, shown once, revoked; spend per key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from sorakit.settings import Settings
from tests.cli.test_cli import sorakit
from tests.gateway.test_tenants import client, finished, gateway, make_key


def test_the_admin_api_manages_keys_and_reports_spend(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    tenant = make_key(settings, "tenant")
    with gateway(settings) as url:
        admin_token = capfd.readouterr().err.split("shown this once")[1].split()[-1]
        admin = httpx.Client(headers={"Authorization": f"Bearer {admin_token}"})
        tenant_http = httpx.Client(headers={"Authorization": f"Bearer {tenant}"})
        base = url.removesuffix("/v1")
        made = admin.post(f"{base}/admin/keys", json={"name": "carol", "budget_usd": 2, "rpm": 30})
        assert made.status_code == 200, made.text
        carol_token = made.json()["key"]
        assert carol_token.startswith("sk-sorakit-") and "secret_hash" not in made.json()

        carol = client(url, carol_token)
        video = carol.videos.create(model="sora-2", prompt="carol's first", seconds="4")
        assert finished(carol, video.id) == "completed"

        keys = admin.get(f"{base}/admin/keys").json()["data"]
        by_name = {k["name"]: k for k in keys}
        assert by_name["carol"]["spend"]["committed"] == pytest.approx(0.4)
        assert by_name["carol"]["budget_usd"] == 2.0 and by_name["carol"]["rpm"] == 30.0
        assert all("secret_hash" not in k and "key" not in k for k in keys)
        usage = admin.get(f"{base}/admin/usage").json()["data"]
        assert [(u["owner"], u["model"], u["jobs"]) for u in usage] == [
            (by_name["carol"]["id"], "sora-2", 1)
        ]

        # A tenant is refused the admin API; an unknown key is not let in at all.
        refused = tenant_http.get(f"{base}/admin/keys")
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"

        time.sleep(1.3)  # the log is written in batches, every second
        log = admin.get(f"{base}/admin/log", params={"key_id": by_name["carol"]["id"]}).json()
        routes = [(r["method"], r["route"], r["status"]) for r in log["data"]]
        assert ("POST", "/v1/videos", 200) in routes
        assert ("GET", "/v1/videos/{video_id}", 200) in routes
        (created,) = [r for r in log["data"] if r["method"] == "POST"]
        assert (created["model"], created["video_id"], created["cost"]) == ("sora-2", video.id, 0.4)
        assert all(r["latency_ms"] > 0 for r in log["data"])
        counts = admin.get(f"{base}/admin/usage").json()["requests"]
        assert any(c["route"] == "/admin/keys" and c["errors"] == 1 for c in counts)

        revoked = admin.delete(f"{base}/admin/keys/{by_name['carol']['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        with pytest.raises(openai.AuthenticationError):
            carol.videos.list()
        admin.close()
        tenant_http.close()


def test_keys_and_usage_from_the_command_line(isolated_env: Path) -> None:
    made = sorakit("keys", "create", "dave", "--budget", "5", "-m", "sora-2", home=isolated_env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("sk-sorakit-") and "shown this once" in made.stderr
    listed = json.loads(sorakit("keys", "list", "--json", home=isolated_env).stdout)
    assert [(k["name"], k["budget_usd"], k["models"]) for k in listed] == [
        ("dave", 5.0, ["sora-2"])
    ]
    assert token not in json.dumps(listed) and "secret_hash" not in listed[0]
    revoked = sorakit("keys", "revoke", listed[0]["id"], home=isolated_env)
    assert revoked.returncode == 0 and "revoked" in revoked.stderr
    assert json.loads(sorakit("keys", "list", "--json", home=isolated_env).stdout) == []
    usage = sorakit("usage", "--json", home=isolated_env)
    assert usage.returncode == 0 and json.loads(usage.stdout) == []
    missing = sorakit("keys", "revoke", "key_nope", home=isolated_env)
    assert missing.returncode == 3 and "No API key" in missing.stderr

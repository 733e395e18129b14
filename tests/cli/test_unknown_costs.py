"""A job of unknown price says so wherever money is shown; `--remote-too` says when it failed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sorakit.errors import ProviderUnavailableError
from sorakit.providers.simulator import SimulatorProvider
from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit
from tests.providers._proxies import HandlerApp, HttpProxy, serving
from tests.providers.fal_fake import API, QUEUE, FakeFalQueue, rendered_mp4

WIDE = {"COLUMNS": "400"}  # one table row per line, nothing folded
UNPRICED = "fal/veo-3.1-fast"  # fal publishes no price for it
FAL_HOSTS = ("queue.fal.test", "media.fal.test", "api.fal.test")


def said(result: Any) -> str:
    """Stderr on one line (Rich wraps it at the terminal's width)."""
    return " ".join(result.stderr.split())


async def _unpriced_job(home: Path, tmp_path: Path) -> None:
    """One completed job on a model with no price, made without a budget through fal's fake."""
    queue = FakeFalQueue(rendered_mp4(tmp_path), queue_seconds=1.0, render_seconds=1.0)
    queue.speed = 20.0  # the fake's two seconds pass in a tenth of a real one
    try:
        with serving(HandlerApp(queue.handle)) as address:
            routes = dict.fromkeys(FAL_HOSTS, address)
            async with HttpProxy(routes=routes) as proxy:
                env = {
                    "SORAKIT_FAL_KEY": queue.key,  # not an admin key: fal reports no cost
                    "SORAKIT_FAL_QUEUE_URL": QUEUE,
                    "SORAKIT_FAL_API_URL": API,
                    "SORAKIT_PROXIES": json.dumps({"fal": proxy.url()}),
                    "SORAKIT_MAX_POLL_INTERVAL": "0.2",
                }
                made = await asyncio.to_thread(
                    sorakit, "generate", "a fox", "--model", UNPRICED, "-q", home=home, env=env
                )
    finally:
        queue.close()
    assert made.returncode == 0, made.stderr


async def test_a_job_of_unknown_price_is_never_shown_as_free(
    isolated_env: Path, tmp_path: Path, serve: Callable[..., Any]
) -> None:
    priced = sorakit("generate", "a cat", "-s", "4", "-q", home=isolated_env)  # $0.40
    assert priced.returncode == 0, priced.stderr
    await _unpriced_job(isolated_env, tmp_path)

    [job] = [j for j in json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
             if j["model"] == UNPRICED]  # fmt: skip
    assert job["status"] == "completed" and job["cost"] is None
    assert job["cost_unknown"] is True

    table = sorakit("jobs", home=isolated_env, env=WIDE).stdout
    [row] = [line for line in table.splitlines() if job["id"] in line]
    assert "unknown" in row and "$0.00" not in row
    shown = sorakit("jobs", "show", job["id"], home=isolated_env).stdout
    assert "cost: unknown" in shown and UNPRICED in shown

    usage = sorakit("usage", home=isolated_env, env=WIDE)
    assert usage.returncode == 0, usage.stderr
    [usage_row] = [line for line in usage.stdout.splitlines() if UNPRICED in line]
    assert "unknown" in usage_row
    assert "spent $0.40 + 1 job of unknown price over 30 days" in said(usage)
    rows = json.loads(sorakit("usage", "--json", home=isolated_env).stdout)
    assert {r["model"]: r["unpriced_jobs"] for r in rows} == {"sora-2": 0, UNPRICED: 1}

    created = sorakit("keys", "create", "ops", "--admin", home=isolated_env)
    token = created.stdout.strip().splitlines()[-1]
    with serve(get_settings(home=isolated_env)) as url:
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{url}/admin/usage", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    by_model = {row["model"]: row for row in answer.json()["data"]}
    assert by_model[UNPRICED]["unpriced_jobs"] == 1 and by_model["sora-2"]["unpriced_jobs"] == 0
    assert by_model["sora-2"]["committed"] == pytest.approx(0.4)


def _simulated(home: Path, remote_id: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(
        (home / "simulator" / "jobs" / f"{remote_id}.json").read_text()
    )
    return record


def test_remote_too_says_when_the_providers_copy_was_not_deleted(isolated_env: Path) -> None:
    made = sorakit("generate", "a cat", "-s", "4", "-q", home=isolated_env)
    assert made.returncode == 0, made.stderr
    [job] = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)

    broken = {"SORAKIT_SIMULATOR_FAULTS": "server_error=1"}  # every call answers HTTP 5xx
    refused = sorakit("jobs", "delete", job["id"], "--remote-too", home=isolated_env, env=broken)
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert "NOT deleted" in line and "HTTP 50" in line and job["id"] in line
    assert not _simulated(isolated_env, job["remote_id"])["deleted"]
    still = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
    assert [j["id"] for j in still] == [job["id"]]  # kept, so the remote delete can be retried

    again = sorakit("jobs", "delete", job["id"], "--remote-too", home=isolated_env)
    assert again.returncode == 0, again.stderr
    assert _simulated(isolated_env, job["remote_id"])["deleted"]
    assert json.loads(sorakit("jobs", "--json", home=isolated_env).stdout) == []


class _UndeletableSimulator(SimulatorProvider):
    """The simulator, whose delete the provider refuses with a 503."""

    async def delete(self, remote_id: str) -> None:
        raise ProviderUnavailableError("the simulator answered HTTP 503", status_code=503)


def test_http_delete_warns_when_the_providers_copy_stays(
    isolated_env: Path, serve: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    made = sorakit("generate", "a cat", "-s", "4", "-q", home=isolated_env)
    assert made.returncode == 0, made.stderr
    [job] = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
    caplog.set_level(logging.WARNING)
    settings = get_settings(home=isolated_env)
    simulator = _UndeletableSimulator(settings)
    with serve(settings, providers={"simulator": simulator}) as url:
        answer = httpx.delete(f"{url}/v1/videos/{job['id']}", timeout=30)
    assert answer.status_code == 200, answer.text  # best effort over HTTP, as the API did
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(job["id"] in m and "NOT deleted" in m and "503" in m for m in warned), warned
    assert not _simulated(isolated_env, job["remote_id"])["deleted"]

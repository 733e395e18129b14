"""A provider's safety refusal, seen from the command line: `moderation_blocked`, its own words."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli.test_cli import sorakit
from tests.cli.test_unknown_costs import FAL_HOSTS
from tests.providers._proxies import HandlerApp, HttpProxy, serving
from tests.providers.fal_fake import API, QUEUE, FakeFalQueue, Fault, rendered_mp4
from tests.providers.test_moderation import FAL_FLAGGED


async def test_a_fal_content_policy_refusal_is_moderation_blocked(
    isolated_env: Path, tmp_path: Path
) -> None:
    queue = FakeFalQueue(rendered_mp4(tmp_path), queue_seconds=1.0, render_seconds=1.0)
    queue.fail("submit", Fault(422, {"detail": [FAL_FLAGGED]}))  # fal's documented 422
    try:
        with serving(HandlerApp(queue.handle)) as address:
            async with HttpProxy(routes=dict.fromkeys(FAL_HOSTS, address)) as proxy:
                env = {
                    "SORAKIT_FAL_KEY": queue.key,
                    "SORAKIT_FAL_QUEUE_URL": QUEUE,
                    "SORAKIT_FAL_API_URL": API,
                    "SORAKIT_PROXIES": json.dumps({"fal": proxy.url()}),
                }
                refused = await asyncio.to_thread(
                    sorakit, "generate", "a fox", "--model", "fal/kling-3.0-pro", "-q",
                    home=isolated_env, env=env,
                )  # fmt: skip
    finally:
        queue.close()
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert "flagged by a content checker" in line, line  # the provider's own words
    [job] = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
    assert (job["status"], job["error_code"]) == ("failed", "moderation_blocked"), job

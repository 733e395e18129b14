"""Calls per completed job, per live provider: what a `/v1/videos` client makes to sorakit, what
sorakit makes to the provider, and what the provider's own SDK helper would make instead.

Part 1 (virtual clock, no sleeping). For each provider one representative model (the catalog's
expected render time E for its clip), and 41 true render times from 0.5 to 2 x E (an estimate
is rarely right); figures are means over them. The first 5 % of a render is queued. Progress is
what each adapter reports: Runway's own `progress` (linear in the true render time); fal, Gemini
and Vertex report none, so the adapter estimates it from elapsed / expected (capped at 99).
sorakit is driven as `JobRunner.track` drives it: `observe` the create's 0 %, then `next_delay`
-> status call -> `observe` ... until completed; then the fetch calls each adapter makes
(counted from its code: fal reads the result on the completing poll, then the result again and
the media URL; Runway the task and the CDN; Gemini the interaction and the Files URL; Vertex the
operation, video inline).
The client is the openai SDK's `poll`: a retrieve right after the create, then the
`openai-poll-after-ms` sorakit sends (or the SDK's 1 s without it) until sorakit says completed.
The SDK helpers: runwayml `wait_for_task_output` (sleeps 6 +-1.5 s, then retrieves; mean 6 s),
fal-client `iter_events`/`get` (status every `DEFAULT_QUEUE_POLL_INTERVAL`, 0.1 s in fal-client
1.0.3; also shown at 1 s), google-genai's documented loop (`operations.get` every 10 s; the SDK
has no wait helper); each plus its own fetch calls.

Part 2 (real, time-scaled): sorakit's engine runs one job per provider through the provider's
fake (the same fakes the tests use; their clocks run 40-960x real time) and the fake counts the
requests it answers.

Run: .venv/bin/python bench/provider_calls.py [--no-real]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT, machine, table
from sorakit.catalog.catalog import Catalog
from sorakit.catalog.fal import fal_models
from sorakit.catalog.google import google_models
from sorakit.catalog.runway import runway_models
from sorakit.engine.polling import PollSchedule

FACTORS = tuple(0.5 + 1.5 * i / 40 for i in range(41))
"""True render time / expected: 41 values from 0.5 to 2 (an estimate is rarely right)."""
QUEUED_SHARE = 0.05


@dataclass(frozen=True)
class Provider:
    """One provider, its representative job, and how it and its SDK helper behave."""

    name: str
    model: str
    seconds: int
    size: str
    reports_progress: bool
    fetch_calls: int
    """Provider calls sorakit makes after the status call that saw completion."""
    helper: str
    helper_interval: float
    helper_fetch_calls: int
    """Calls the helper's user makes after completion to get the file."""


PROVIDERS = (
    Provider("runway", "runway/veo3.1_fast", 8, "1280x720", True, 2, "wait_for_task_output", 6, 1),
    Provider("fal", "fal/veo-3.1", 8, "1280x720", False, 3, "iter_events", 0.1, 2),
    Provider("fal", "fal/kling-3.0-pro", 5, "1920x1080", False, 3, "iter_events", 0.1, 2),
    Provider("gemini", "gemini-omni-1.2-flash", 8, "1280x720", False, 2, "get every 10 s", 10, 1),
    Provider("vertex", "veo-3.1-generate-001", 8, "1280x720", False, 1, "get every 10 s", 10, 0),
)


def expected_of(provider: Provider) -> float:
    catalog = Catalog(fal_models() + google_models() + runway_models())
    caps = catalog.resolve(provider.model).capabilities
    return caps.expected_render_seconds(provider.size, provider.seconds)


def reported(provider: Provider, expected: float, actual: float, t: float) -> tuple[bool, int]:
    """(completed, progress) as the adapter reports them at time t after the create."""
    queued = QUEUED_SHARE * actual
    if t >= actual:
        return True, 100
    if t < queued:
        return False, 0
    if provider.reports_progress:
        return False, min(99, int(100 * (t - queued) / (actual - queued)))
    return False, max(0, min(99, int(100 * t / expected)))


def sorakit_polls(provider: Provider, expected: float, actual: float) -> tuple[int, float]:
    """Status calls sorakit makes, and when it notices completion (`JobRunner.track`'s loop)."""
    schedule = PollSchedule(expected_seconds=expected, started_at=0.0)
    now, calls = 0.0, 0
    schedule.observe(now, 0)
    while True:
        now += schedule.next_delay(now)
        calls += 1
        done, progress = reported(provider, expected, actual, now)
        schedule.observe(now, progress)
        if done:
            return calls, now
        if calls > 10_000:
            raise RuntimeError("runaway poller")


def fixed_polls(first: float, interval: float, until: float) -> tuple[int, float]:
    """A fixed-rate poller: the first call at `first`, then every `interval`, until >= `until`."""
    if until <= first:
        return 1, first
    calls = 1 + math.ceil((until - first) / interval - 1e-9)
    return calls, first + (calls - 1) * interval


def client_interval(expected: float) -> float:
    """The `openai-poll-after-ms` sorakit sends (`server.views.poll_after_ms`)."""
    return max(0.1, PollSchedule(expected_seconds=expected, started_at=0.0).tolerance)


def virtual() -> str:
    rows = []
    for provider in PROVIDERS:
        expected = expected_of(provider)
        totals = dict.fromkeys(
            ("polls", "late", "client", "client1", "helper", "helper_late", "helper1"), 0.0
        )
        worst = 0.0
        for factor in FACTORS:
            actual = expected * factor
            polls, noticed = sorakit_polls(provider, expected, actual)
            totals["polls"] += polls
            totals["late"] += noticed - actual
            worst = max(worst, noticed - actual)
            totals["client"] += fixed_polls(0.0, client_interval(expected), noticed)[0]
            totals["client1"] += fixed_polls(0.0, 1.0, noticed)[0]
            first = provider.helper_interval if provider.name == "runway" else 0.0
            helper, seen = fixed_polls(first, provider.helper_interval, actual)
            totals["helper"] += helper
            totals["helper_late"] += seen - actual
            if provider.name == "fal":
                totals["helper1"] += fixed_polls(0.0, 1.0, actual)[0]
        n = len(FACTORS)
        mean = {key: value / n for key, value in totals.items()}
        ours = 1 + mean["polls"] + provider.fetch_calls
        theirs = 1 + mean["helper"] + provider.helper_fetch_calls
        helper_cell = f"{theirs:.1f} ({provider.helper}, late {mean['helper_late']:.1f} s)"
        ratio = f"{theirs / ours:.1f}x"
        if provider.name == "fal":
            at_1s = 1 + mean["helper1"] + provider.helper_fetch_calls
            helper_cell += f"; {at_1s:.1f} at 1 s"
            ratio += f" ({at_1s / ours:.1f}x at 1 s)"
        rows.append(
            [
                f"{provider.name}: {provider.model} {provider.seconds} s {provider.size}",
                f"{expected:.0f}",
                "own" if provider.reports_progress else "estimated",
                f"{mean['client']:.1f} ({client_interval(expected):.1f} s)",
                f"{mean['client1']:.1f}",
                f"{mean['polls']:.1f}",
                f"{ours:.1f}",
                f"{mean['late']:.1f} / {worst:.1f}",
                helper_cell,
                ratio,
            ]
        )
    head = [
        "provider: job",
        "E (s)",
        "progress",
        "client status calls (hint)",
        "client at 1 s",
        "sorakit status calls",
        "sorakit provider calls",
        "noticed late, mean / max (s)",
        "SDK helper calls",
        "helper / sorakit",
    ]
    return table(head, rows)


# -- part 2: one real job per provider through its fake ------------------------------------------


async def _one_job(
    home: Path, name: str, provider: object, creds: dict[str, object], model: str, seconds: int
) -> str:
    """Create one job on `model` through the engine and track it to the end."""
    from sorakit.engine import Engine
    from sorakit.settings import get_settings

    settings = get_settings(home=home, **creds)
    engine = await Engine.open(settings, providers={name: provider})  # type: ignore[dict-item]
    async with engine:
        job = await engine.create("a cat", model=model, seconds=seconds, size="1280x720")
        done = await engine.wait(job.id)
    return done.status.value


async def real_runs() -> str:
    """One job per provider through its fake; the fake's own log of requests is counted."""
    sys.path.insert(0, str(ROOT))
    from pydantic import SecretStr
    from tests.providers.fal_fake import QUEUE, FakeFalQueue, QuickFal, rendered_mp4
    from tests.providers.runway_fake import BASE_URL, FakeRunwayAPI
    from tests.providers.test_runway import QuickRunway
    from tests.server.test_alias_routing import (
        QuickGemini,
        QuickVertex,
        RunningGoogle,
        google_server,
    )

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        runway = FakeRunwayAPI(workdir=base / "runway-fake")
        runway.speed, runway.queue_seconds, runway.render_seconds = 40.0, 2.0, 8.0
        quick_runway = QuickRunway(
            api_secret=runway.api_secret, base_url=BASE_URL, transport=runway.transport()
        )
        creds: dict[str, object] = {"runway_api_secret": SecretStr(runway.api_secret)}
        status = await _one_job(
            base / "runway", "runway", quick_runway, creds, "runway/veo3.1_fast", 4
        )
        kinds = [_kind(r.method, r.host, r.path) for r in runway.requests]
        rows.append(_row("runway: runway/veo3.1_fast 4 s", status, kinds))

        (base / "fal-fake").mkdir()
        fal = FakeFalQueue(rendered_mp4(base / "fal-fake"))
        fal.speed, fal.queue_seconds, fal.render_seconds = 40.0, 2.0, 8.0
        quick_fal = QuickFal(key=fal.key, queue_url=QUEUE, transport=fal.transport())
        creds = {"fal_key": SecretStr(fal.key)}
        status = await _one_job(base / "fal", "fal", quick_fal, creds, "fal/veo-3.1", 8)
        kinds = [_kind(r.method, r.url.host or "", r.url.path) for r in fal.seen]
        rows.append(_row("fal: fal/veo-3.1 8 s", status, kinds))

        for name, model, expected in (
            ("gemini", "gemini-omni-1.2-flash", 480.0),
            ("vertex", "veo-3.1-generate-001", 125.0),
        ):
            (base / f"{name}-fake").mkdir()
            fake = RunningGoogle(
                base / f"{name}-fake", queue_seconds=0.05 * expected, render_seconds=0.95 * expected
            )
            fake.speed = expected / 0.5  # the catalog's render time in half a second
            with google_server(fake) as url:
                provider: QuickGemini | QuickVertex
                if name == "gemini":
                    provider = QuickGemini(api_key=fake.api_key, base_url=url, clock=fake.clock)
                    creds = {"gemini_api_key": SecretStr(fake.api_key)}
                else:
                    provider = QuickVertex(
                        project=fake.project,
                        access_token=fake.access_token,
                        base_url=url,
                        clock=fake.clock,
                    )
                    creds = {"vertex_project": fake.project}
                provider.speed = fake.speed
                status = await _one_job(base / name, name, provider, creds, model, 8)
            kinds = [_google_kind(method, path) for method, path, _ in fake.requests]
            rows.append(_row(f"{name}: {model} 8 s", status, kinds))
    return table(["provider: job", "status", "provider calls", "by kind"], rows)


def _row(job: str, status: str, kinds: list[str]) -> list[str]:
    counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    return [job, status, str(len(kinds)), ", ".join(f"{k} {v}" for k, v in counts.items())]


def _kind(method: str, host: str, path: str) -> str:
    if method == "POST":
        return "create"
    if "media" in host or "cdn" in host:
        return "media"
    if "/requests/" in path and not path.endswith("/status"):
        return "result"
    return "status"


def _google_kind(method: str, path: str) -> str:
    if path.endswith((":predictLongRunning", "/interactions")):
        return "create"
    if "/files/" in path:
        return "media"
    return "status"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-real", action="store_true", help="skip part 2")
    args = parser.parse_args()
    print(f"Machine: {machine()}\n")
    print("## Part 1: virtual clock, means over 41 true render times from 0.5 to 2 x E\n")
    print(virtual())
    if not args.no_real:
        print("\n## Part 2: one real job per provider through its fake\n")
        print(asyncio.run(real_runs()))


if __name__ == "__main__":
    main()

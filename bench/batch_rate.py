"""A batch of N jobs at R requests per minute: makespan over N/R, and the 429s the server sent.

The server is the simulator behind a rate limit of R creates per minute, enforced as providers
do it: a token bucket holding one second's worth of requests (at least one) that refills
continuously; a create over the limit is answered 429 with the exact Retry-After and creates
nothing. Every approach makes the same N real MP4s (sora-2, 4 s, 720x1280):

- `sorakit batch`: `Batches` with `--rpm R` (a client-side token bucket per credential, each
  create through the runner's submit gate, AIMD on 429);
- all at once: every create sent together (the Streamlit studio's "Multiple" tab, sora2api's
  concurrent tasks); the engine still retries each 429 after its Retry-After;
- fixed sleep: one create, then `sleep(60 / R)`, then the next (the usual script);
- 60 s window: up to R creates at once, then wait for the minute to end (the Streamlit
  studio's "token bucket").

Makespan runs from the start (the file read and checked) to the last job archived; the ideal is
N/R minutes (the last create cannot come before (N-1)/R, and a render follows it).

Run: .venv/bin/python bench/batch_rate.py [--n 60] [--rpm 60] [--render 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shlex
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from _common import machine, table
from sorakit.engine import Engine
from sorakit.errors import RateLimitedError, SorakitError
from sorakit.ledger import JobStatus
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.providers.base import RemoteJob, SubmitRequest
from sorakit.providers.simulator import SimulatorProvider
from sorakit.settings import Settings, get_settings


class RateLimitedSimulator(SimulatorProvider):
    """The simulator behind a server-side limit of `rpm` creates per minute."""

    def __init__(self, settings: Settings, rpm: float) -> None:
        super().__init__(settings)
        self.rate = rpm / 60.0
        self.capacity = max(1.0, math.floor(rpm / 60.0))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.rejected = 0
        self.accepted: list[float] = []

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0 - 1e-9:
            self.rejected += 1
            wait = math.ceil((1.0 - self.tokens) / self.rate * 100) / 100
            raise RateLimitedError(
                f"rate limited; retry after {wait:g} s",
                provider=self.name,
                status_code=429,
                retry_after=wait,
            )
        self.tokens -= 1.0
        self.accepted.append(now)
        return await super().submit(request)


CONCURRENCY = 16
"""`sorakit batch --concurrency`: jobs in flight (at most R/60 x the seconds a job takes)."""

Approach = Callable[..., Awaitable[int]]
"""Runs N prompts at R per minute; returns how many jobs completed."""


async def sorakit_batch(
    engine: Engine, prompts: list[str], rpm: float, work: Path, concurrency: int = CONCURRENCY
) -> int:
    file = work / "batch.jsonl"
    file.write_text("".join(json.dumps({"prompt": p, "seconds": 4}) + "\n" for p in prompts))
    request = BatchRequest(str(file), concurrency=concurrency, rpm=rpm, out=str(work / "out"))
    result = await Batches(engine).generate(request)
    return result.totals["completed"]


async def _one(engine: Engine, prompt: str) -> bool:
    try:
        job = await engine.create(prompt, seconds=4)
        return (await engine.wait(job.id)).status is JobStatus.COMPLETED
    except SorakitError:  # retries ran out: the job is left pending
        return False


async def all_at_once(engine: Engine, prompts: list[str], rpm: float, work: Path) -> int:
    del rpm, work
    return sum(await asyncio.gather(*(_one(engine, p) for p in prompts)))


async def fixed_sleep(engine: Engine, prompts: list[str], rpm: float, work: Path) -> int:
    del work
    tasks = []
    for prompt in prompts:
        tasks.append(asyncio.create_task(_one(engine, prompt)))
        await asyncio.sleep(0)  # let the create start before the pause
        await asyncio.sleep(60.0 / rpm)
    return sum(await asyncio.gather(*tasks))


async def minute_window(engine: Engine, prompts: list[str], rpm: float, work: Path) -> int:
    del work
    tasks = []
    per_window = max(1, int(rpm))
    for start in range(0, len(prompts), per_window):
        opened = time.monotonic()
        tasks += [asyncio.create_task(_one(engine, p)) for p in prompts[start : start + per_window]]
        if start + per_window < len(prompts):
            await asyncio.sleep(max(0.0, 60.0 - (time.monotonic() - opened)))
    return sum(await asyncio.gather(*tasks))


SORAKIT = "sorakit batch --rpm R"
APPROACHES: dict[str, Approach] = {
    SORAKIT: sorakit_batch,
    "all at once": all_at_once,
    "fixed sleep 60/R": fixed_sleep,
    "60 s window": minute_window,
}


async def measure(name: str, approach: Approach, n: int, rpm: float, render: float) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-") as folder:
        work = Path(folder)
        settings = get_settings(home=work / "home", simulator_render_seconds=render)
        server = RateLimitedSimulator(settings, rpm)
        prompts = [f"batch bench shot {i}" for i in range(1, n + 1)]
        async with await Engine.open(settings, providers={"simulator": server}) as engine:
            started = time.monotonic()
            completed = await approach(engine, prompts, rpm, work)
            makespan = time.monotonic() - started
        ideal = n * 60.0 / rpm
        last = (server.accepted[-1] - started) if server.accepted else float("nan")
        worst = max_in_window(server.accepted, 60.0)
        print(f"  {name}: {makespan:.1f} s, {server.rejected} x 429", file=sys.stderr)
        return [
            name,
            f"{completed}/{n}",
            f"{makespan:.1f}",
            f"{makespan / ideal:.3f}",
            f"{last:.1f}",
            server.rejected,
            worst,
        ]


def max_in_window(times: list[float], window: float) -> int:
    """The most creates in any `window`-second span (half-open)."""
    best, low = 0, 0
    for high, t in enumerate(times):
        while t - times[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="jobs in the batch")
    parser.add_argument("--rpm", type=float, default=60.0, help="the server's creates per minute")
    parser.add_argument("--render", type=float, default=0.5, help="simulated render seconds")
    parser.add_argument("--only", choices=sorted(APPROACHES), action="append")
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="sorakit's jobs in flight"
    )
    args = parser.parse_args()
    approaches = {**APPROACHES, SORAKIT: partial(sorakit_batch, concurrency=args.concurrency)}
    rows = []
    for name, approach in approaches.items():
        if args.only and name not in args.only:
            continue
        rows.append(asyncio.run(measure(name, approach, args.n, args.rpm, args.render)))
    print(
        f"N = {args.n} jobs at R = {args.rpm:g} RPM (ideal N/R = {args.n * 60 / args.rpm:.1f} s), "
        f"simulated render {args.render:g} s; {machine()}\n"
    )
    print(
        table(
            [
                "approach",
                "completed",
                "makespan s",
                "makespan / (N/R)",
                "last create s",
                "429s",
                "max creates in 60 s",
            ],
            rows,
        )
    )
    command = " ".join([".venv/bin/python bench/batch_rate.py", *map(shlex.quote, sys.argv[1:])])
    print(f"\n`{command}`")


if __name__ == "__main__":
    main()

"""The studio's live progress: how late a ledger change reaches the page, and what 200 open
progress streams cost one `sorakit serve`.

The server is the real `sorakit serve` (the CLI's own function, in a child process, on the
simulator, open on loopback with no keys). One change is made inside that process so a change can
be timed: `Ledger.update` is wrapped to append `job percent time` to a file once a new progress
is committed by the engine's runner (the process that drives the job, as it always does). The
delay is the time from that commit to:

- **progress stream (httpx)**: the `progress` event with the new percent on `/jobs/{id}/events`,
  read by an httpx stream in this process;
- **page in Chromium**: the job's page `/jobs/{id}` in Debian's Chromium (Playwright, launched by
  path) showing the new percent, stamped by a MutationObserver with `Date.now()` (same clock);
- **GET every 1 s (the peers' way)**: a client calling `GET /v1/videos/{id}` every second (the
  openai SDK poller's default, and the Streamlit studio's refresh loop) seeing the new progress.

The limit is the stream's own read of the ledger, every 0.25 s (0.125 s on average), plus one
loopback round trip; only a push from the writer (LISTEN/NOTIFY, or an in-process signal) would
go under it.

Then N jobs each get an open progress stream (and, in a second round, N polling clients instead):
the server's RSS and CPU are read from /proc while they are held, and every change on every job
is timed as above. Renders are long enough (75 s) that almost no job finishes, and so almost no
MP4 is encoded, while the load is held. The engine asks the simulator for progress only a few
times per render (its poll schedule), so each job gives a handful of changes.

Run: .venv/bin/python bench/studio_progress.py [--streams 200] [--hold 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from _common import ROOT, machine, percentile, table

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHROMIUM = Path("/usr/bin/chromium")
JOB = {"model": "sora-2", "seconds": "4", "size": "1280x720", "prompt": "a kite over a beach"}
PERCENT = re.compile(r'class="percent">(\d+)%')

Seen = dict[tuple[str, int], float]
"""(job id, percent) -> when a client first saw it (wall clock)."""


# --- the server process ------------------------------------------------------------------


def server_main(home: Path, port: int, changes_file: Path) -> None:
    """`sorakit serve` with every committed progress change written to `changes_file`."""
    from sorakit.cli.serve import serve
    from sorakit.ledger.store import Ledger

    original = Ledger.update
    log = changes_file.open("a", buffering=1)

    async def update(self: Ledger, job_id: str, **fields: Any) -> Any:
        job = await original(self, job_id, **fields)
        if "progress" in fields:
            log.write(f"{job_id} {fields['progress']} {time.time():.6f}\n")
        return job

    Ledger.update = update  # type: ignore[method-assign]
    serve(host="127.0.0.1", port=port, home=home, verbose=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(home: Path, render_seconds: float) -> Iterator[tuple[str, int, Path]]:
    """The server child; yields its base URL, pid and the file of progress changes."""
    port, changes = free_port(), home / "changes.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORAKIT_")}
    env["SORAKIT_SIMULATOR_RENDER_SECONDS"] = str(render_seconds)
    log = (home / "serve.log").open("wb")
    args = [sys.executable, __file__, "--server", str(home), "--port", str(port)]
    proc = subprocess.Popen([*args, "--changes", str(changes)], cwd=ROOT, env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sorakit serve did not start; see {home / 'serve.log'}")
            time.sleep(0.1)
        yield base, proc.pid, changes
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def delays(changes_file: Path, seen: Seen, since: float) -> list[float]:
    """How long after each committed change (after `since`) a client first saw it."""
    out = []
    for line in changes_file.read_text().splitlines():
        job_id, percent, at = line.split()
        when = seen.get((job_id, int(percent)))
        if float(at) >= since and when is not None and when >= float(at) - 0.001:
            out.append(when - float(at))
    return out


# --- the clients -------------------------------------------------------------------------


async def create_jobs(base: str, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        ids = []
        for _ in range(n):
            answer = await client.post("/v1/videos", json=JOB)
            answer.raise_for_status()
            ids.append(answer.json()["id"])
        return ids


async def stream(client: httpx.AsyncClient, job_id: str, seen: Seen, opened: list[str]) -> None:
    async with client.stream("GET", f"/jobs/{job_id}/events") as answer:
        opened.append(job_id)
        async for line in answer.aiter_lines():
            if match := PERCENT.search(line):
                seen.setdefault((job_id, int(match.group(1))), time.time())


async def poll(client: httpx.AsyncClient, job_id: str, seen: Seen, opened: list[str]) -> None:
    opened.append(job_id)
    while True:
        video = (await client.get(f"/v1/videos/{job_id}")).json()
        seen.setdefault((job_id, int(video["progress"])), time.time())
        await asyncio.sleep(1.0)


def browser(base: str, job_id: str, seconds: float) -> Seen:
    """The job's page in Chromium for `seconds`: when each percent first showed."""
    from playwright.sync_api import sync_playwright

    watch = """() => { window.seen = {};
      new MutationObserver(() => {
        const p = document.querySelector('#job .percent');
        if (p && !(p.textContent in window.seen)) window.seen[p.textContent] = Date.now();
      }).observe(document.querySelector('#job'), {childList: true, subtree: true});
    }"""
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = chromium.new_page()
            page.goto(f"{base}/jobs/{job_id}")
            page.wait_for_selector("#job .percent")
            page.evaluate(watch)
            page.wait_for_timeout(seconds * 1000)
            shown: dict[str, float] = page.evaluate("window.seen")
        finally:
            chromium.close()
    return {(job_id, int(text.rstrip("%"))): at / 1000 for text, at in shown.items()}


async def quiet(base: str, changes: Path, seconds: float) -> dict[str, list[float]]:
    """One job followed three ways at once on an otherwise idle server."""
    (job_id,) = await create_jobs(base, 1)
    since = time.time() + 2  # every client is reading by then
    by_stream: Seen = {}
    by_poll: Seen = {}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        tasks = [
            asyncio.create_task(stream(client, job_id, by_stream, [])),
            asyncio.create_task(poll(client, job_id, by_poll, [])),
        ]
        by_page: Seen = {}
        if CHROMIUM.exists():  # Playwright's sync API wants a thread without an event loop
            by_page = await asyncio.to_thread(browser, base, job_id, seconds)
        else:
            await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "stream": delays(changes, by_stream, since),
        "page": delays(changes, by_page, since),
        "poll": delays(changes, by_poll, since),
    }


async def loaded(
    base: str, pid: int, changes: Path, how: str, n: int, hold: float
) -> dict[str, Any]:
    """`n` jobs, one stream (or poller) each, held for `hold` seconds."""
    ids = await create_jobs(base, n)
    idle = rss_mib(pid)
    seen: Seen = {}
    opened: list[str] = []
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        follow = stream if how == "stream" else poll
        tasks = [asyncio.create_task(follow(client, job_id, seen, opened)) for job_id in ids]
        deadline = time.monotonic() + 60
        while len(opened) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2)  # settled
        since, cpu0, t0, peak = time.time(), cpu_seconds(pid), time.monotonic(), 0.0
        while time.monotonic() - t0 < hold:
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.25)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        held = rss_mib(pid)
        until = time.time()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    seen = {key: at for key, at in seen.items() if at <= until}
    return {
        "opened": len(opened),
        "idle": idle,
        "held": held,
        "peak": peak,
        "cpu": cpu,
        "delays": delays(changes, seen, since),
    }


# --- the report --------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 95) * 1000:.0f}"


def ratio(values: list[float], floor: float) -> str:
    return f"{percentile(values, 50) / floor:.2f}" if values else "-"


async def measure(args: argparse.Namespace, home: Path) -> None:
    with server(home / "quiet", args.quiet) as (base, pid, changes):
        async with httpx.AsyncClient(base_url=base) as client:
            rtt = []
            for _ in range(50):
                started = time.perf_counter()
                await client.get("/healthz")
                rtt.append(time.perf_counter() - started)
        alone = await quiet(base, changes, args.quiet + 5)
    with server(home / "streams", args.render_seconds) as (base, pid, changes):
        streams = await loaded(base, pid, changes, "stream", args.streams, args.hold)
    with server(home / "polling", args.render_seconds) as (base, pid, changes):
        pollers = await loaded(base, pid, changes, "poll", args.streams, args.hold)

    floor = 0.125 + percentile(rtt, 50)
    n = args.streams
    print(f"\n{machine()}; delays from each committed progress change to a client seeing it\n")
    rows = [
        ["progress stream (httpx)", "1 job", alone["stream"]],
        ["page in Chromium", "1 job", alone["page"]],
        ["GET every 1 s (peers' way)", "1 job", alone["poll"]],
        ["progress stream (httpx)", f"{n} jobs, {n} streams", streams["delays"]],
        ["GET every 1 s (peers' way)", f"{n} jobs, {n} pollers", pollers["delays"]],
    ]
    print(
        table(
            ["client", "load", "changes timed", "delay p50 / p95 (ms)", "p50 / limit"],
            [[who, load, len(d), ms(d), ratio(d, floor)] for who, load, d in rows]
            + [
                [
                    "limit: ledger read every 0.25 s / 2 + 1 RTT",
                    "-",
                    "-",
                    f"{floor * 1000:.0f}",
                    "1.00",
                ]
            ],
        )
    )
    print()
    print(
        table(
            ["held", "open", "RSS idle (MiB)", "RSS held (MiB)", "KiB each", "peak (MiB)", "CPU %"],
            [
                [
                    what,
                    load["opened"],
                    f"{load['idle']:.0f}",
                    f"{load['held']:.0f}",
                    f"{(load['held'] - load['idle']) * 1024 / n:.0f}",
                    f"{load['peak']:.0f}",
                    f"{load['cpu'] * 100:.0f}",
                ]
                for what, load in ((f"{n} progress streams", streams), (f"{n} pollers", pollers))
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--hold", type=float, default=40.0, help="seconds the load is held")
    parser.add_argument("--quiet", type=float, default=20.0, help="render seconds of the 1 job")
    parser.add_argument("--render-seconds", type=float, default=75.0, help="under load")
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--changes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        server_main(Path(args.server), args.port, Path(args.changes))
        return
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-") as tmp:
        for name in ("quiet", "streams", "polling"):
            (Path(tmp) / name).mkdir()
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()

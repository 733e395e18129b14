"""`sorakit serve` answering `GET /v1/videos/{id}` under 50 concurrent keep-alive clients, as a
ratio to a bare FastAPI endpoint returning the same JSON, next to a raw ASGI app (the floor of
uvicorn + Python on this machine).

Each server runs in its own process (uvicorn, one worker, pinned to CPU 0); the load comes from
another process pinned to CPU 1: 50 keep-alive connections written on asyncio streams (lighter
than an httpx client, so the server is the bottleneck; `--driver httpx` uses httpx instead),
each sending GETs back to back over the seeded ids, for a fixed number of requests after a
warm-up. The sorakit server's ledger is seeded first with completed jobs (each with its three
asset rows), written through `sorakit.ledger.Ledger`. `--profile` runs the sorakit server
under cProfile and prints where its time goes. `--before SRC` adds `sorakit serve` run from
another source tree (a `src/` folder, e.g. `git archive HEAD src | tar -x -C /tmp/before`), so
a change is measured against what it replaces in the same run.

Besides latency and throughput, each row has the server's CPU time per request (its process's
user + system time over the measured requests): on a machine shared with other work the
throughput of each server moves with the neighbours' load, its CPU time per request much less.

Run: .venv/bin/python bench/serve_latency.py [--quick] [--profile] [--before SRC]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import ROOT, child, machine, percentile, table, write_port

CONNECTIONS = 50
SEEDED = 200
SERVER_CPU = {0}
CLIENT_CPU = {1}


def video_json(video_id: str, created: int = 1_760_000_000) -> dict[str, Any]:
    """A completed Video object, as sorakit serves it."""
    return {
        "id": video_id,
        "object": "video",
        "model": "sora-2",
        "status": "completed",
        "progress": 100,
        "created_at": created,
        "completed_at": created + 90,
        "expires_at": None,
        "prompt": "a calico cat plays a grand piano on a moonlit stage",
        "size": "720x1280",
        "seconds": "4",
        "remixed_from_video_id": None,
        "error": None,
    }


def video_ids(home: Path) -> list[str]:
    return json.loads((home / "ids.json").read_text())


async def seed(home: Path) -> list[str]:
    """Completed jobs with their assets, written straight into a fresh ledger."""
    from sorakit.ledger import JobStatus, Ledger
    from sorakit.settings import get_settings

    settings = get_settings(home=home)
    ledger = await Ledger.open(settings.ledger_url)
    ids = []
    try:
        for index in range(SEEDED):
            job_id = f"video_{index:032x}"
            await ledger.create_job(
                id=job_id,
                kind="generate",
                model="sora-2",
                provider="simulator",
                provider_model="sora-2",
                prompt=video_json(job_id)["prompt"],
                seconds=4,
                size="720x1280",
                idempotency_key=f"bench-{index}",
                remote_id=f"sim_{index:024x}",
                expected_render_seconds=120.0,
                estimated_cost=0.4,
            )
            await ledger.update(job_id, status=JobStatus.IN_PROGRESS, progress=50)
            for variant, ext, media in (
                ("video", "mp4", "video/mp4"),
                ("thumbnail", "webp", "image/webp"),
                ("spritesheet", "jpg", "image/jpeg"),
            ):
                await ledger.add_asset(
                    job_id, variant, str(home / f"{job_id}.{ext}"), 1000, "0" * 64, media
                )
            await ledger.update(
                job_id,
                status=JobStatus.COMPLETED,
                progress=100,
                completed_at=time.time(),
                cost=0.4,
                detail="archived",
            )
            ids.append(job_id)
    finally:
        await ledger.close()
    (home / "ids.json").write_text(json.dumps(ids))
    return ids


async def seed_gateway(home: Path, gateway: Path) -> None:
    """The same ledger in another home, with every job owned by one tenant key (the issue 6
    gateway: authentication, ownership and the request log on every request)."""
    import shutil

    from sorakit.ledger import Ledger

    gateway.mkdir()
    for name in ("sorakit.db", "ids.json"):
        shutil.copyfile(home / name, gateway / name)
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{gateway / 'sorakit.db'}")
    try:
        key, token = await ledger.create_key("bench")
        for job_id in video_ids(gateway):
            await ledger.update(job_id, owner=key.id)
    finally:
        await ledger.close()
    (gateway / "token.txt").write_text(token)


def bearer(home: Path) -> bytes:
    token = home / "token.txt"
    return token.read_bytes().strip() if token.exists() else b"sk-bench"


# --- server processes --------------------------------------------------------------------


def bare_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.get("/v1/videos/{video_id}")
    async def retrieve(video_id: str) -> JSONResponse:
        return JSONResponse(video_json(video_id))

    return app


def raw_app() -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = json.dumps(video_json(scope["path"].rsplit("/", 1)[-1])).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def server_main(
    kind: str, home: Path | None, port_file: str, profile: str | None, source: str | None
) -> None:
    if source:  # before anything imports sorakit
        sys.path.insert(0, source)
    import uvicorn

    if home is not None:
        (home / f"{kind}.pid").write_text(str(os.getpid()))
    if kind in ("sorakit", "gateway", "before"):
        from sorakit.server import create_app
        from sorakit.settings import get_settings

        app = create_app(get_settings(home=home))
    else:
        app = bare_app() if kind == "bare" else raw_app()

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # exit cleanly on SIGTERM (profile dumped)
            signal.signal(signal.SIGTERM, lambda *_: setattr(self, "should_exit", True))
            yield

    server = Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="error", access_log=False, lifespan="on"
        )
    )

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task
            await asyncio.sleep(0.01)
        write_port(port_file, server.servers[0].sockets[0].getsockname()[1])
        await task

    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(run())
        finally:
            profiler.disable()
            profiler.dump_stats(profile)
    else:
        asyncio.run(run())


# --- the load process --------------------------------------------------------------------


async def _raw_worker(
    port: int, paths: list[bytes], count: int, lat: list[float], token: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index in range(count):
            path = paths[index % len(paths)]
            start = time.perf_counter()
            writer.write(
                b"GET " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                b"authorization: Bearer " + token + b"\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length: (\d+)", head)
            if not head.startswith(b"HTTP/1.1 200") or match is None:
                raise RuntimeError(f"unexpected answer: {head[:200]!r}")
            await reader.readexactly(int(match.group(1)))
            lat.append(time.perf_counter() - start)
    finally:
        writer.close()


async def _httpx_worker(client: Any, paths: list[bytes], count: int, lat: list[float]) -> None:
    for index in range(count):
        start = time.perf_counter()
        response = await client.get(paths[index % len(paths)].decode())
        response.raise_for_status()
        lat.append(time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    port: int, ids: list[str], total: int, driver: str, token: bytes, server_pid: int
) -> dict[str, Any]:
    paths = [f"/v1/videos/{i}".encode() for i in ids]
    per = total // CONNECTIONS

    async def burst(count: int, lat: list[float]) -> None:
        if driver == "httpx":
            import httpx

            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                limits=httpx.Limits(max_connections=CONNECTIONS),
                headers={"authorization": f"Bearer {token.decode()}"},
            ) as client:
                await asyncio.gather(
                    *(
                        _httpx_worker(client, paths[i:] + paths[:i], count, lat)
                        for i in range(CONNECTIONS)
                    )
                )
        else:
            await asyncio.gather(
                *(
                    _raw_worker(port, paths[i:] + paths[:i], count, lat, token)
                    for i in range(CONNECTIONS)
                )
            )

    # Warm-up: every connection walks every id once, so the rounds measure the steady state of
    # polling finished videos (a cold first read goes to the ledger; see the breakdown below).
    await burst(max(per // 5, len(paths)), [])
    latencies: list[float] = []
    cpu = cpu_seconds(server_pid)
    start = time.perf_counter()
    await burst(per, latencies)
    wall = time.perf_counter() - start
    cpu = cpu_seconds(server_pid) - cpu
    return {
        "requests": len(latencies),
        "wall": wall,
        "cpu_ms": cpu * 1000 / len(latencies),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
    }


def load_main(port: int, home: Path, total: int, driver: str, result: Path, kind: str) -> None:
    os.sched_setaffinity(0, CLIENT_CPU)
    pid = int((home / f"{kind}.pid").read_text())
    outcome = asyncio.run(
        asyncio.wait_for(load(port, video_ids(home), total, driver, bearer(home), pid), 300)
    )
    result.write_text(json.dumps(outcome))


# --- the driver --------------------------------------------------------------------------

SERVERS = [
    ("before", "`sorakit serve` from `--before SRC` (what the change replaces)"),
    ("sorakit", "**`sorakit serve`** (`create_app`, SQLite ledger)"),
    ("gateway", "**`sorakit serve` with API keys** (auth, ownership, request log)"),
    ("bare", "bare FastAPI endpoint, same JSON (the target's reference)"),
    ("raw", "raw ASGI app on uvicorn, same JSON (the floor)"),
]


def measure(
    kind: str,
    home: Path,
    total: int,
    driver: str,
    profile: str | None,
    source: str | None = None,
) -> dict[str, Any]:
    args = [__file__, "--server", kind, "--home", str(home)]
    if profile:
        args += ["--profile-out", profile]
    if source:
        args += ["--source", source]
    with child(args, cpus=SERVER_CPU) as port:
        result = home / f"load-{kind}.json"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--load",
                str(port),
                "--home",
                str(home),
                "--total",
                str(total),
                "--driver",
                driver,
                "--result",
                str(result),
                "--kind",
                kind,
            ],
            cwd=ROOT,
            check=True,
            timeout=400,
        )
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, one round")
    parser.add_argument("--profile", action="store_true", help="cProfile the sorakit server")
    parser.add_argument("--driver", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--before", metavar="SRC", help="also measure sorakit from this src/")
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        server_main(
            args.server,
            Path(args.home) if args.home else None,
            args.port_file,
            args.profile_out,
            args.source,
        )
        return
    if args.load:
        load_main(args.load, Path(args.home), args.total, args.driver, Path(args.result), args.kind)
        return
    servers = [(k, label) for k, label in SERVERS if k != "before" or args.before]
    before = str(Path(args.before).resolve()) if args.before else None

    total = args.requests or (3000 if args.quick else 20000)
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-serve-") as name:
        home = Path(name)
        asyncio.run(seed(home))
        gateway = home / "gateway"
        asyncio.run(seed_gateway(home, gateway))
        homes = {"gateway": gateway}
        results: dict[str, list[dict[str, Any]]] = {kind: [] for kind, _ in servers}
        for _ in range(rounds):
            for kind, _label in servers:
                results[kind].append(
                    measure(kind, homes.get(kind, home), total, args.driver, None, before)
                )
        inproc = in_process(home, before, 2000 if args.quick else 5000, 1 if args.quick else 3)
        os.sched_setaffinity(0, SERVER_CPU)
        parts = asyncio.run(breakdown(home, 500 if args.quick else 2000))
        os.sched_setaffinity(0, SERVER_CPU | CLIENT_CPU)
        profile_rows = None
        if args.profile:
            out = str(home / "sorakit.prof")
            measure("sorakit", home, min(total, 4000), args.driver, out)
            profile_rows = _profile_summary(out)
    print(f"# `GET /v1/videos/{{id}}` under {CONNECTIONS} clients ({machine()})\n")
    print(
        f"Server on CPU 0, load ({args.driver} driver) on CPU 1; {total} requests per round "
        f"after a warm-up, {rounds} round(s), median round shown; {SEEDED} completed jobs "
        f"seeded.\n"
    )
    rows, summary = [], {}
    for kind, label in servers:
        outs = results[kind]
        rps = statistics.median(o["requests"] / o["wall"] for o in outs)
        cpu, p50, p95, p99 = (
            statistics.median(o[name] for o in outs) * (1 if name == "cpu_ms" else 1000)
            for name in ("cpu_ms", "p50", "p95", "p99")
        )
        summary[kind] = (rps, p50, p99, p95, cpu)
        rows.append([label, f"{rps:.0f}", f"{cpu:.3f}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}"])
    print(
        table(["server", "req/s", "server CPU ms / req", "p50 (ms)", "p95 (ms)", "p99 (ms)"], rows)
    )
    b, r = summary["bare"], summary["raw"]
    for kind in ("before", "sorakit"):
        if kind not in summary:
            continue
        s = summary[kind]
        ratio = b[0] / s[0]
        print(
            f"\nRatio {'before' if kind == 'before' else 'sorakit'} / bare FastAPI: {ratio:.2f}x "
            f"the time per request (throughput {s[0] / b[0]:.2f}x), CPU per request "
            f"{s[4] / b[4]:.2f}x, p50 {s[1] / b[1]:.2f}x, p95 {s[3] / b[3]:.2f}x, p99 "
            f"{s[2] / b[2]:.2f}x (target <= 1.2x: {'met' if ratio <= 1.2 else 'MISSED'})."
        )
    print(f"\nBare FastAPI / raw ASGI: {r[0] / b[0]:.2f}x.")
    print(
        "\nThe whole ASGI app in-process, no sockets (`bench/_serve_inproc.py`: CPU per GET of a "
        "finished video, alternating with the bare endpoint in one process on CPU 0; median of "
        "the runs):\n"
    )
    rows = [
        [
            label,
            f"{statistics.median(o['sorakit_us'] for o in outs):.1f}",
            f"{statistics.median(o['bare_us'] for o in outs):.1f}",
            f"{statistics.median(o['sorakit_us'] / o['bare_us'] for o in outs):.2f}x",
        ]
        for label, outs in inproc
    ]
    print(table(["tree", "sorakit µs / GET", "bare µs / GET", "sorakit / bare"], rows))
    s = summary["sorakit"]
    g = summary["gateway"]
    added = s[0] / g[0]
    print(
        f"\nThe gateway with keys / `sorakit serve` without: {added:.2f}x the time per request, "
        f"p50 {g[1] / s[1]:.2f}x, p99 {g[2] / s[2]:.2f}x (issue 6 target <= 1.2x: "
        f"{'met' if added <= 1.2 else 'MISSED'})."
    )
    print(
        f"\nOne request at a time, in-process on CPU 0 (server CPU per request under load: "
        f"sorakit {1000 / s[0]:.2f} ms, bare {1000 / b[0]:.2f} ms):\n"
    )
    print(parts)
    if profile_rows:
        print("\nThe sorakit server under load, cProfile (main thread only; by self time):\n")
        print(profile_rows)


def in_process(
    home: Path, before: str | None, requests: int, runs: int
) -> list[tuple[str, list[dict[str, float]]]]:
    """`bench/_serve_inproc.py` for each tree, alternating, `runs` times each."""
    trees = ([("before (`--before SRC`)", before)] if before else []) + [("this tree", None)]
    outcomes: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
    for _ in range(runs):
        for label, source in trees:
            command = [sys.executable, str(Path(__file__).with_name("_serve_inproc.py"))]
            command += ["--home", str(home), "--requests", str(requests)]
            if source:
                command += ["--source", source]
            done = subprocess.run(
                command,
                cwd=ROOT,
                check=True,
                timeout=600,
                capture_output=True,
                text=True,
                preexec_fn=lambda: os.sched_setaffinity(0, SERVER_CPU),
            )
            outcomes[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return list(outcomes.items())


def _profile_summary(path: str, top: int = 10) -> str:
    """The top functions by self time of a profiled server run."""
    import pstats

    stats = pstats.Stats(path)
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(v[2] for _, v in entries)
    rows = [
        [f"`{Path(f).name}:{line} {name}`", f"{v[2]:.2f}", f"{100 * v[2] / total:.0f} %"]
        for (f, line, name), v in entries[:top]
    ]
    return table(["function", "self s", "share"], rows)


async def breakdown(home: Path, n: int) -> str:
    """In-process, sequential, on one core: what one sorakit `GET /v1/videos/{id}` is made of."""
    import sqlite3

    import aiosqlite
    from fastapi.responses import JSONResponse

    from sorakit.ledger import Ledger
    from sorakit.server.views import video_view
    from sorakit.settings import get_settings

    ids = video_ids(home)
    ledger = await Ledger.open(get_settings(home=home).ledger_url)
    hops = 0
    original = aiosqlite.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await original(self, fn, *args, **kwargs)

    async def timed(call: Any) -> float:
        for i in range(n // 10):
            await call(i)
        start = time.perf_counter()
        for i in range(n):
            await call(i)
        return (time.perf_counter() - start) / n * 1000

    try:
        job = await ledger.get(ids[0])
        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        hops = 0
        get_ms = await timed(lambda i: ledger.get(ids[i % len(ids)]))
        per_get = hops / (n + n // 10)
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]

        async def view(_i: int) -> None:
            JSONResponse(video_view(job).model_dump(mode="json"))

        view_ms = await timed(view)
        async with aiosqlite.connect(home / "sorakit.db") as db:

            async def two_async(i: int) -> None:
                async with db.execute("SELECT * FROM jobs WHERE id = ?", (ids[i % len(ids)],)) as c:
                    await c.fetchone()
                async with db.execute(
                    "SELECT * FROM assets WHERE job_id = ?", (ids[i % len(ids)],)
                ) as c:
                    await c.fetchall()

            raw_async_ms = await timed(two_async)
        con = sqlite3.connect(home / "sorakit.db")

        async def two_sync(i: int) -> None:
            con.execute("SELECT * FROM jobs WHERE id = ?", (ids[i % len(ids)],)).fetchone()
            con.execute("SELECT * FROM assets WHERE job_id = ?", (ids[i % len(ids)],)).fetchall()

        raw_sync_ms = await timed(two_sync)
        con.close()
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]
        await ledger.close()
    rows = [
        [
            "`Ledger.get(id)` (AsyncSession: job + assets, SQLAlchemy over aiosqlite)",
            f"{get_ms:.3f}",
            f"{per_get:.0f} thread hand-offs to aiosqlite's worker",
        ],
        ["`video_view` + `model_dump` + `JSONResponse`", f"{view_ms:.3f}", ""],
        ["the same two SELECTs on plain aiosqlite", f"{raw_async_ms:.3f}", "4 hand-offs"],
        ["the same two SELECTs on plain sqlite3 (no thread)", f"{raw_sync_ms:.3f}", ""],
    ]
    return table(["part", "ms per call", "note"], rows)


if __name__ == "__main__":
    main()

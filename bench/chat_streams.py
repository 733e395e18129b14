"""N concurrent streaming chat completions waiting on simulated renders: the server's memory and
CPU, next to the same N jobs made through `POST /v1/videos` and polled every second, and next to
one job alone on the idle server.

The server is the real `sorakit serve` (the CLI's own function: uvicorn, INFO logging, one
process) on the simulator, in a child process whose RSS and CPU are read from /proc while the
load runs; its log goes to a file. One change is made inside that process so rendering can be
counted apart from serving: the simulator's encoder runs with `threads=1` (one encoder thread
per render; with dozens of renders at once on a few cores, intra-encode threads gain nothing),
and every render's CPU is measured with `time.thread_time()` around it.

The load is one `httpx.AsyncClient` in this process, with a connection per job:

- streaming: `POST /v1/chat/completions` with `stream: true` and model `sora2-landscape-4s`
  (sora-2, 4 s, 1280x720: the simulator's smallest and shortest job), each stream read to
  `[DONE]`;
- polling: `POST /v1/videos` with the same job, then `GET /v1/videos/{id}` every 1 s until it is
  finished (the openai SDK's `poll` at its 1 s default, which the peers' scripts use);
- alone: one job of each way on the idle server before the load (the physical limit: one render
  time, the encode, and the 1 s poll granularity of both ways).

Run: .venv/bin/python bench/chat_streams.py [--streams 1000] [--render-seconds 30] [--runs 2]
     .venv/bin/python bench/chat_streams.py --quick        # 50 jobs, one run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import ROOT, machine, percentile, table, write_port

CHAT_MODEL = "sora2-landscape-4s"
VIDEO_JOB = {"model": "sora-2", "seconds": "4", "size": "1280x720"}
POLL_EVERY = 1.0
SAMPLE_EVERY = 0.25
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FD_LIMIT = 16384


def raise_fd_limit() -> int:
    """Raise the soft open-files limit (a connection per job, on both ends); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_LIMIT if hard == resource.RLIM_INFINITY else min(FD_LIMIT, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the server process ------------------------------------------------------------------


def server_main(home: Path, port_file: str, stats_file: Path) -> None:
    """`sorakit serve` on a free port, with the simulator's renders counted (see the docstring)."""
    raise_fd_limit()
    log = os.open(home / "serve.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    from sorakit.cli.serve import serve
    from sorakit.providers.simulator import provider as simulator

    original = simulator.render
    counted = {"started": 0, "renders": 0, "cpu": 0.0}
    lock = threading.Lock()

    def render(*args: Any, **kwargs: Any) -> Any:
        kwargs["threads"] = 1  # every frame encoded in this thread, so thread_time counts it
        with lock:
            counted["started"] += 1
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                counted["renders"] += 1
                counted["cpu"] += time.thread_time() - start

    simulator.render = render  # type: ignore[assignment]

    def publish() -> None:  # the driver reads the render totals while the server runs
        while True:
            with lock:
                text = json.dumps(counted)
            stats_file.with_suffix(".tmp").write_text(text)
            os.replace(stats_file.with_suffix(".tmp"), stats_file)
            time.sleep(0.2)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def announce() -> None:  # the port file appears once the server accepts
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                write_port(port_file, port)
                return
            time.sleep(0.05)

    threading.Thread(target=publish, daemon=True).start()
    threading.Thread(target=announce, daemon=True).start()
    serve(host="127.0.0.1", port=port, home=home, verbose=0)


@dataclass
class Server:
    """A running server child and its /proc readings."""

    proc: subprocess.Popen[bytes]
    port: int
    stats_file: Path

    def status(self, field_name: str) -> float:
        """A /proc/<pid>/status field in MiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu(self, task: int | None = None) -> float:
        """utime + stime in seconds, of the process or of one of its threads."""
        path = f"/proc/{self.proc.pid}" + (f"/task/{task}" if task else "") + "/stat"
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def main_cpu(self) -> float:
        """The event loop's thread (the main thread runs uvicorn and every request)."""
        return self.cpu(self.proc.pid)

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux `clear_refs` 5); False where not allowed."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def renders(self) -> dict[str, float]:
        try:
            return json.loads(self.stats_file.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {"started": 0, "renders": 0, "cpu": 0.0}


@contextlib.contextmanager
def server(home: Path, render_seconds: float) -> Iterator[Server]:
    home.mkdir(parents=True)
    port_file, stats_file = home / "port", home / "renders.json"
    env = dict(os.environ, SORAKIT_SIMULATOR_RENDER_SECONDS=str(render_seconds))
    env.pop("SORAKIT_HOME", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--server",
            str(home),
            "--port-file",
            str(port_file),
            "--stats",
            str(stats_file),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {home}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not listen within 60 s")
            time.sleep(0.05)
        yield Server(proc, int(port_file.read_text()), stats_file)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Timeout)\b.*")
_IDS = re.compile(r"(video|chatcmpl|sim)[-_][0-9a-zA-Z]+")


def server_errors(log: Path, top: int = 5) -> list[tuple[str, int]]:
    """The server log's most frequent errors: ERROR lines and traceback conclusions, ids masked."""
    seen: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            if " ERROR " in line:
                seen[_IDS.sub(r"\1_*", line.split(" ERROR ", 1)[1])[:160]] += 1
            elif _EXCEPTION.match(line):
                seen[_IDS.sub(r"\1_*", line)[:160]] += 1
    return seen.most_common(top)


# --- the load ----------------------------------------------------------------------------


@dataclass
class Job:
    """What one client saw."""

    ok: bool = False
    first: float | None = None
    """Seconds from sending the request to the first chunk (polling: to the create's answer)."""
    done: float | None = None
    """Seconds from the start of the load to the job seen finished."""
    opened: float | None = None
    """Seconds from the start of the load to the first chunk / the create's answer."""
    chunks: int = 0
    calls: int = 0
    error: str | None = None
    extras: dict[str, int] = field(default_factory=dict)


async def stream_job(client: Any, index: int, t0: float, job: Job) -> None:
    sent = time.perf_counter()
    body = {
        "model": CHAT_MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": f"bench {index}: a lighthouse at dusk"}],
    }
    job.calls = 1
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            job.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
            return
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            now = time.perf_counter()
            if line == "data: [DONE]":
                job.done = now - t0
                return
            if job.first is None:
                job.first, job.opened = now - sent, now - t0
            job.chunks += 1
            if '"error"' in line and '"choices"' not in line:
                job.error = line[6:200]
            elif "Your video is ready" in line:
                job.ok = True


async def poll_job(client: Any, index: int, t0: float, job: Job) -> None:
    sent = time.perf_counter()
    body = dict(VIDEO_JOB, prompt=f"bench {index}: a lighthouse at dusk")
    response = await client.post("/v1/videos", json=body)
    job.calls = 1
    now = time.perf_counter()
    job.first, job.opened = now - sent, now - t0
    if response.status_code != 200:
        job.error = f"HTTP {response.status_code}: {response.text[:200]}"
        return
    video = response.json()
    while video["status"] not in ("completed", "failed", "cancelled"):
        await asyncio.sleep(POLL_EVERY)
        response = await client.get(f"/v1/videos/{video['id']}")
        job.calls += 1
        if response.status_code != 200:
            job.error = f"HTTP {response.status_code}: {response.text[:200]}"
            return
        video = response.json()
    job.done = time.perf_counter() - t0
    job.ok = video["status"] == "completed"
    if not job.ok:
        job.error = json.dumps(video.get("error"))[:200]


async def guarded(way: str, client: Any, index: int, t0: float, give_up: float = 600.0) -> Job:
    job = Job()
    try:
        work = (stream_job if way == "stream" else poll_job)(client, index, t0, job)
        await asyncio.wait_for(work, give_up)
    except TimeoutError:
        job.error = f"GaveUp: not finished after {give_up:g} s"
    except Exception as exc:
        job.error = f"{type(exc).__name__}: {exc}"[:200]
    if job.done is None and job.error is None:
        job.error = "the stream ended without [DONE]"
    return job


async def sample(srv: Server, t0: float, jobs: list[Job], out: list[dict[str, float]]) -> None:
    while True:
        with contextlib.suppress(OSError):
            out.append(
                {
                    "t": time.perf_counter() - t0,
                    "rss": srv.status("VmRSS"),
                    "cpu": srv.cpu(),
                    "main": srv.main_cpu(),
                    "started": srv.renders()["started"],
                    "threads": srv.threads(),
                    "open": sum(j.opened is not None for j in jobs),
                    "done": sum(j.done is not None for j in jobs),
                }
            )
        await asyncio.sleep(SAMPLE_EVERY)


async def measure(
    way: str, srv: Server, n: int, render_seconds: float, give_up: float
) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{srv.port}",
        limits=limits,
        timeout=httpx.Timeout(600.0, connect=60.0, pool=600.0),
        headers={"authorization": "Bearer sk-bench"},
    ) as client:
        # One job alone on the idle server: the limit, and the warm-up (imports, first render).
        t_alone = time.perf_counter()
        cpu_alone = srv.cpu()
        alone = await guarded(way, client, -1, t_alone)
        alone_cpu = srv.cpu() - cpu_alone
        await asyncio.sleep(2.0)
        peak_reset = srv.reset_peak()
        base = {
            "rss": srv.status("VmRSS"),
            "cpu": srv.cpu(),
            "main": srv.main_cpu(),
            "render": srv.renders(),
        }
        jobs = [Job() for _ in range(n)]
        samples: list[dict[str, float]] = []
        client_cpu = time.process_time()
        t0 = time.perf_counter()
        sampler = asyncio.create_task(sample(srv, t0, jobs, samples))
        done = await asyncio.gather(*(guarded(way, client, i, t0, give_up) for i in range(n)))
        makespan = time.perf_counter() - t0
        client_cpu = time.process_time() - client_cpu
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        for slot, job in zip(jobs, done, strict=True):
            slot.__dict__.update(job.__dict__)
        end = {
            "rss": srv.status("VmRSS"),
            "hwm": srv.status("VmHWM"),
            "cpu": srv.cpu(),
            "main": srv.main_cpu(),
            "render": srv.renders(),
            "threads": srv.threads(),
        }
    return summarize(
        way, n, render_seconds, alone, alone_cpu, base, end, jobs, samples, makespan
    ) | {
        "client_cpu": client_cpu,
        "peak_reset": peak_reset,
    }


def summarize(
    way: str,
    n: int,
    render_seconds: float,
    alone: Job,
    alone_cpu: float,
    base: dict[str, Any],
    end: dict[str, Any],
    jobs: list[Job],
    samples: list[dict[str, float]],
    makespan: float,
) -> dict[str, Any]:
    ok = [j for j in jobs if j.ok]
    firsts = [j.first for j in jobs if j.first is not None]
    opened = [j.opened for j in jobs if j.opened is not None]
    t_open = max(opened) if len(opened) == n else None
    # Holding: from every stream open (every job created) to the first render started.
    started = base["render"]["started"]
    first_render = next((s["t"] for s in samples if s["started"] > started), None)
    holding = None
    if t_open is not None and first_render is not None:
        window = [s for s in samples if t_open <= s["t"] <= first_render]
        if len(window) >= 3 and window[-1]["t"] - window[0]["t"] >= 1.0:
            span = window[-1]["t"] - window[0]["t"]
            holding = {
                "rss": max(s["rss"] for s in window),
                "cpu_rate": (window[-1]["cpu"] - window[0]["cpu"]) / span,
                "main_rate": (window[-1]["main"] - window[0]["main"]) / span,
                "span": span,
            }
    cpu = end["cpu"] - base["cpu"]
    render_cpu = end["render"]["cpu"] - base["render"]["cpu"]
    renders = end["render"]["renders"] - base["render"]["renders"]
    errors = Counter(j.error.split(":")[0] for j in jobs if j.error)
    examples = sorted({j.error for j in jobs if j.error})[:3]
    return {
        "way": way,
        "n": n,
        "render_seconds": render_seconds,
        "ok": len(ok),
        "errors": dict(errors),
        "error_examples": examples,
        "makespan": makespan,
        "alone": alone.done,
        "alone_ok": alone.ok,
        "alone_cpu": alone_cpu,
        "t_open": t_open,
        "first_render": first_render,
        "first_p50": percentile(firsts, 50),
        "first_p99": percentile(firsts, 99),
        "chunks": sum(j.chunks for j in jobs),
        "calls": sum(j.calls for j in jobs),
        "base_rss": base["rss"],
        "peak_rss": end["hwm"],
        "end_rss": end["rss"],
        "holding": holding,
        "cpu": cpu,
        "main_cpu": end["main"] - base["main"],
        "render_cpu": render_cpu,
        "renders": renders,
        "threads": end["threads"],
        "max_threads": max((s["threads"] for s in samples), default=0),
    }


# --- the driver --------------------------------------------------------------------------

WAYS = [
    ("stream", "**streaming chat completions** (`stream: true`)"),
    ("poll", "`POST /v1/videos` + `GET` every 1 s (the SDK's 1 s poller)"),
]


def run(
    n: int, render_seconds: float, runs: int, ways: list[str], give_up: float
) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-chat-") as name:
        for index in range(runs):
            order = ways if index % 2 == 0 else ways[::-1]  # a load drift hits both ways
            for way in order:
                home = Path(name) / f"{way}-{index}"
                with server(home, render_seconds) as srv:
                    outcome = asyncio.run(measure(way, srv, n, render_seconds, give_up))
                outcome["run"] = index + 1
                outcome["server_errors"] = server_errors(home / "serve.log")
                results.append(outcome)
                print(f"run {index + 1} {way}: {json.dumps(outcome)}", file=sys.stderr)
    return results


def encode_per_job(r: dict[str, Any]) -> float:
    """The simulator's mean encode CPU per render in this run (renders stop when jobs fail)."""
    return float(r["render_cpu"] / r["renders"]) if r["renders"] else 0.0


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "n/a" if value is None else format(value, fmt)


def report(results: list[dict[str, Any]], cores: int) -> None:
    first = results[0]
    n, render_seconds = first["n"], first["render_seconds"]
    print(f"# {n} concurrent chat streams waiting on simulated renders ({machine()})\n")
    print(
        f"`sorakit serve` on the simulator, {render_seconds:g} s per render, sora-2 4 s "
        f"1280x720; one httpx client, one connection per job. Server figures from /proc; the "
        f"simulator's encode counted apart (one thread per render, `thread_time`).\n"
    )
    labels = dict(WAYS)
    rows = []
    for r in results:
        limit = render_seconds + encode_per_job(r) * r["n"] / cores
        rows.append(
            [
                r["run"],
                labels[r["way"]],
                f"{r['ok']}/{r['n']}",
                _f(r["makespan"]),
                _f(r["alone"]),
                _f(limit),
                f"{r['makespan'] / limit:.2f}" if r["ok"] == r["n"] else "-",
                f"{1000 * r['first_p50']:.0f} / {1000 * r['first_p99']:.0f}",
                r["chunks"] if r["way"] == "stream" else "-",
                r["calls"],
            ]
        )
    print(
        table(
            [
                "run",
                "way",
                "ok",
                "makespan (s)",
                "one job alone (s)",
                "limit: render + N x encode / cores (s)",
                "makespan / limit",
                "first chunk p50 / p99 (ms)",
                "SSE chunks",
                "HTTP calls",
            ],
            rows,
        )
    )
    print()
    rows = []
    for r in results:
        held = r["holding"]
        rows.append(
            [
                r["run"],
                labels[r["way"]],
                _f(r["base_rss"]),
                _f(held and held["rss"]),
                _f(held and (held["rss"] - r["base_rss"]) * 1024 / r["n"], ".0f"),
                _f(r["peak_rss"]),
                _f(held and 100 * held["cpu_rate"], ".0f"),
                _f(r["cpu"]),
                _f(r["render_cpu"]),
                f"{1000 * (r['cpu'] - r['render_cpu']) / r['n']:.1f}",
                f"{100 * r['cpu'] / r['makespan']:.0f}",
                f"{100 * (r['cpu'] - r['render_cpu']) / r['makespan']:.0f}",
                _f(r["client_cpu"]),
            ]
        )
    print(
        table(
            [
                "run",
                "way",
                "RSS idle (MiB)",
                "RSS all open (MiB)",
                "KiB per open job",
                "peak RSS (MiB)",
                "CPU % holding",
                "server CPU s",
                "of it encode s",
                "CPU ms per job, less encode",
                "CPU % over run",
                "less encode",
                "client CPU s",
            ],
            rows,
        )
    )
    print()
    for r in results:
        held = r["holding"]
        note = (
            f"holding window {held['span']:.1f} s (all open at {r['t_open']:.1f} s, first render "
            f"started at {r['first_render']:.1f} s), event-loop thread {100 * held['main_rate']:.0f} %"
            if held
            else f"no clean holding window (all open at {_f(r['t_open'])} s, first render started "
            f"at {_f(r['first_render'])} s): raise --render-seconds"
        )
        print(
            f"- run {r['run']} {r['way']}: {note}; renders {r['renders']}; server OS threads max "
            f"{r['max_threads']}, at the end {r['threads']}; event-loop thread CPU {r['main_cpu']:.1f} s"
            + ("" if r["peak_reset"] else "; VmHWM could not be reset (peak includes warm-up)")
            + (f"; errors {r['errors']} e.g. {r['error_examples']}" if r["errors"] else "")
        )
        for message, count in r["server_errors"]:
            print(f"  - server log, {count}x: `{message}`")
    streams = [r for r in results if r["way"] == "stream"]
    polls = [r for r in results if r["way"] == "poll"]
    print()
    for s, p in zip(streams, polls, strict=False):
        s_job = (s["cpu"] - s["render_cpu"]) / s["n"]
        p_job = (p["cpu"] - p["render_cpu"]) / p["n"]
        print(
            f"- run {s['run']}: server CPU per job less the encode, streaming / polling "
            f"{s_job / p_job:.2f}x ({1000 * s_job:.1f} vs {1000 * p_job:.1f} ms); with the "
            f"encode {s['cpu'] / p['cpu']:.2f}x; peak RSS {s['peak_rss'] / p['peak_rss']:.2f}x; "
            f"makespan {s['makespan'] / p['makespan']:.2f}x; HTTP calls "
            f"{s['calls']} vs {p['calls']}."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=None, help="concurrent jobs (1000)")
    parser.add_argument("--render-seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=None, help="runs of both ways (2)")
    parser.add_argument("--quick", action="store_true", help="50 jobs, one run")
    parser.add_argument("--ways", default="stream,poll", help="which ways, in order")
    parser.add_argument(
        "--give-up", type=float, default=300.0, help="seconds before a job counts as failed"
    )
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--report", help="print the tables of an earlier --json file")
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        server_main(Path(args.server), args.port_file, Path(args.stats))
        return
    if args.report:
        report(json.loads(Path(args.report).read_text()), os.cpu_count() or 1)
        return
    limit = raise_fd_limit()
    n = args.streams or (50 if args.quick else 1000)
    if n + 100 > limit:
        raise SystemExit(f"{n} jobs need about {n + 100} open files; the limit is {limit}")
    runs = args.runs or (1 if args.quick else 2)
    results = run(n, args.render_seconds, runs, args.ways.split(","), args.give_up)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results, os.cpu_count() or 1)


if __name__ == "__main__":
    main()

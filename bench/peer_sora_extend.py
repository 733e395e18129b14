"""Side by side with the peer `sora-extend` (PyPI): a chained long video through `sorakit serve`.

The peer is mshumer's sora-extend as packaged on PyPI (0.1.3; the notebook's method: plan N
prompts with a chat model, then create -> poll every 2 s -> download -> last frame as JPEG ->
next create, then MoviePy concatenation with a full libx264 re-encode). It is installed in a
SCRATCH virtualenv under /tmp with Python 3.12 (it needs >= 3.12; never in the repo) and run
unchanged except for its base URL (`bench/_peer_sora_extend_run.py`). Its planner calls the
Responses API; the bench server answers that with a deterministic fake planner, so it runs
offline.

Both clients talk to the same `sorakit serve` app (`create_app`, simulator, a fixed render time
per job), in its own process on loopback, which counts every `/v1/videos` request it answers.
Ours is `sorakit.AsyncClient(base_url=...).long(...)`: the engine's OpenAI provider over HTTP,
offline planner, chain mode, the same prompt, total, segment count and size.

Reported: wall time (and over the physical limit: the sum of the segments' renders), Videos API
calls by kind, and seams with a duplicated frame (outputs decoded, `_peer_seams.py`: a seam is
duplicated where two consecutive frames around it are a repeat, next to no pixel changing, while
the simulator's disc and frame counter move in every frame). The server side (counting, fake
planner) is `_peer_server.py`.

Run: .venv/bin/python bench/peer_sora_extend.py [--quick] [--render 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import HERE, child, machine, table
from _peer_seams import seams
from _peer_server import counts
from _timeline import attribute

PROMPT = "a paper boat sails down a rainy street, past lit shop windows, into a harbour at dawn"
PEER_VENV = Path("/tmp/sorakit-peer-sora-extend")
PEER_SPEC = "sora-extend==0.1.3"
PEER_PYTHON = "3.12"

# --- the peer's scratch environment ----------------------------------------------------------


def peer_python() -> Path:
    """The scratch virtualenv's interpreter, made (once) with `pip install sora-extend`."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    interpreter = subprocess.run(
        ["pyenv", "prefix", PEER_PYTHON], capture_output=True, text=True, check=False
    ).stdout.strip()
    base = Path(interpreter) / "bin" / "python" if interpreter else Path(f"python{PEER_PYTHON}")
    subprocess.run([str(base), "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", PEER_SPEC], check=True, timeout=600
    )
    return python


# --- the two clients -------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    wall: float
    calls: dict[str, int]
    video: Path
    segments: list[Path]
    notes: dict[str, float] = field(default_factory=dict)


def run_peer(base: str, out: Path, seconds: int, count: int, size: str) -> Outcome:
    python = peer_python()
    log = out / "peer.log"
    out.mkdir(parents=True, exist_ok=True)
    before = counts(base)
    with log.open("w") as handle:
        done = subprocess.run(
            [
                str(python),
                str(HERE / "_peer_sora_extend_run.py"),
                base,
                PROMPT,
                str(seconds // count),
                str(count),
                size,
                str(out),
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=600,
            cwd=out,
        )
    if done.returncode:
        raise RuntimeError(f"the peer failed:\n{log.read_text()[-3000:]}")
    after = counts(base)
    calls, late = _delta(before, after)
    result = json.loads((out / "result.json").read_text())
    encode = _encode(after, result["started"], result["started"] + result["wall"])
    return Outcome(
        f"sora-extend {result['version']} (PyPI)",
        result["wall"],
        calls,
        Path(result["video"]),
        [Path(p) for p in result["segments"]],
        {"stitch": result["concatenate"], "late": late, "encode": encode},
    )


def run_ours(base: str, out: Path, seconds: int, count: int, size: str) -> Outcome:
    """Ours through the server, with its client-side steps timed (in this process only)."""
    import sorakit
    from sorakit import media
    from sorakit.providers.openai._provider import OpenAIProvider

    spans: list[tuple[float, float, str]] = []
    stack = contextlib.ExitStack()

    def timed(owner: Any, name: str, what: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                spans.append((started, time.time(), what))

        setattr(owner, name, wrapper)
        stack.callback(setattr, owner, name, original)

    async def submit(self: Any, request: Any) -> Any:
        started = time.time()
        try:
            return await submit0(self, request)
        finally:
            spans.append((started, time.time(), "submit"))

    @contextlib.asynccontextmanager
    async def download(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        started = time.time()
        try:
            async with download0(self, *args, **kwargs) as handle:
                yield handle
        finally:
            spans.append((started, time.time(), "download"))

    submit0, download0 = OpenAIProvider.submit, OpenAIProvider.download
    stack.callback(setattr, OpenAIProvider, "submit", submit0)
    stack.callback(setattr, OpenAIProvider, "download", download0)

    async def go() -> tuple[float, float, Any]:
        async with sorakit.AsyncClient(
            base_url=f"{base}/v1", api_key="sk-bench", home=out / "home"
        ) as client:
            await client.engine()  # open the ledger before the clock starts, as the peer imports
            started = time.time()
            video = await client.long(
                PROMPT,
                seconds,
                segments=count,
                size=size,
                mode="chain",
                planner="offline",
                out=out,
            )
            return started, time.time(), video

    before = counts(base)
    with stack:
        timed(media, "stitch", "stitch")
        timed(media, "last_frame", "last frame")
        OpenAIProvider.submit = submit  # type: ignore[method-assign]
        OpenAIProvider.download = download  # type: ignore[method-assign]
        started, ended, video = asyncio.run(go())
    after = counts(base)
    calls, late = _delta(before, after)
    render = _server_render(after)
    for job, created in after["created"].items():
        if job not in before["created"]:
            spans.append((created, created + render, "render"))
            noticed = after["noticed"].get(job, created + render)
            spans.append((created + render, max(noticed, created + render), "polling lateness"))
    spans += [(a, b, "simulator encode") for a, b in after["encodes"]]
    causes = attribute(spans, started, ended)
    segments = sorted((video.folder / "segments").glob("*.mp4"))
    return Outcome(
        "**sorakit** `AsyncClient.long` (chain)",
        ended - started,
        calls,
        video.video,
        segments,
        {
            "stitch": causes["stitch"],
            "late": late,
            "encode": _encode(after, started, ended),
            **{f"t:{k}": v for k, v in causes.items()},
        },
    )


def _encode(report: dict[str, Any], start: float, end: float) -> float:
    """Seconds of [start, end] during which the server encoded a simulated video."""
    spans = [(a, b, "simulator encode") for a, b in report["encodes"]]
    return attribute(spans, start, end)["simulator encode"]


def _server_render(report: dict[str, Any]) -> float:
    """The server's render time, from any video it reported (created + render + late)."""
    for job, late in report["late"].items():
        return float(report["noticed"][job] - report["created"][job] - late)
    return 0.0


def _delta(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, int], float]:
    """The requests made between two reports, and the summed lateness of the new videos."""
    old, new = before["counts"], after["counts"]
    calls = {k: v - old.get(k, 0) for k, v in new.items() if v - old.get(k, 0)}
    late = sum(v for k, v in after["late"].items() if k not in before["late"])
    return calls, late


# --- seams -----------------------------------------------------------------------------------


def polls_at(render: float) -> tuple[int, int]:
    """Status calls per segment at a real render time: the peer's fixed 2 s vs `PollSchedule`."""
    from poll_policy import fixed, ours

    return fixed(render, 2.0).calls, ours(render, "linear", render).calls


# --- the report ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one total (24 s) instead of two")
    parser.add_argument("--render", type=float, default=3.0, help="seconds per segment render")
    args = parser.parse_args()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):  # the server must use the simulator
        os.environ.pop(name, None)
    size = "1280x720"
    cases = [(24, 3)] if args.quick else [(24, 3), (48, 4)]
    python = peer_python()
    print(f"# Long video side by side with sora-extend ({machine()})\n")
    print(
        f"One `sorakit serve` (simulator, {args.render:g} s render per job, {size}) in its own "
        f"process on loopback; the peer in a scratch virtualenv ({python.parent.parent}, "
        f"`pip install {PEER_SPEC}`), its planner answered by a deterministic fake "
        "`/v1/responses`. Prompt: "
        f'"{PROMPT}".\n'
    )
    rows, seam_rows, call_rows = [], [], []
    ours_rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-peer-") as tmp:
        root = Path(tmp)
        server_args = ["bench/_peer_server.py", "--render", f"{args.render}"]
        with child([*server_args, "--home", str(root / "server")], timeout=60) as port:
            base = f"http://127.0.0.1:{port}"
            for seconds, count in cases:
                limit = count * args.render
                label = f"{seconds} s = {count} x {seconds // count} s"
                for outcome in (
                    run_peer(base, root / f"peer-{seconds}", seconds, count, size),
                    run_ours(base, root / f"ours-{seconds}", seconds, count, size),
                ):
                    found = seams(outcome.video, outcome.segments)
                    if outcome.name.startswith("**sorakit"):
                        ours_rows.append((label, outcome.notes))
                    videos = sum(v for k, v in outcome.calls.items() if not k.startswith("chat"))
                    rows.append(
                        [
                            label,
                            outcome.name,
                            f"{outcome.wall:.1f}",
                            f"**{outcome.wall / limit:.2f}**",
                            f"{outcome.notes['late']:.1f} ({outcome.notes['encode']:.1f})",
                            f"{outcome.notes['stitch']:.1f}",
                            f"{outcome.wall - limit - outcome.notes['late'] - outcome.notes['stitch']:.1f}",
                            f"**{videos}**",
                            f"**{found.duplicated} / {found.seams}**",
                        ]
                    )
                    call_rows.append(
                        [
                            label,
                            outcome.name,
                            ", ".join(f"{k}: {v}" for k, v in sorted(outcome.calls.items())),
                        ]
                    )
                    seam_rows.append(
                        [
                            label,
                            outcome.name,
                            f"{found.frames}",
                            f"{found.duration:.3f}",
                            f"{found.threshold:.0f}",
                            ", ".join(str(d) for d in found.at_seams),
                            f"{found.repeats_elsewhere}",
                        ]
                    )
                rows.append(
                    [
                        label,
                        "physical limit (the renders, back to back)",
                        f"{limit:.1f}",
                        "1.00",
                        "0",
                        "-",
                        "-",
                        f"{count} create + {count} status + {count} content",
                        f"0 / {count - 1}",
                    ]
                )
    print(
        table(
            [
                "total",
                "client",
                "wall (s)",
                "wall / limit",
                "seen late (s) (of which server encode)",
                "stitch (s)",
                "rest (s)",
                "Videos API calls",
                "duplicated seams",
            ],
            rows,
        )
    )
    print(
        "\nwall = limit + seen late + stitch + rest. Seen late: for every segment, from the "
        "simulated render's end to the server's first `completed` answer to the client, summed "
        "(it includes the server encoding the simulator's MP4, in brackets, the same work for "
        "both clients); "
        "rest: planning, uploads, downloads, last frames, the client's own bookkeeping.\n"
    )
    print(
        "Where our wall time went through the server (client-side steps timed in the bench "
        "process, the renders and their lateness from the server's answers; each instant "
        "counted once):\n"
    )
    causes = [
        "render",
        "simulator encode",
        "polling lateness",
        "download",
        "submit",
        "last frame",
        "stitch",
        "other",
    ]
    print(
        table(
            ["total", *(f"{c} (s)" for c in causes)],
            [
                [label, *(f"{notes.get('t:' + c, 0.0):.2f}" for c in causes)]
                for label, notes in ours_rows
            ],
        )
    )
    print(
        "\n(simulator encode: the server encoding the simulated MP4 before it answers "
        "`completed`, which a real provider does inside its render; polling lateness: the rest "
        "of the time from the render's end to the first `completed` answer; submit includes "
        "uploading the PNG start frame.)\n"
    )
    print("Videos API calls by kind, as the server counted them:\n")
    print(table(["total", "client", "requests"], call_rows))
    print(
        "\nSeams (outputs decoded at full size; a step's size is the count of pixels whose luma "
        "changes by more than 24 between two consecutive frames; a seam is duplicated when its "
        "stillest step within 3 frames is under the repeat threshold, a quarter of the "
        "video's 5th-percentile step):\n"
    )
    print(
        table(
            [
                "total",
                "client",
                "frames",
                "duration (s)",
                "repeat threshold (px)",
                "stillest step at each seam (px)",
                "repeats elsewhere",
            ],
            seam_rows,
        )
    )
    print(
        "\nAt real render times (per segment; the peer polls every 2 s; ours is `PollSchedule` "
        "on a virtual clock, linear progress, as in bench/poll_policy.py; the API calls add the "
        "creates and downloads counted above):\n"
    )
    poll_rows = []
    n = cases[0][1]
    for real in (30.0, 60.0, 120.0, 300.0):
        peer, mine = polls_at(real)
        # + create + content per segment; ours also fetches the thumbnail and the spritesheet
        poll_rows.append(
            [f"{real:.0f} s", f"{peer}", f"{mine}", f"{n * (peer + 2)}", f"**{n * (mine + 4)}**"]
        )
    print(
        table(
            [
                "render per segment",
                "status calls, sora-extend (2 s)",
                "status calls, **sorakit**",
                f"Videos API calls for {n} segments, sora-extend",
                "same, **sorakit**",
            ],
            poll_rows,
        )
    )
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores.")
    print(
        f"\nReproduce: .venv/bin/python bench/peer_sora_extend.py"
        f"{' --quick' if args.quick else ''} --render {args.render:g}"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
    sys.exit(0)

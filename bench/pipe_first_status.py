"""Time from a chat request to the first status event of the Open WebUI pipe, next to the chat
facade's own time to its first byte and to its first `sorakit` state chunk.

The server is `create_app` on loopback in this process (simulator, a fresh SORAKIT_HOME). The
pipe runs inside Open WebUI's own code: `_pipe_first_status_driver.py` in the test suite's cached
Open WebUI venv (`tests/openwebui/conftest.py` makes it when missing) loads the served pipe with
Open WebUI's function loader and times each `pipe()` call to its first status event. The facade
is timed from here with httpx on the same kind of request (`stream: true`, sora-2). Each turn
creates a real job; the simulator's render time is long enough that no render ends inside a
measured interval.

Run: .venv/bin/python bench/pipe_first_status.py [--turns 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _common import ROOT, ThreadedUvicorn, machine, percentile, table

sys.path.insert(0, str(ROOT))

from tests.openwebui.conftest import _cache_root, build_venv

DRIVER = Path(__file__).with_name("_pipe_first_status_driver.py")


def facade(url: str, turns: int) -> tuple[list[float], list[float]]:
    """Seconds to the first byte, and to the first chunk with the job's state, per request."""
    first_byte, first_state = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for number in range(turns + 1):
            body = {
                "model": "sora-2",
                "messages": [{"role": "user", "content": f"a red kite, take {number}"}],
                "stream": True,
            }
            started = time.perf_counter()
            with client.stream("POST", "/v1/chat/completions", json=body) as answer:
                lines = answer.iter_lines()
                next(lines)
                byte = time.perf_counter() - started
                state = next(line for line in lines if '"sorakit"' in line)
                stated = time.perf_counter() - started
            assert state
            if number:  # the first one warms up
                first_byte.append(byte)
                first_state.append(stated)
    return first_byte, first_state


def pipe(python: Path, url: str, turns: int, data: Path) -> list[float]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data),
        "DATA_DIR": str(data),
        "FROM_INIT_PY": "true",
        "USE_SLIM_DOCKER": "true",
        "OFFLINE_MODE": "true",
        "WEBUI_SECRET_KEY": "sorakit-bench",
    }
    done = subprocess.run(
        [str(python), str(DRIVER), url, str(turns)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    seconds: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds


def row(name: str, seconds: list[float]) -> list[str]:
    ms = [s * 1000 for s in seconds]
    return [name, str(len(ms)), f"{percentile(ms, 50):.1f}", f"{percentile(ms, 95):.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    started = time.monotonic()
    venv = build_venv(_cache_root())
    print(f"Open WebUI venv: {venv.setup_seconds:.1f} s ({'cached' if venv.cached else 'made'})")
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-") as tmp:
        os.environ["SORAKIT_HOME"] = str(Path(tmp) / "home")
        os.environ["SORAKIT_SIMULATOR_RENDER_SECONDS"] = "30"
        from sorakit.server import create_app
        from sorakit.settings import get_settings

        data = Path(tmp) / "open-webui"
        data.mkdir()
        with ThreadedUvicorn(create_app(get_settings())).running() as url:
            byte, state = facade(url, args.turns)
            status = pipe(venv.python, url, args.turns, data)
    print(machine())
    print(
        table(
            ["from the chat request to", "turns", "p50 ms", "p95 ms"],
            [
                row("facade: first byte (role chunk)", byte),
                row("facade: first state chunk (intro)", state),
                row("pipe in Open WebUI: first status event", status),
            ],
        )
    )
    print(f"({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()

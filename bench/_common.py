"""Shared helpers of the engine benchmarks: markdown tables, percentiles, loopback servers.

Nothing here reaches beyond 127.0.0.1; every helper process is bounded and reaped.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (floats are formatted by the caller)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line describing where the figures were taken."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


class ThreadedUvicorn:
    """uvicorn in a background thread on a free loopback port (as tests/conftest.py does)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:  # the main thread owns signals
                return None

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = _Server(config)

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        thread = threading.Thread(target=self.server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self.server.should_exit = True
            thread.join(timeout=30)


@contextlib.contextmanager
def child(
    args: Sequence[str], *, timeout: float = 30.0, cpus: set[int] | None = None
) -> Iterator[int]:
    """Run `python bench/<script> ...` that writes its port to a file; yield the port, then stop it.

    The child gets `--port-file PATH`; it must write the bound port there once it accepts.
    """
    with tempfile.TemporaryDirectory(prefix="sorakit-bench-") as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen(
            [sys.executable, *args, "--port-file", str(port_file)],
            cwd=ROOT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None:
                    raise RuntimeError(f"{args} exited with {proc.returncode} before listening")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args} did not listen within {timeout} s")
                time.sleep(0.02)
            yield int(port_file.read_text())
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def write_port(path: str | None, port: int) -> None:
    """Publish a child's port atomically (see `child`)."""
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(str(port))
        os.replace(tmp, path)

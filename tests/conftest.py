"""Shared fixtures: an isolated SORAKIT_HOME, a plain fake provider, a real server on loopback."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import uvicorn

from sorakit.errors import InvalidStateError, NotFoundError
from sorakit.providers.base import Download, Provider, RemoteJob, SubmitRequest
from sorakit.settings import Settings, get_settings

_ENV_PREFIXES = ("SORAKIT_", "OPENAI_", "FAL_", "RUNWAYML_", "GEMINI_", "GOOGLE_")


def pytest_configure(config: pytest.Config) -> None:
    """Let Python keep the bytecode it compiles, for this run and the processes it starts."""
    # The suite starts hundreds of `sorakit` subprocesses (and the xdist workers); where
    # PYTHONDONTWRITEBYTECODE is set, each compiled every module it imports again: ~1 s of CPU.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser tests are `slow`: each launches Chromium against a real server."""
    for item in items:
        if item.path.name.startswith("test_browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own SORAKIT_HOME and no stray credentials or .env file."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("SORAKIT_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings file
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    """The CLI configures logging when it runs in-process; undo that after each test."""
    import logging

    yield
    for name in ("sorakit", "uvicorn", "httpx"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def settings(isolated_env: Path) -> Settings:
    """Settings for a fast simulator."""
    return get_settings(home=isolated_env, simulator_render_seconds=0.3)


def make_mp4(seconds: float = 0.5, size: tuple[int, int] = (64, 48), fps: int = 12) -> bytes:
    """A small real H.264 MP4, made with PyAV."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(round(seconds * fps)):
            array = np.full((size[1], size[0], 3), (index * 20) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


class FakeProvider(Provider):
    """A scripted provider: jobs finish after `steps` status calls; faults are queued by hand."""

    name = "fake"

    def __init__(self, *, steps: int = 2, video: bytes | None = None) -> None:
        self.steps = steps
        self.video = video or make_mp4()
        self.jobs: dict[str, RemoteJob] = {}
        self.keys: dict[str, str] = {}
        self.polls: dict[str, int] = {}
        self.history: list[tuple[str, str]] = []
        self.faults: dict[str, list[BaseException]] = {}
        self.fail_with: tuple[str, str] | None = None
        self.truncate_next = False
        self.lose_next_create = False
        self.requests: list[SubmitRequest] = []

    def enqueue(self, operation: str, *errors: BaseException) -> None:
        """Raise these errors, one per call, on the next calls of `operation`."""
        self.faults.setdefault(operation, []).extend(errors)

    def _fault(self, operation: str) -> None:
        self.history.append((operation, ""))
        queued = self.faults.get(operation)
        if queued:
            raise queued.pop(0)

    @property
    def creates(self) -> int:
        return len(self.jobs)

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        self._fault("submit")
        self.requests.append(request)
        if request.idempotency_key in self.keys:
            return self.jobs[self.keys[request.idempotency_key]]
        remote = RemoteJob(
            id=f"fake_{len(self.jobs) + 1}",
            status="queued",
            progress=0,
            seconds=str(request.seconds),
            size=request.size,
            created_at=time.time(),
        )
        self.jobs[remote.id] = remote
        self.keys[request.idempotency_key] = remote.id
        self.polls[remote.id] = 0
        if self.lose_next_create:
            self.lose_next_create = False
            from sorakit.errors import ProviderConnectionError

            raise ProviderConnectionError("answer lost", provider="fake")
        return remote

    async def find(
        self, request: SubmitRequest, *, since: float, exclude: Any = ()
    ) -> RemoteJob | None:
        self.history.append(("find", request.idempotency_key))
        remote_id = self.keys.get(request.idempotency_key)
        return self.jobs[remote_id] if remote_id else None

    async def retrieve(self, remote_id: str) -> RemoteJob:
        self._fault("retrieve")
        if remote_id not in self.jobs:
            raise NotFoundError(f"no job {remote_id}")
        self.polls[remote_id] += 1
        done = self.polls[remote_id] >= self.steps
        job = self.jobs[remote_id]
        if done and self.fail_with:
            job = replace(
                job, status="failed", error_code=self.fail_with[0], error_message=self.fail_with[1]
            )
        elif done:
            job = replace(job, status="completed", progress=100)
        else:
            job = replace(
                job, status="in_progress", progress=int(100 * self.polls[remote_id] / self.steps)
            )
        self.jobs[remote_id] = job
        return job

    @asynccontextmanager
    async def _download(self, remote_id: str) -> AsyncIterator[Download]:
        self._fault("download")
        if self.jobs[remote_id].status != "completed":
            raise InvalidStateError("not completed")
        data = self.video
        if self.truncate_next:
            self.truncate_next = False
            data = data[: len(data) // 2]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 4096):
                yield data[start : start + 4096]

        yield Download(chunks=chunks(), media_type="video/mp4", expected_size=None)

    def download(self, remote_id: str, variant: Any = "video") -> Any:
        return self._download(remote_id)

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        return 0.05


@pytest.fixture
def fake_provider() -> FakeProvider:
    return FakeProvider()


class ThreadedServer(uvicorn.Server):
    """uvicorn in a background thread, on a free loopback port."""

    def install_signal_handlers(self) -> None:  # the main thread owns signals
        return None

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not self.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = self.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self.should_exit = True
            thread.join(timeout=20)


@pytest.fixture
def serve() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """`with serve(settings) as base_url:` runs `create_app(settings)` on loopback."""

    @contextlib.contextmanager
    def run(settings: Settings, **kwargs: Any) -> Iterator[str]:
        from sorakit.server import create_app

        config = uvicorn.Config(
            create_app(settings, **kwargs),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
        )
        with ThreadedServer(config).running() as url:
            yield url

    return run

"""Fixtures for the simulator's tests: a fake clock, fast settings, helpers to read real MP4s."""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw

from sorakit.providers.base import SubmitRequest
from sorakit.providers.simulator import FaultInjector, FaultPlan, SimulatorProvider
from sorakit.settings import Settings, get_settings

Frames = list[npt.NDArray[np.uint8]]


class FakeClock:
    """A wall clock that moves only when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_settings(tmp_path: Path) -> Settings:
    """Settings with a 10 s simulated render (the fake clock makes it instant) and no faults."""
    return get_settings(home=tmp_path / "home", simulator_render_seconds=10.0, simulator_faults="")


@pytest.fixture
def make_provider(sim_settings: Settings, clock: FakeClock) -> Callable[..., SimulatorProvider]:
    """`make_provider(faults="reset=1", seed=1)`: a provider on the shared directory and clock."""

    def make(faults: str = "", seed: int | None = 0, **kwargs: object) -> SimulatorProvider:
        injector = FaultInjector(FaultPlan.parse(faults), seed=seed)
        return SimulatorProvider(sim_settings, faults=injector, clock=clock, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def provider(make_provider: Callable[..., SimulatorProvider]) -> SimulatorProvider:
    return make_provider()


_KEYS = iter(range(1_000_000))


class SimTools:
    """Helpers the simulator tests share (a fixture, so any import mode finds them)."""

    @staticmethod
    def request(kind: str = "generate", **fields: object) -> SubmitRequest:
        """A submit request with small, fast defaults and a fresh idempotency key."""
        values: dict[str, object] = {
            "kind": kind,
            "model": "sora-2",
            "prompt": "a calico cat playing a piano on stage",
            "seconds": 1,
            "size": "160x96",
            "idempotency_key": f"key-{next(_KEYS)}",
        }
        values.update(fields)
        return SubmitRequest(**values)  # type: ignore[arg-type]

    @staticmethod
    def picture(width: int, height: int, seed: int = 0) -> Image.Image:
        """A structured test picture: a gradient with a few shapes."""
        rng = np.random.default_rng(seed)
        x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
        y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
        image = Image.fromarray(rgb, "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.uniform(0.05, 0.2) * min(width, height)
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        return image

    @staticmethod
    def png_bytes(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    @staticmethod
    def decode_frames(path: Path) -> Frames:
        """Every video frame of an MP4, as RGB arrays."""
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]

    @staticmethod
    def decode_audio(path: Path) -> tuple[npt.NDArray[np.float32], int]:
        """The first audio stream of an MP4 as mono float samples, and its sample rate."""
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            chunks = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
            return np.concatenate(chunks).astype(np.float32), stream.rate

    @staticmethod
    def mad(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
        """Mean absolute difference of two images, in 0..255 levels."""
        return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

    @staticmethod
    def make_mp4(seconds: float = 1.0, size: tuple[int, int] = (96, 64), fps: int = 12) -> bytes:
        """A small real H.264 MP4 whose frames are `picture`s that change over time."""
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            for index in range(round(seconds * fps)):
                frame = av.VideoFrame.from_image(SimTools.picture(*size, seed=index))
                frame.pts = index
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return buffer.getvalue()


@pytest.fixture
def sim() -> type[SimTools]:
    return SimTools

"""Local open-weight rendering: seconds per step, peak VRAM, and our overhead over diffusers.

For a machine with a GPU (it runs on the CPU too, with the tiny pipeline only). For each model
it times the same pipeline with the same arguments three ways:

- `direct`: the pipeline called by hand, as a diffusers user would;
- `host`: through sorakit's `PipelineHost.render` (our step callback, frame conversion);
- `job`: a whole `LocalProvider` job: queue, device thread, progress, MP4 encode, record.

and prints seconds per denoising step, peak device memory, and host/direct and job/direct.
The tiny Wan pipeline (random weights, built in code) always runs; real models run when
`SORAKIT_LOCAL_MODELS` names their folders (one short clip each at their first size, few
steps). Unattended, and it stops starting new models when `--budget` seconds are spent.

    uv run --extra local python bench/local_gpu.py [--device cuda] [--steps 8] [--budget 540]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sorakit.providers.base import SubmitRequest  # noqa: E402
from sorakit.providers.local import LocalProvider  # noqa: E402
from sorakit.providers.local._folders import LocalModel, discover, read_model  # noqa: E402
from sorakit.providers.local._render import PipelineHost, RenderPlan, call_arguments  # noqa: E402
from sorakit.settings import get_settings  # noqa: E402


@dataclass
class Row:
    model: str
    device: str
    shape: str
    steps: int
    direct: float
    host: float
    job: float
    peak_gib: float | None

    def line(self) -> str:
        per_step = self.direct / self.steps
        peak = f"{self.peak_gib:6.2f}" if self.peak_gib is not None else "     -"
        return (
            f"{self.model:<28} {self.device:<6} {self.shape:<14} {self.steps:>5} "
            f"{per_step:>9.3f} {peak} {self.direct:>8.2f} {self.host / self.direct:>9.3f} "
            f"{self.job / self.direct:>8.3f}"
        )


HEADER = (
    f"{'model':<28} {'device':<6} {'WxH x frames':<14} {'steps':>5} {'s/step':>9} "
    f"{'GiB':>6} {'direct s':>8} {'host/dir':>9} {'job/dir':>8}"
)


def median_seconds(call: Callable[[], object], runs: int) -> float:
    """Median wall seconds of `call`, each run on a fresh thread as the device worker runs it
    (torch's CPU thread pool behaves differently on the main thread of a busy machine)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(model: LocalModel, device: str, steps: int, runs: int, home: Path) -> Row:
    """The three timings of one model, on one loaded pipeline (loading is not timed)."""
    os.environ.update(SORAKIT_HOME=str(home), SORAKIT_LOCAL_DEVICE=device)
    os.environ["SORAKIT_LOCAL_MODELS"] = str(model.folder)
    os.environ["SORAKIT_LOCAL_STEPS"] = str(steps)
    settings = get_settings()
    host = PipelineHost(settings)
    torch = host.torch
    width, height = (int(v) for v in model.sizes[0].split("x"))
    plan = RenderPlan(
        model=model,
        prompt="a red fox trotting through fresh snow, morning light",
        width=width,
        height=height,
        frames=model.frames_for(1),
        steps=steps,
        guidance=model.guidance,
        seed=1234,
    )
    pipe = host.pipeline(model)
    cuda = host.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def direct() -> None:
        with torch.inference_mode():
            pipe(**call_arguments(pipe, plan, torch))
        sync()

    def through_host() -> None:
        host.render(plan, lambda _done, _total: None)
        sync()

    median_seconds(direct, 1)  # warm-up: kernels, allocator, caches
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    direct_s = median_seconds(direct, runs)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    host_s = median_seconds(through_host, runs)
    job_s = median_seconds(lambda: asyncio.run(one_job(settings, model, host, plan)), runs)
    shape = f"{width}x{height}x{plan.frames}"
    return Row(model.name, host.device, shape, steps, direct_s, host_s, job_s, peak)


async def one_job(settings: Any, model: LocalModel, host: PipelineHost, plan: RenderPlan) -> None:
    """One whole job through the provider, on the already loaded pipeline."""
    provider = LocalProvider(settings, renderer=host)
    request = SubmitRequest(
        kind="generate",
        model=model.name,
        prompt=plan.prompt,
        seconds=1,
        size=f"{plan.width}x{plan.height}",
        idempotency_key=f"bench-{time.perf_counter_ns()}",
    )
    try:
        job = await provider.submit(request)
        while not (state := await provider.retrieve(job.id)).finished:
            await asyncio.sleep(0.01)
        if state.status != "completed":
            raise RuntimeError(f"{model.name}: {state.error_code}: {state.error_message}")
    finally:
        await provider.aclose()


def tiny_wan(folder: Path) -> LocalModel:
    from tests.providers.local.tiny import save_tiny_wan

    save_tiny_wan(folder)
    overrides = {"name": "tiny-wan (random)", "sizes": ["256x256"], "fps": 16}
    (folder / "sorakit-model.json").write_text(json.dumps(overrides))
    return read_model(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cuda:1, cpu; auto picks CUDA")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per render")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per way (median)")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds before stopping")
    parser.add_argument("--tiny-size", default="256x256", help="the tiny pipeline's WxH")
    args = parser.parse_args()
    started = time.monotonic()
    real = os.environ.get("SORAKIT_LOCAL_MODELS", "")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = tiny_wan(root / "tiny-wan")
        model = LocalModel(**{**model.__dict__, "sizes": (args.tiny_size,)})
        rows.append(measure(model, args.device, args.steps, args.runs, root / "home"))
        print(HEADER, flush=True)
        print(rows[-1].line(), flush=True)
        models = discover(get_settings(local_models=real)) if real else []
        for model in models:
            if time.monotonic() - started > args.budget:
                print(f"(budget spent: {model.name} and later models skipped)")
                break
            rows.append(measure(model, args.device, args.steps, 1, root / "home"))
            print(rows[-1].line(), flush=True)
    if not real:
        print("(no real model: set SORAKIT_LOCAL_MODELS to folders of weights to add them)")
    print(
        f"total {time.monotonic() - started:.0f} s; host/dir is our render path over the bare "
        "pipeline call (target <= 1.02); job/dir adds the queue, MP4 encode and record"
    )


if __name__ == "__main__":
    main()

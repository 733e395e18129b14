"""The torch side of the local provider: load a folder's pipeline on the device, and render.

Only the device worker's thread calls in here. Pipelines load from the folder alone
(`local_files_only`): a missing or partial folder fails, it never downloads. The last pipeline
stays loaded, so jobs on one model pay for loading once; another model replaces it. Memory
options (CPU offload, VAE tiling and slicing) come from the settings.
"""

from __future__ import annotations

import inspect
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from sorakit.errors import ConfigurationError
from sorakit.media.from_frames import to_uint8
from sorakit.providers.local._folders import SETTING, LocalModel
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]
"""Called after each denoising step with (steps done, steps in all); may raise `Cancelled`."""


class Cancelled(Exception):
    """Raised from the step callback to stop a render between two denoising steps."""


@dataclass(frozen=True)
class RenderPlan:
    """One render, in the pipeline's own terms."""

    model: LocalModel
    prompt: str
    width: int
    height: int
    frames: int
    steps: int
    guidance: float
    seed: int
    image: bytes | None = None
    last_image: bytes | None = None


class PipelineHost:
    """Owns one device: the loaded pipeline and the settings that place it there."""

    def __init__(self, settings: Settings) -> None:
        import torch

        self.torch = torch
        self.settings = settings
        wanted = settings.local_device
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if wanted == "auto" else wanted
        )
        dtype = settings.local_dtype
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = getattr(torch, dtype)
        self._loaded: tuple[str, Any] | None = None

    def pipeline(self, model: LocalModel, *, with_image: bool = False) -> Any:
        """The model's pipeline on the device (its image-to-video twin with `with_image`)."""
        key = str(model.folder)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = None  # drop the old one before the new one takes the memory
            self._loaded = (key, self._load(model))
        pipe = self._loaded[1]
        if with_image and model.family.image_pipeline:
            import diffusers

            twin = getattr(diffusers, model.family.image_pipeline)
            pipe = twin.from_pipe(pipe)
            pipe.set_progress_bar_config(disable=True)
        return pipe

    def _load(self, model: LocalModel) -> Any:
        from diffusers import DiffusionPipeline

        logger.info("loading %s from %s on %s", model.name, model.folder, self.device)
        try:
            pipe = DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
                model.folder, dtype=self.dtype, local_files_only=True
            )
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ConfigurationError(
                f"{SETTING}: the weights in {model.folder} cannot be loaded: {_first_line(exc)}"
            ) from exc
        if type(pipe).__name__ != model.class_name:
            raise ConfigurationError(
                f"{SETTING}: {model.folder} loaded as {type(pipe).__name__}, "
                f"not the {model.class_name} its model_index.json names"
            )
        pipe.set_progress_bar_config(disable=True)
        self._place(pipe)
        return pipe

    def _place(self, pipe: Any) -> None:
        offload = self.settings.local_offload
        if offload != "none" and self.device.startswith("cuda"):
            if offload == "model":
                pipe.enable_model_cpu_offload(device=self.device)
            else:
                pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        vae: Any = getattr(pipe, "vae", None)
        if self.settings.local_vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if self.settings.local_vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()

    def render(self, plan: RenderPlan, on_step: StepCallback) -> NDArray[np.uint8]:
        """Run the pipeline; RGB frames shaped (frames, height, width, 3)."""
        with_image = plan.image is not None
        pipe = self.pipeline(plan.model, with_image=with_image)
        arguments = call_arguments(pipe, plan, self.torch)

        def step_end(pipeline: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> Any:
            on_step(step + 1, int(getattr(pipeline, "num_timesteps", 0) or plan.steps))
            return tensors

        arguments["callback_on_step_end"] = step_end
        with self.torch.inference_mode():
            output = pipe(**arguments)
        frames = output.frames[0]
        if isinstance(frames, list):  # PIL images, for pipelines that ignore output_type
            frames = np.stack([np.asarray(image.convert("RGB")) for image in frames])
        return to_uint8(np.asarray(frames))


def call_arguments(pipe: Any, plan: RenderPlan, torch: Any) -> dict[str, Any]:
    """The keyword arguments of one call, limited to those the pipeline takes."""
    generator = torch.Generator(device="cpu").manual_seed(plan.seed)  # same noise on any device
    arguments: dict[str, Any] = {
        "prompt": plan.prompt,
        "width": plan.width,
        "height": plan.height,
        "num_frames": plan.frames,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance,
        "generator": generator,
        "output_type": "np",
        **plan.model.family.call_options,
    }
    if "frame_rate" in arguments:
        arguments["frame_rate"] = plan.model.fps
    if plan.image is not None:
        arguments["image"] = _image(plan.image)
    if plan.last_image is not None:
        arguments["last_image"] = _image(plan.last_image)
    accepted = inspect.signature(pipe.__call__).parameters
    dropped = sorted(set(arguments) - set(accepted))
    if dropped:
        logger.debug("%s takes no %s", type(pipe).__name__, ", ".join(dropped))
    return {name: value for name, value in arguments.items() if name in accepted}


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

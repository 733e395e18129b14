"""What each open-weight video family needs: frame counts, frame rate, sizes, steps, guidance.

Figures from `shared/reference/providers.md` §6 and the pipelines' own checks in diffusers 0.42:
Wan wants 4k+1 frames and sides in 16s (81 frames at 16 fps, 832x480 or 1280x720); Wan 2.2's
TI2V-5B (`expand_timesteps`) runs at 24 fps and 1280x704; LTX-Video wants 8k+1 frames and sides
in 32s (161 frames at 24 fps max); CogVideoX renders 49 frames at 8 fps, 720x480. Nothing here
imports torch: the catalog reads these records to list models on a machine without the extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Family:
    """One family of diffusers pipelines and the constraints its model was trained with."""

    key: str
    label: str
    fps: int
    frame_multiple: int
    """Frame counts are `frame_multiple * k + 1` (the VAE's temporal compression)."""
    size_multiple: int
    """Width and height are multiples of this (VAE spatial compression times patch size)."""
    sizes: tuple[str, ...]
    max_frames: int
    steps: int
    guidance: float
    takes_image: bool = False
    """The folder's pipeline takes a first-frame image (and so renders only from one)."""
    image_pipeline: str | None = None
    """A pipeline class that reuses a text-to-video folder's components to start from an image."""
    last_image: bool = False
    """The image pipeline also takes the frame to end on (`last_image`)."""
    call_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments every call of this family gets (`frame_rate` for LTX)."""
    fixed_frames: int | None = None
    """Models trained on one length only (CogVideoX 1.0: 49 frames)."""

    def frames_for(self, seconds: float, fps: int | None = None) -> int:
        """The frame count nearest `seconds` that the model accepts (`m*k + 1`, at most max)."""
        if self.fixed_frames is not None:
            return self.fixed_frames
        rate = fps or self.fps
        k = max(1, round(seconds * rate / self.frame_multiple))
        return min(self.frame_multiple * k + 1, self.max_frames)

    def seconds_range(self, fps: int | None = None) -> tuple[int, ...]:
        """The whole clip lengths this family renders at its frame rate."""
        rate = fps or self.fps
        if self.fixed_frames is not None:
            return (max(1, round((self.fixed_frames - 1) / rate)),)
        longest = max(1, (self.max_frames - 1) // rate)
        return tuple(range(1, longest + 1))


WAN_SIZES = ("832x480", "480x832", "1280x720", "720x1280")
WAN = Family(
    key="wan",
    label="Wan 2.1/2.2",
    fps=16,
    frame_multiple=4,
    size_multiple=16,
    sizes=WAN_SIZES,
    max_frames=81,
    steps=50,
    guidance=5.0,
)
WAN_TI2V = Family(
    key="wan-ti2v",
    label="Wan 2.2 TI2V",
    fps=24,
    frame_multiple=4,
    size_multiple=32,
    sizes=("1280x704", "704x1280"),
    max_frames=121,
    steps=50,
    guidance=5.0,
)
WAN_I2V = Family(
    key="wan-i2v",
    label="Wan 2.1/2.2 image-to-video",
    fps=16,
    frame_multiple=4,
    size_multiple=16,
    sizes=WAN_SIZES,
    max_frames=81,
    steps=50,
    guidance=5.0,
    takes_image=True,
    last_image=True,
)
LTX = Family(
    key="ltx",
    label="LTX-Video",
    fps=24,
    frame_multiple=8,
    size_multiple=32,
    sizes=("704x480", "480x704", "768x512", "512x768", "1216x704", "704x1216"),
    max_frames=161,
    steps=50,
    guidance=3.0,
    image_pipeline="LTXImageToVideoPipeline",
    call_options={"frame_rate": 24},
)
LTX_I2V = replace(  # the image-to-video pipeline's own folder: LTX's rules, a first frame
    LTX, key="ltx-i2v", label="LTX-Video image-to-video", takes_image=True, image_pipeline=None
)
COGVIDEOX = Family(
    key="cogvideox",
    label="CogVideoX",
    fps=8,
    frame_multiple=4,
    size_multiple=16,
    sizes=("720x480",),
    max_frames=49,
    steps=50,
    guidance=6.0,
    fixed_frames=49,
)
COGVIDEOX_I2V = replace(
    COGVIDEOX, key="cogvideox-i2v", label="CogVideoX image-to-video", takes_image=True
)

FAMILIES: dict[str, Family] = {
    "WanPipeline": WAN,
    "WanImageToVideoPipeline": WAN_I2V,
    "LTXPipeline": LTX,
    "LTXImageToVideoPipeline": LTX_I2V,
    "CogVideoXPipeline": COGVIDEOX,
    "CogVideoXImageToVideoPipeline": COGVIDEOX_I2V,
}
"""Pipeline class (`model_index.json`'s `_class_name`) to family."""

NOT_YET = {
    "LTX2Pipeline": "LTX-2 renders audio with the video, which this provider does not take yet",
    "LTX2ImageToVideoPipeline": "LTX-2 renders audio with the video, which this provider does "
    "not take yet",
    "HunyuanVideo15Pipeline": "HunyuanVideo 1.5's pipeline reports no denoising steps "
    "(no callback_on_step_end), so it cannot be tracked or cancelled yet",
    "HunyuanVideo15ImageToVideoPipeline": "HunyuanVideo 1.5's pipeline reports no denoising "
    "steps (no callback_on_step_end), so it cannot be tracked or cancelled yet",
}
"""Video pipelines recognised but not served yet, and why."""


def family_for(class_name: str, index: dict[str, Any]) -> Family | None:
    """The family of a folder's pipeline class (Wan 2.2 TI2V told apart by its index)."""
    family = FAMILIES.get(class_name)
    if family is WAN and index.get("expand_timesteps"):
        return WAN_TI2V
    return family

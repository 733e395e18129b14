"""Start images for keyframes mode: one still per segment, made before any video is rendered.

Offline (the default, and the only maker so far) a still is a backdrop seeded by the segment's
prompt with that prompt written on it: deterministic, so a resumed pipeline makes the same
images, and enough for the simulator to open each segment on its keyframe.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import ImageDraw, ImageFont

from sorakit.catalog.capabilities import parse_size
from sorakit.media.images import encode_image
from sorakit.providers.simulator.paint import backdrop_image, wrap


def offline_keyframe(prompt: str, size: str, index: int) -> bytes:
    """A PNG still for segment `index` (1-based): a seeded backdrop with the prompt drawn."""
    width, height = parse_size(size)
    seed = int.from_bytes(hashlib.sha256(f"{index}:{prompt}".encode()).digest()[:8], "big")
    image = backdrop_image(width, height, np.random.default_rng(seed)).convert("RGB")
    font_size = max(12, height // 24)
    font = ImageFont.load_default(size=font_size)
    lines = wrap(f"{index}. {prompt}", font_size, int(width * 0.8), 4)
    line_height = font_size * 1.3
    top = height - (len(lines) + 1) * line_height
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((width * 0.1, top + number * line_height), line, fill="white", font=font)
    return encode_image(image, "PNG")

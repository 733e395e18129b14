"""Start images for keyframes mode: one still per segment, made before any video is rendered.

For the simulator a still is a backdrop seeded by the segment's prompt with that prompt written
on it: deterministic and offline, and enough for the simulator to open each segment on it. For a
live model the still comes from an image model on the OpenAI-compatible endpoint of the chat
settings (`SORAKIT_IMAGE_MODEL`, `gpt-image-1` by default), fitted to the video's size; keyframes
are saved in the pipeline's folder, so a resume never draws them again.
"""

from __future__ import annotations

import hashlib

import numpy as np
import openai
from PIL import ImageDraw, ImageFont

from sorakit.catalog.capabilities import parse_size
from sorakit.media.images import encode_image
from sorakit.providers.simulator.paint import backdrop_image, wrap
from sorakit.settings import Settings


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


IMAGE_SIZES = {"landscape": "1536x1024", "portrait": "1024x1536", "square": "1024x1024"}


async def drawn_keyframe(prompt: str, size: str, *, settings: Settings) -> bytes:
    """A PNG still from the image model, cropped to `size`; `ProviderError` when it fails."""
    import base64

    import anyio

    from sorakit.errors import ProviderError
    from sorakit.media.images import fit_image, load_image
    from sorakit.pipelines.chat import chat_client, translate

    width, height = parse_size(size)
    shape = "square" if width == height else "landscape" if width > height else "portrait"
    client = chat_client(settings)
    try:
        answer = await client.images.generate(
            model=settings.image_model,
            prompt=f"A single film frame, no text: {prompt}",
            size=IMAGE_SIZES[shape],
            n=1,
        )
    except openai.OpenAIError as exc:
        raise translate(exc) from exc
    finally:
        await client.close()
    encoded = answer.data[0].b64_json if answer.data else None
    if not encoded:
        raise ProviderError("the image model returned no image", provider="chat")

    def fit() -> bytes:
        image = fit_image(load_image(base64.b64decode(encoded)), (width, height), mode="crop")
        return encode_image(image, "PNG")

    return await anyio.to_thread.run_sync(fit)

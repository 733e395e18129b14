"""Images for the image tests: real PNG/JPEG/WebP bytes made with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(size: tuple[int, int] = (640, 480), color: str = "teal", fmt: str = "PNG") -> bytes:
    """A plain image in `fmt`."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def left_half_mask(size: tuple[int, int] = (640, 480)) -> bytes:
    """A PNG mask: its left half transparent (to repaint), its right half opaque (kept)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """The image, loaded (so its format and size are checked)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image

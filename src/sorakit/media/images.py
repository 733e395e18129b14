"""Reference images: load safely, fit to an exact size, encode.

`load_image` is the one door for untrusted images. It refuses files over `MAX_IMAGE_BYTES` before
decoding, and images over `MAX_IMAGE_PIXELS` from the header alone (Pillow's own decompression-bomb
warning is turned into `ReferenceImageError` and never escapes). It then applies the EXIF
orientation, flattens alpha onto a background, and converts CMYK, palette, LA, I;16 and other
modes to RGB, so everything downstream sees an upright 8-bit RGB image.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path
from typing import Literal

from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

from sorakit.errors import ReferenceImageError

logger = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_BYTES = 25 * 1024 * 1024

FitMode = Literal["crop", "letterbox", "pad"]
ImageFormat = Literal["PNG", "JPEG", "WEBP"]
ImageSource = bytes | str | os.PathLike[str] | Image.Image


def load_image(
    data: ImageSource,
    *,
    background: str = "white",
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_bytes: int = MAX_IMAGE_BYTES,
) -> Image.Image:
    """Load an image upright as 8-bit RGB; `ReferenceImageError` for anything unsafe or unreadable."""
    if isinstance(data, Image.Image):
        _check_pixels(data.size, max_pixels, "the image")
        return to_rgb(ImageOps.exif_transpose(data) or data, background)
    raw, label = _read_bytes(data, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            _check_pixels(image.size, max_pixels, label)
            image.load()
    except ReferenceImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ReferenceImageError(f"{label} is too large to decode safely ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReferenceImageError(f"{label} is not a readable image ({exc})") from exc
    upright = ImageOps.exif_transpose(image) or image
    return to_rgb(upright, background)


def _read_bytes(data: bytes | str | os.PathLike[str], max_bytes: int) -> tuple[bytes, str]:
    if isinstance(data, bytes | bytearray):
        if len(data) > max_bytes:
            raise ReferenceImageError(f"the image is {len(data)} bytes; the limit is {max_bytes}")
        return bytes(data), "the image"
    path = Path(data)
    if not path.is_file():
        raise ReferenceImageError(f"{path}: no such image file")
    size = path.stat().st_size
    if size > max_bytes:
        raise ReferenceImageError(f"{path} is {size} bytes; the limit is {max_bytes}")
    return path.read_bytes(), str(path)


def _check_pixels(size: tuple[int, int], max_pixels: int, label: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ReferenceImageError(f"{label} has no pixels")
    if width * height > max_pixels:
        raise ReferenceImageError(
            f"{label} is {width}x{height} ({width * height} pixels); the limit is {max_pixels}"
        )


def to_rgb(image: Image.Image, background: str = "white") -> Image.Image:
    """Convert any Pillow mode to RGB, flattening transparency onto `background`."""
    if image.mode == "RGB":
        return image
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        scale = 1 / 256 if image.mode.startswith("I;16") else 1 / 16_777_216
        image = image.point(lambda v: v * scale).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode == "P" and "transparency" in image.info or image.mode in {"PA", "P"}:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "La", "RGBa"}:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, ImageColor.getrgb(background))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def fit_image(
    image: Image.Image,
    size: tuple[int, int],
    mode: FitMode = "crop",
    background: str = "black",
) -> Image.Image:
    """Return an RGB image of exactly `size`: crop (cover), letterbox (contain) or pad (no upscale)."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ReferenceImageError(f"cannot fit an image to {width}x{height}", param="size")
    image = to_rgb(image)
    if mode == "crop":
        return ImageOps.fit(image, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    canvas = Image.new("RGB", size, ImageColor.getrgb(background))
    if mode == "letterbox":
        inner = ImageOps.contain(image, size, method=Image.Resampling.LANCZOS)
    elif mode == "pad":
        too_big = image.width > width or image.height > height
        inner = ImageOps.contain(image, size, Image.Resampling.LANCZOS) if too_big else image
    else:
        raise ReferenceImageError(f"unknown fit mode {mode!r}", param="mode")
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    return canvas


def encode_image(image: Image.Image, format: ImageFormat = "PNG", *, quality: int = 92) -> bytes:
    """Encode an image to PNG, JPEG or WEBP bytes."""
    buffer = io.BytesIO()
    fmt = format.upper()
    if fmt == "PNG":
        image.save(buffer, "PNG", optimize=False)
    elif fmt in {"JPEG", "JPG"}:
        to_rgb(image).save(buffer, "JPEG", quality=quality)
    elif fmt == "WEBP":
        image.save(buffer, "WEBP", quality=quality)
    else:
        raise ReferenceImageError(f"unsupported image format {format!r}", param="format")
    return buffer.getvalue()


def format_for(path: str | os.PathLike[str]) -> ImageFormat:
    """The image format matching a file name's suffix (PNG when unknown)."""
    suffix = Path(path).suffix.lower()
    if suffix in {".jpg", ".jpeg"}:
        return "JPEG"
    if suffix == ".webp":
        return "WEBP"
    return "PNG"


def parse_size(text: str) -> tuple[int, int]:
    """Parse `WxH` into a (width, height) pair."""
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ReferenceImageError(
            f"size must look like 1280x720, not {text!r}", param="size"
        ) from None
    if w <= 0 or h <= 0:
        raise ReferenceImageError(f"size must be positive, not {text!r}", param="size")
    return w, h

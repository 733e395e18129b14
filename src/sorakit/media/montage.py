"""Several reference images in one: a grid montage with a chosen layout, padding and background."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from PIL import Image, ImageColor, ImageOps

from sorakit.errors import ReferenceImageError
from sorakit.media.images import ImageSource, load_image

logger = logging.getLogger(__name__)

LAYOUTS = ("auto", "1xN", "Nx1", "2x2", "3x2", "3x3", "3xN")


def grid_for(layout: str, count: int) -> tuple[int, int]:
    """Columns and rows for a layout name (`auto`, `1xN`, `Nx1`, `3xN`, or `CxR`) and image count."""
    if count <= 0:
        raise ReferenceImageError("a montage needs at least one image", param="images")
    name = layout.strip().lower()
    if name == "auto":
        columns = math.ceil(math.sqrt(count))
        return columns, math.ceil(count / columns)
    if name == "1xn":
        return 1, count
    if name == "nx1":
        return count, 1
    if name == "3xn":
        return 3, math.ceil(count / 3)
    try:
        columns, rows = (int(part) for part in name.split("x"))
    except ValueError:
        raise ReferenceImageError(
            f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)} or CxR",
            param="layout",
            allowed=LAYOUTS,
        ) from None
    if columns <= 0 or rows <= 0 or columns * rows < count:
        raise ReferenceImageError(
            f"layout {layout} has {max(columns, 0) * max(rows, 0)} cells for {count} images",
            param="layout",
        )
    return columns, rows


def montage(
    images: Sequence[ImageSource],
    layout: str = "auto",
    tile_size: tuple[int, int] | None = None,
    padding: int = 0,
    background: str = "black",
) -> Image.Image:
    """Tile images row by row; each is letterboxed into a tile (the first image's size by default)."""
    loaded = [load_image(item) for item in images]
    columns, rows = grid_for(layout, len(loaded))
    if padding < 0:
        raise ReferenceImageError("padding cannot be negative", param="padding")
    tile_w, tile_h = tile_size or loaded[0].size
    colour = ImageColor.getrgb(background)
    sheet = Image.new(
        "RGB",
        (columns * tile_w + (columns + 1) * padding, rows * tile_h + (rows + 1) * padding),
        colour,
    )
    for index, image in enumerate(loaded):
        row, column = divmod(index, columns)
        inner = ImageOps.contain(image, (tile_w, tile_h), Image.Resampling.LANCZOS)
        x = padding + column * (tile_w + padding) + (tile_w - inner.width) // 2
        y = padding + row * (tile_h + padding) + (tile_h - inner.height) // 2
        sheet.paste(inner, (x, y))
    return sheet

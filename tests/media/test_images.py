from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sorakit.errors import ReferenceImageError
from sorakit.media import encode_image, fit_image, load_image, montage
from sorakit.media.montage import grid_for


def _png(image: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["crop", "letterbox", "pad"])
@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (100, 100)])
def test_fit_gives_the_exact_size(mode: str, size: tuple[int, int]) -> None:
    image = Image.new("RGB", (640, 480), "red")
    assert fit_image(image, size, mode).size == size  # type: ignore[arg-type]


def test_fit_modes_place_pixels() -> None:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    letterbox = np.asarray(fit_image(image, (100, 100), "letterbox", background="blue"))
    assert tuple(letterbox[0, 50]) == (0, 0, 255) and tuple(letterbox[50, 50]) == (255, 0, 0)
    pad = np.asarray(fit_image(Image.new("RGB", (10, 10), "white"), (100, 50), "pad"))
    assert tuple(pad[25, 50]) == (255, 255, 255) and tuple(pad[0, 0]) == (0, 0, 0)
    assert (pad == 255).all(axis=2).sum() == 100  # not scaled up
    crop = np.asarray(fit_image(image, (100, 100), "crop"))
    assert (crop == (255, 0, 0)).all()


def test_exif_rotation_is_applied() -> None:
    image = Image.new("RGB", (200, 100), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    loaded = load_image(_png(image, "JPEG", exif=exif))
    assert loaded.size == (100, 200)


def test_modes_become_rgb() -> None:
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(_png(rgba)).getpixel((0, 0)) == (255, 255, 255)
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    assert load_image(_png(cmyk, "JPEG")).mode == "RGB"
    palette = Image.new("P", (4, 4), 3)
    assert load_image(_png(palette)).mode == "RGB"
    la = Image.new("LA", (4, 4), (128, 255))
    assert load_image(_png(la)).getpixel((0, 0)) == (128, 128, 128)
    deep = Image.new("I;16", (4, 4), 65535)
    assert load_image(deep).getpixel((0, 0)) == (255, 255, 255)


def test_bombs_and_junk_are_refused(tmp_path: Path) -> None:
    big = _png(Image.new("1", (10_000, 6_000)))
    with pytest.raises(ReferenceImageError, match="limit"):
        load_image(big)
    with pytest.raises(ReferenceImageError, match="limit"):
        load_image(b"x" * 100, max_bytes=10)
    with pytest.raises(ReferenceImageError, match="not a readable image"):
        load_image(b"definitely not an image")
    with pytest.raises(ReferenceImageError, match="no such image"):
        load_image(tmp_path / "missing.png")


def test_encode_round_trips() -> None:
    image = Image.new("RGB", (8, 8), "purple")
    for fmt in ("PNG", "JPEG", "WEBP"):
        assert Image.open(io.BytesIO(encode_image(image, fmt))).size == (8, 8)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("layout", "count", "grid"),
    [
        ("auto", 5, (3, 2)),
        ("1xN", 3, (1, 3)),
        ("Nx1", 3, (3, 1)),
        ("2x2", 4, (2, 2)),
        ("3x2", 5, (3, 2)),
        ("3x3", 9, (3, 3)),
        ("3xN", 7, (3, 3)),
        ("4x1", 2, (4, 1)),
    ],
)
def test_montage_layouts(layout: str, count: int, grid: tuple[int, int]) -> None:
    assert grid_for(layout, count) == grid
    images = [Image.new("RGB", (40, 20), (i * 20, 0, 0)) for i in range(count)]
    sheet = montage(images, layout, padding=2, background="white")
    assert sheet.size == (grid[0] * 40 + (grid[0] + 1) * 2, grid[1] * 20 + (grid[1] + 1) * 2)
    assert sheet.getpixel((0, 0)) == (255, 255, 255)
    row, column = divmod(1, grid[0])
    assert sheet.getpixel((2 + column * 42 + 5, 2 + row * 22 + 5)) == (20, 0, 0)


def test_montage_refuses_too_small_grid() -> None:
    with pytest.raises(ReferenceImageError, match="cells"):
        grid_for("2x2", 5)
    with pytest.raises(ReferenceImageError, match="unknown layout"):
        grid_for("diagonal", 2)

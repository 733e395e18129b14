"""Frame composition for the simulator's renderer, in yuv420p, with numpy slicing only.

Each segment has one *base* (the reference image, the previous segment's last frame, or a
seed-dependent backdrop computed in YUV), converted once and mirror-padded so that a slow pan
is a slice. Colour drift is a saturating shift of the chroma planes, rebuilt only when the
drift steps.
A disc moves along a seed-dependent path; the captions (prompt, label, character badges) are
drawn with Pillow once per segment into opaque boxes and pasted; the time/frame counter is
stitched from a pre-drawn strip of glyphs. When the backdrop did not move since the previous
frame, only the disc's old box is restored instead of the whole frame.

Frame 0 of a segment is the bare base, so a reference image is exactly the first frame, and an
extension starts on the previous segment's last frame as shown.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from sorakit.providers.simulator.render import Segment

U8: Any = np.uint8
Plane = npt.NDArray[np.uint8]
Planes = tuple[Plane, Plane, Plane]

PAN_MARGIN = 0.04
"""How far (as a fraction of each side) a segment pans over its length."""
DRIFT_RANGE = 28
"""The largest chroma shift a segment drifts to."""
DRIFT_STEP = 4
"""Chroma drift moves in steps, so the shifted planes are rebuilt rarely."""
_COUNTER_CHARS = "0123456789.:/ sf"
_WHITE_Y = 235


@dataclass
class LastFrame:
    """A segment's last frame: as shown (with captions) and clean (the backdrop alone)."""

    clean: Planes
    shown: Planes


@dataclass
class _Box:
    y: int
    x: int
    planes: Planes


class Painter:
    """Paints the frames of one segment into yuv420p planes (reuse the same planes each call)."""

    def __init__(
        self,
        segment: Segment,
        size: tuple[int, int],
        fps: int,
        frames: tuple[int, int, int],
        previous: LastFrame | None,
    ) -> None:
        self.w, self.h = size
        self.fps = fps
        self.count, self.start, self.total = frames
        rng = np.random.default_rng(segment.seed)
        self.mx, self.my = _even(self.w * PAN_MARGIN), _even(self.h * PAN_MARGIN)
        self.first: Planes | None = None
        if segment.continue_previous and previous is not None:
            clean = previous.clean
            self.first = previous.shown
        elif segment.first_frame is not None:
            clean = image_planes(segment.first_frame, self.w, self.h)
        else:
            clean = backdrop(self.w, self.h, rng)
        self.base = _pad(clean, self.mx, self.my)
        self.direction = (1 if rng.random() < 0.5 else -1), (1 if rng.random() < 0.5 else -1)
        self.drift = (
            int(rng.integers(-DRIFT_RANGE, DRIFT_RANGE + 1)),
            int(rng.integers(-DRIFT_RANGE, DRIFT_RANGE + 1)),
        )
        self.drift_key = (0, 0)
        self.drifted: tuple[Plane, Plane] = (self.base[1], self.base[2])
        self.disc = _disc(max(4, _even(min(self.w, self.h) * 0.09)), rng)
        self.path = rng.uniform(0.0, 2 * math.pi, 2), rng.uniform(0.6, 1.6, 2)
        self.boxes = _caption_boxes(segment, self.w, self.h)
        self.counter = _Counter(max(12, self.h // 40))
        self.last = LastFrame(clean=clean, shown=clean)
        self._painted: tuple[int, int, int, int] | None = None
        self._disc_at: tuple[int, int] | None = None

    def paint(self, i: int, dst: Planes) -> None:
        """Write frame `i` of the segment into `dst` (which holds frame `i - 1`, if any)."""
        p = i / max(1, self.count - 1)
        old = self._disc_at
        if i == 0 and self.first is not None:
            for d, s in zip(dst, self.first, strict=True):
                np.copyto(d, s)
            self._painted = None
        else:
            offset = self._offset(p)
            u, v = self._chroma(p)
            key = (*offset, *self.drift_key)
            if i == 0 or key != self._painted:
                self._backdrop(offset, (u, v), dst)
                self._painted, old = key, None
            elif old is not None:
                self._restore(offset, (u, v), dst, old)
            self._disc_at = None
            if i:
                self._overlays(i, p, dst, old)
        if i == self.count - 1:
            clean = self._clean(1.0) if self.count > 1 else self.last.clean
            shown = (dst[0].copy(), dst[1].copy(), dst[2].copy())
            self.last = LastFrame(clean=clean, shown=shown)

    def _offset(self, p: float) -> tuple[int, int]:
        ease = (1 - math.cos(math.pi * p)) / 2
        dy, dx = self.direction
        return self.my + _even(dy * self.my * ease), self.mx + _even(dx * self.mx * ease)

    def _chroma(self, p: float) -> tuple[Plane, Plane]:
        ease = math.sin(math.pi / 2 * p)
        key = (
            round(self.drift[0] * ease / DRIFT_STEP) * DRIFT_STEP,
            round(self.drift[1] * ease / DRIFT_STEP) * DRIFT_STEP,
        )
        if key != self.drift_key:
            self.drift_key = key
            self.drifted = (_shift(self.base[1], key[0]), _shift(self.base[2], key[1]))
        return self.drifted

    def _backdrop(self, offset: tuple[int, int], uv: tuple[Plane, Plane], dst: Planes) -> None:
        oy, ox = offset
        np.copyto(dst[0], self.base[0][oy : oy + self.h, ox : ox + self.w])
        cy, cx, ch, cw = oy // 2, ox // 2, self.h // 2, self.w // 2
        np.copyto(dst[1], uv[0][cy : cy + ch, cx : cx + cw])
        np.copyto(dst[2], uv[1][cy : cy + ch, cx : cx + cw])

    def _restore(
        self, offset: tuple[int, int], uv: tuple[Plane, Plane], dst: Planes, at: tuple[int, int]
    ) -> None:
        """Put the backdrop back under the disc's previous position."""
        (oy, ox), (y, x), n = offset, at, self.disc[0][0].shape[0]
        dst[0][y : y + n, x : x + n] = self.base[0][oy + y : oy + y + n, ox + x : ox + x + n]
        cy, cx, cn, coy, cox = y // 2, x // 2, n // 2, oy // 2, ox // 2
        for d, s in zip(dst[1:], uv, strict=True):
            d[cy : cy + cn, cx : cx + cn] = s[coy + cy : coy + cy + cn, cox + cx : cox + cx + cn]

    def _clean(self, p: float) -> Planes:
        planes: Planes = (
            np.empty((self.h, self.w), U8),
            np.empty((self.h // 2, self.w // 2), U8),
            np.empty((self.h // 2, self.w // 2), U8),
        )
        self._backdrop(self._offset(p), self._chroma(p), planes)
        return planes

    def _overlays(self, i: int, p: float, dst: Planes, old: tuple[int, int] | None) -> None:
        """Disc, captions, counter; captions are pasted again only where they were disturbed."""
        n = self.disc[0][0].shape[0]
        phase, speed = self.path
        t = 2 * math.pi * p
        y = _even((math.sin(speed[0] * t + phase[0]) + 1) / 2 * (self.h - n))
        x = _even((math.sin(speed[1] * t + phase[1]) + 1) / 2 * (self.w - n))
        _blit(dst, _Box(y, x, self.disc[0]), self.disc[1])
        for box in self.boxes:
            if old is None or _overlaps(box, (y, x), n) or _overlaps(box, old, n):
                _paste(dst, box)
        self._disc_at = (y, x)
        frame = self.start + i
        text = f"{frame / self.fps:06.2f}s {frame + 1:05d}/{self.total:05d}f"
        self.counter.paint(dst, text, self.w)


def planes_of(frame: Any) -> Planes:
    """Writable numpy views of a yuv420p `av.VideoFrame`'s three planes."""
    views = []
    for plane in frame.planes:
        arr = np.frombuffer(plane, U8).reshape(plane.height, plane.line_size)
        views.append(arr[:, : plane.width])
    return views[0], views[1], views[2]


def image_planes(image: Image.Image, width: int, height: int) -> Planes:
    """An image as yuv420p planes, converted the way the decoder converts back."""
    if image.size != (width, height):
        raise ValueError(f"image is {image.size[0]}x{image.size[1]}, not {width}x{height}")
    source = av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")), format="rgb24")
    frame = reformatter(("yuv", width, height)).reformat(source, format="yuv420p", threads=1)
    y, u, v = planes_of(frame)
    return y.copy(), u.copy(), v.copy()


_local = threading.local()


def reformatter(key: tuple[object, ...]) -> Any:
    """A per-thread `VideoReformatter` for one kind of conversion (its set-up costs milliseconds).

    Callers pass `threads=1`: each cached context would otherwise start scaling threads of its
    own that live as long as the worker thread (hundreds under load, §11).
    """
    cache: dict[tuple[object, ...], Any] = _local.__dict__.setdefault("reformatters", {})
    if key not in cache:
        if len(cache) >= 64:
            cache.clear()
        cache[key] = av.video.reformatter.VideoReformatter()
    return cache[key]


def backdrop(width: int, height: int, rng: np.random.Generator) -> Planes:
    """A seed-dependent backdrop in yuv420p: a tilted two-colour gradient, translucent shapes."""
    hues = rng.uniform(0, 1, 3)
    colours = [_hsv(h, rng.uniform(0.45, 0.8), rng.uniform(0.35, 0.85)) for h in hues]
    angle = rng.uniform(0, 2 * math.pi)
    start, end = _yuv(colours[0]), _yuv(colours[1])
    planes = []
    for k, step in enumerate((1, 2, 2)):
        w, h = width // step, height // step
        along_x = np.arange(w, dtype=np.float32) / w * math.cos(angle)
        along_y = np.arange(h, dtype=np.float32) / h * math.sin(angle)
        low = float(along_x.min() + along_y.min())
        span = max(1e-6, float(along_x.max() + along_y.max()) - low)
        scale = (end[k] - start[k]) / span
        plane = np.add.outer(along_y * scale, (along_x - low) * scale + start[k] + 0.5)
        planes.append(plane.astype(U8))
    y, u, v = planes
    for _ in range(int(rng.integers(5, 10))):
        r = float(rng.uniform(0.05, 0.22)) * min(width, height)
        cx, cy = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        colour = _yuv(_hsv(float(rng.choice(hues)), 0.6, float(rng.uniform(0.5, 1.0))))
        ellipse = bool(rng.random() < 0.5)
        for k, (plane, step) in enumerate(((y, 1), (u, 2), (v, 2))):
            _shape(plane, (cx / step, cy / step, r / step), colour[k], ellipse=ellipse)
    return y, u, v


def backdrop_image(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """The backdrop as an RGB image (what a decoder shows for it)."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for dst, src in zip(planes_of(frame), backdrop(width, height, rng), strict=True):
        np.copyto(dst, src)
    rgb = reformatter(("rgb", width, height)).reformat(frame, format="rgb24", threads=1)
    return Image.fromarray(rgb.to_ndarray())


_SHAPE_ALPHA = 110


def _shape(plane: Plane, at: tuple[float, float, float], level: float, *, ellipse: bool) -> None:
    """Blend a translucent disc (or a 5:3 box) of one level into a plane."""
    cx, cy, r = at
    ry = r if ellipse else r * 0.6
    top, bottom = max(0, int(cy - ry)), min(plane.shape[0], int(cy + ry) + 1)
    left, right = max(0, int(cx - r)), min(plane.shape[1], int(cx + r) + 1)
    if top >= bottom or left >= right:
        return
    region = plane[top:bottom, left:right]
    blended = (
        (region.astype(np.uint16) * (256 - _SHAPE_ALPHA) + int(level) * _SHAPE_ALPHA) >> 8
    ).astype(U8)
    if ellipse:
        yy, xx = np.ogrid[top:bottom, left:right]
        np.copyto(region, blended, where=(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
    else:
        region[...] = blended


def _yuv(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """BT.601 limited-range YUV of an RGB colour (swscale's default)."""
    r, g, b = rgb
    return (
        16 + 0.2568 * r + 0.5041 * g + 0.0979 * b,
        128 - 0.1482 * r - 0.2910 * g + 0.4392 * b,
        128 + 0.4392 * r - 0.3678 * g - 0.0714 * b,
    )


def _pad(planes: Planes, mx: int, my: int) -> Planes:
    y, u, v = planes
    cm = ((my // 2, my // 2), (mx // 2, mx // 2))
    return (
        np.pad(y, ((my, my), (mx, mx)), mode="symmetric"),
        np.pad(u, cm, mode="symmetric"),
        np.pad(v, cm, mode="symmetric"),
    )


def _shift(plane: Plane, delta: int) -> Plane:
    """The plane shifted by `delta` levels, saturating at the chroma range (16..240)."""
    if delta == 0:
        return plane
    if delta > 0:
        shifted = np.minimum(plane, 240 - delta)
        shifted += delta
    else:
        shifted = np.maximum(plane, 16 - delta)
        shifted -= -delta
    return shifted


def _even(value: float) -> int:
    return int(round(value / 2)) * 2


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def _disc(size: int, rng: np.random.Generator) -> tuple[Planes, tuple[Plane, Plane]]:
    """A coloured disc as yuv420p patches and its luma and chroma masks."""
    colour = _hsv(float(rng.uniform(0, 1)), 0.85, 0.95)
    planes = image_planes(Image.new("RGB", (size, size), colour), size, size)
    yy, xx = np.mgrid[0:size, 0:size]
    r = (size - 1) / 2
    mask = (yy - r) ** 2 + (xx - r) ** 2 <= r * r
    return planes, (mask, mask[::2, ::2])


def _blit(dst: Planes, box: _Box, masks: tuple[Plane, Plane]) -> None:
    h, w = box.planes[0].shape
    np.copyto(dst[0][box.y : box.y + h, box.x : box.x + w], box.planes[0], where=masks[0])
    cy, cx = box.y // 2, box.x // 2
    for d, s in zip(dst[1:], box.planes[1:], strict=True):
        np.copyto(d[cy : cy + h // 2, cx : cx + w // 2], s, where=masks[1])


def _overlaps(box: _Box, at: tuple[int, int], n: int) -> bool:
    h, w = box.planes[0].shape
    return at[0] < box.y + h and box.y < at[0] + n and at[1] < box.x + w and box.x < at[1] + n


def _paste(dst: Planes, box: _Box) -> None:
    h, w = box.planes[0].shape
    dst[0][box.y : box.y + h, box.x : box.x + w] = box.planes[0]
    cy, cx = box.y // 2, box.x // 2
    for d, s in zip(dst[1:], box.planes[1:], strict=True):
        d[cy : cy + h // 2, cx : cx + w // 2] = s


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_box(lines: Sequence[str], font_size: int, max_width: int, fill: int = 24) -> Image.Image:
    """Lines of white text on an opaque box, as an RGB image with even sides."""
    font = _font(font_size)
    pad = max(2, font_size // 3)
    line_h = int(font_size * 1.25)
    w = min(max_width, max((int(font.getlength(line)) for line in lines), default=0) + 2 * pad)
    h = line_h * len(lines) + 2 * pad
    image = Image.new("RGB", (max(2, w + w % 2), h + h % 2), (fill, fill, fill))
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((pad, pad + n * line_h), line, font=font, fill=(255, 255, 255))
    return image


def wrap(text: str, font_size: int, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap by measured width; the last line ends in an ellipsis if text remains."""
    font = _font(font_size)
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while font.getlength(current) > max_width and len(current) > 1:
            cut = len(current) - 1
            while cut > 1 and font.getlength(current[:cut]) > max_width:
                cut = max(1, cut * 3 // 4)
            lines.append(current[:cut])
            current = current[cut:]
    if current or not lines:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        tail = lines[-1]
        while tail and font.getlength(tail + " …") > max_width:
            tail = tail[:-1]
        lines[-1] = tail.rstrip() + " …"
    return lines


def _caption_boxes(segment: Segment, width: int, height: int) -> list[_Box]:
    """The prompt (bottom), then the label and character badges (top left)."""
    boxes: list[_Box] = []
    margin = _even(min(width, height) * 0.03)
    size = max(12, min(width, height) // 24)
    usable = width - 2 * margin
    prompt = segment.prompt.strip() or "(empty prompt)"
    lines = wrap(prompt, size, usable - size, max(1, min(4, height // (size * 8))))
    image = _text_box(lines, size, usable)
    boxes.append(
        _Box(_even(height - margin - image.height), margin, image_planes(image, *image.size))
    )
    small = max(10, size * 2 // 3)
    y, x = margin, margin
    badges = ([segment.label] if segment.label else []) + [f"@{c}" for c in segment.characters]
    for n, text in enumerate(badges):
        image = _text_box([text], small, usable // 2, fill=24 if n == 0 and segment.label else 90)
        if x + image.width > width - margin:
            y, x = y + image.height + 4, margin
        if y + image.height > height or x + image.width > width:
            break
        boxes.append(_Box(y, x, image_planes(image, *image.size)))
        x += image.width + 6
    return boxes


class _Counter:
    """The time/frame counter, stitched from one pre-drawn strip of glyphs."""

    def __init__(self, size: int) -> None:
        font = _font(size)
        self.advance = _even(max(font.getlength(c) for c in _COUNTER_CHARS)) + 2
        self.height = _even(size * 1.3) + 2
        strip = Image.new("L", (self.advance * len(_COUNTER_CHARS), self.height), 0)
        draw = ImageDraw.Draw(strip)
        for n, c in enumerate(_COUNTER_CHARS):
            left = n * self.advance + (self.advance - font.getlength(c)) / 2  # centred in its cell
            draw.text((left, 1), c, font=font, fill=255)
        glyphs = np.asarray(strip).astype(np.uint16)
        self.luma: Plane = (glyphs * (_WHITE_Y - 16) // 255 + 16).astype(U8)
        self.index = {c: n for n, c in enumerate(_COUNTER_CHARS)}

    def paint(self, dst: Planes, text: str, width: int) -> None:
        """Draw `text` right-aligned near the top of the frame, if it fits."""
        w = self.advance * len(text)
        x0 = _even(width - w - max(2, width // 60))
        y0 = max(2, _even(dst[0].shape[0] * 0.03))
        if x0 < 0 or y0 + self.height > dst[0].shape[0]:
            return
        glyphs = np.fromiter((self.index[c] for c in text), np.intp, len(text))
        columns = (glyphs[:, None] * self.advance + np.arange(self.advance)).ravel()
        dst[0][y0 : y0 + self.height, x0 : x0 + w] = self.luma[:, columns]
        for chroma in dst[1:]:
            chroma[y0 // 2 : (y0 + self.height) // 2, x0 // 2 : (x0 + w) // 2] = 128

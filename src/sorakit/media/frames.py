"""Exact frames out of a clip: first, last, at a time, evenly spaced, and contact sheets.

`last_frame` seeks to about one second before the end, backward to a keyframe, and decodes to the
end of the stream: the last frame decoded is, by construction, the last frame of the clip, so the
result is pixel-identical to a full decode while only the final GOP is decoded. (`ffmpeg -sseof
-0.1 -frames:v 1` stops at the first frame after the seek point, which is the second-to-last frame.)
If the seek lands somewhere useless (no frame decoded, or a first frame that is not a keyframe, as
happens with broken indexes), it falls back to decoding from the start. Clips shorter than the
window simply decode from the start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction

import av
from PIL import Image, ImageOps

from sorakit.errors import MediaError
from sorakit.media._av import as_path, open_input, to_image

logger = logging.getLogger(__name__)

LAST_FRAME_WINDOW = 1.0
"""Seconds before the end to seek to when looking for the last frame."""


def _frames(path: str | os.PathLike[str], start: float | None = None) -> Iterator[av.VideoFrame]:
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream", param="path")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start and start > 0 and stream.time_base is not None:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        yield from container.decode(stream)


def first_frame(path: str | os.PathLike[str], *, autorotate: bool = True) -> Image.Image:
    """The first frame of a clip as an RGB image."""
    for frame in _frames(path):
        return to_image(frame, autorotate=autorotate)
    raise MediaError(f"{path}: the video stream has no decodable frame", param="path")


def _stream_end(path: str | os.PathLike[str]) -> float:
    with open_input(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream", param="path")
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            start = stream.start_time or 0
            return float((stream.duration + start) * stream.time_base)
        return container.duration / 1_000_000 if container.duration else 0.0


def last_video_frame(
    path: str | os.PathLike[str], window: float = LAST_FRAME_WINDOW
) -> av.VideoFrame:
    """The last decoded `VideoFrame` of a clip (see the module notes)."""
    end = _stream_end(path)
    start = end - window
    if start > 0:
        last: av.VideoFrame | None = None
        first_ok = True
        for index, frame in enumerate(_frames(path, start)):
            if index == 0:
                first_ok = frame.key_frame and (frame.time is None or frame.time <= start + 1e-6)
                if not first_ok:
                    break
            last = frame
        if last is not None and first_ok:
            return last
        logger.info("seek near the end of %s landed badly; decoding from the start", path)
    last = None
    for frame in _frames(path):
        last = frame
    if last is None:
        raise MediaError(f"{path}: the video stream has no decodable frame", param="path")
    return last


def last_frame(path: str | os.PathLike[str], *, autorotate: bool = True) -> Image.Image:
    """The last frame of a clip, pixel-identical to a full decode's last frame."""
    return to_image(last_video_frame(path), autorotate=autorotate)


def frame_at(
    path: str | os.PathLike[str], seconds: float, *, autorotate: bool = True
) -> Image.Image:
    """The frame shown at `seconds` (the last frame when `seconds` is past the end)."""
    if seconds < 0:
        raise MediaError(f"a frame time cannot be negative ({seconds})", param="seconds")
    chosen: av.VideoFrame | None = None
    for start in (seconds, None):
        chosen = None
        for frame in _frames(path, start):
            late = frame.time is not None and frame.time > seconds + 1e-6
            if late and chosen is None and start:
                break  # the seek landed after the requested time: decode from the start
            if late:
                break
            chosen = frame
        if chosen is not None:
            break
    if chosen is None:
        raise MediaError(f"{path}: no frame at {seconds} s", param="seconds")
    return to_image(chosen, autorotate=autorotate)


def frames_evenly(
    path: str | os.PathLike[str], n: int, *, autorotate: bool = True
) -> list[Image.Image]:
    """`n` frames spread evenly from the first frame to the last (one decode pass)."""
    if n <= 0:
        raise MediaError("ask for at least one frame", param="n")
    from sorakit.media.probe import probe

    info = probe(path).video
    assert info is not None
    count = info.frames
    picks = [count // 2] if n == 1 else [round(Fraction(k * (count - 1), n - 1)) for k in range(n)]
    wanted = set(picks)
    found: dict[int, Image.Image] = {}
    for index, frame in enumerate(_frames(path)):
        if index in wanted:
            found[index] = to_image(frame, autorotate=autorotate)
            if len(found) == len(wanted):
                break
    last = found[max(found)] if found else None
    if last is None:
        raise MediaError(f"{path}: the video stream has no decodable frame", param="path")
    return [found.get(i, last) for i in picks]


def contact_sheet(
    path: str | os.PathLike[str],
    columns: int = 5,
    rows: int = 5,
    tile_width: int = 160,
    *,
    padding: int = 0,
    background: str = "black",
) -> Image.Image:
    """A grid of evenly spaced frames, each `tile_width` wide (the spritesheet variant)."""
    if columns <= 0 or rows <= 0 or tile_width <= 0:
        raise MediaError("columns, rows and tile width must be positive", param="columns")
    frames = frames_evenly(path, columns * rows)
    tile_h = max(1, round(frames[0].height * tile_width / frames[0].width))
    sheet = Image.new(
        "RGB",
        (columns * tile_width + (columns + 1) * padding, rows * tile_h + (rows + 1) * padding),
        background,
    )
    for index, image in enumerate(frames):
        row, column = divmod(index, columns)
        tile = image.resize((tile_width, tile_h), Image.Resampling.BILINEAR)
        sheet.paste(
            tile, (padding + column * (tile_width + padding), padding + row * (tile_h + padding))
        )
    return sheet


def thumbnail(
    path: str | os.PathLike[str], width: int = 320, *, at: float | None = None
) -> Image.Image:
    """A small image of the clip: the frame at `at` seconds (the first frame by default)."""
    image = first_frame(path) if at is None else frame_at(path, at)
    height = max(1, round(image.height * width / image.width))
    return ImageOps.contain(image, (width, height), Image.Resampling.LANCZOS)


def save_image(image: Image.Image, dest: str | os.PathLike[str]) -> None:
    """Save an image atomically, format from the suffix."""
    from sorakit.media._av import atomic_output
    from sorakit.media.images import encode_image, format_for

    data = encode_image(image, format_for(dest))
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)
    logger.debug("wrote %s", as_path(dest))

"""Cheap checks of a written join, before it is renamed into place.

The video is demuxed, not decoded: there must be exactly one packet per expected frame, and their
timestamps must fill the frame slots 0..n-1 of the output rate once each (a duplicated, missing or
misplaced frame fails). Then each keyframe where a range starts (every splice point, plus the first
and the last keyframe) is decoded on its own: one intra frame each proves that the track's single
set of parameter sets decodes that range, without paying for whole GOPs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av

from sorakit.errors import MediaError
from sorakit.media._av import Packet, Rescale, open_input

logger = logging.getLogger(__name__)


def verify_join(
    path: Path, frames: int, fps: Fraction, splice_points: Iterable[int], *, audio: bool
) -> None:
    """`MediaError` unless `path` holds `frames` frames at `fps` that decode at each splice point."""
    wanted = {0, *splice_points}
    with open_input(path) as container:
        if audio and not container.streams.audio:
            raise MediaError(f"{path}: the audio track is missing")
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90_000)
        to_index = Rescale(stream.start_time or 0, tb * fps, Fraction(0))
        slots: list[int] = []
        keyframes: dict[int, Packet] = {}
        last: tuple[int, Packet] | None = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            index = to_index(packet.pts)
            slots.append(index)
            if packet.is_keyframe:
                if index in wanted:
                    keyframes[index] = packet
                if last is None or index > last[0]:
                    last = (index, packet)
        if len(slots) != frames:
            raise MediaError(f"wrote {len(slots)} frames where {frames} were expected")
        if sorted(slots) != list(range(frames)):
            raise MediaError(f"{path}: the frame timestamps do not fill one slot per frame")
        missing = sorted(wanted - keyframes.keys())
        if missing:
            raise MediaError(f"{path}: no keyframe at splice point {missing[0]}")
        if last is not None:
            keyframes[last[0]] = last[1]
        for index, packet in sorted(keyframes.items(), key=lambda item: item[0]):
            _decode_alone(stream, packet, path, index)


def _decode_alone(stream: av.VideoStream, packet: Packet, path: Path, index: int) -> None:
    ctx = stream.codec_context
    decoded = list(ctx.decode(packet)) or list(ctx.decode(None))
    ctx.flush_buffers()
    if not decoded:
        raise MediaError(f"{path}: the keyframe at frame {index} does not decode")
    frame = decoded[0]
    if (frame.width, frame.height) != (ctx.width, ctx.height):
        raise MediaError(f"{path}: the keyframe at frame {index} decodes to the wrong size")

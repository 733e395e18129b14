"""Packet-level joining: copy ranges of clips (and of re-encoded seam files) into one MP4.

Timestamp rule (from the dependency trial, generalised to ranges): each range is shifted so its
first frame lands on its output frame number, computed from frame counts rather than container
durations, so video is exact to the frame. Each stream's dts must strictly increase: a packet that
would not advance it is nudged one tick when that keeps dts <= pts (two ranges whose B-frame delays
differ) and dropped otherwise. For copied audio this drops the AAC priming packet of clips 2..n,
whose dts overlaps the previous clip's last packet.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer

from sorakit.errors import MediaError
from sorakit.media._av import Packet, open_input, open_output
from sorakit.media.audio import AudioTrack, encode_track

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """Source video frames [first, end) of `path`, placed at output frame `out_start`."""

    path: Path
    first: int
    end: int
    out_start: int


@dataclass(frozen=True)
class AudioCopy:
    """A file whose audio is copied, starting at `offset` seconds in the output."""

    path: Path
    offset: Fraction


class SpliceError(Exception):
    """The ranges cannot share one track (internal: the caller falls back to a re-encode)."""


Timed = tuple[Fraction, int, Packet]


def _video_packets(pieces: Sequence[Piece], fps: Fraction, tb: Fraction) -> Iterator[Timed]:
    last_dts: int | None = None
    for order, piece in enumerate(pieces):
        with open_input(piece.path) as container:
            stream = container.streams.video[0]
            in_tb = stream.time_base or tb
            origin = stream.start_time or 0
            shift = Fraction(piece.out_start - piece.first) / fps
            for packet in container.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                index = round((packet.pts - origin) * in_tb * fps)
                if not piece.first <= index < piece.end:
                    continue
                pts = round(((packet.pts - origin) * in_tb + shift) / tb)
                dts = round(((packet.dts - origin) * in_tb + shift) / tb)
                if last_dts is not None and dts <= last_dts:
                    dts = last_dts + 1
                    if dts > pts:
                        raise SpliceError(
                            f"{piece.path.name}: frame {index} cannot follow the previous range"
                        )
                duration = round(packet.duration * in_tb / tb) if packet.duration else 0
                packet.pts, packet.dts, packet.duration = pts, dts, duration
                packet.time_base = tb
                last_dts = dts
                yield dts * tb, order, packet


def _copied_audio(copies: Sequence[AudioCopy], tb: Fraction) -> Iterator[Timed]:
    last_dts: int | None = None
    for copy in copies:
        with open_input(copy.path) as container:
            stream = container.streams.audio[0]
            in_tb = stream.time_base or tb
            for packet in container.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                dts = round((packet.dts * in_tb + copy.offset) / tb)
                pts = round((packet.pts * in_tb + copy.offset) / tb)
                if last_dts is not None and dts <= last_dts:
                    continue  # AAC priming packet of clips 2..n: it would not advance the stream
                duration = round(packet.duration * in_tb / tb) if packet.duration else 0
                packet.pts, packet.dts, packet.duration = pts, dts, duration
                packet.time_base = tb
                last_dts = dts
                yield dts * tb, 1, packet


def _timed(packets: Sequence[Packet]) -> Iterator[Timed]:
    for packet in packets:
        tb = packet.time_base or Fraction(1)
        yield (packet.dts if packet.dts is not None else packet.pts or 0) * tb, 1, packet


def mux_interleaved(out: OutputContainer, *streams: Iterator[Timed]) -> int:
    """Mux packets from several time-sorted iterators in time order; returns the count."""
    count = 0
    for _time, _order, packet in heapq.merge(*streams, key=lambda item: item[0]):
        out.mux(packet)
        count += 1
    return count


def splice(
    dest: Path,
    pieces: Sequence[Piece],
    fps: Fraction,
    *,
    audio_copy: Sequence[AudioCopy] = (),
    audio_encode: AudioTrack | None = None,
) -> None:
    """Write `pieces` (and the audio) into `dest`; `SpliceError` if the ranges cannot share a track."""

    if not pieces:
        raise MediaError("nothing to join", param="clips")
    out = open_output(dest)
    try:
        with open_input(pieces[0].path) as first:
            template = first.streams.video[0]
            tb: Fraction = template.time_base or Fraction(1, 90_000)
            vstream = out.add_stream_from_template(template)
            vstream.time_base = tb
            astream = None
            if audio_copy:
                with open_input(audio_copy[0].path) as audio_src:
                    astream = out.add_stream_from_template(audio_src.streams.audio[0])
        audio: Iterator[Timed] = iter(())
        if audio_copy and astream is not None:
            audio = _copied_audio(audio_copy, astream.time_base or Fraction(1, 48_000))
        elif audio_encode is not None:
            audio = _timed(encode_track(out, audio_encode))
        mux_interleaved(
            out,
            _with_stream(_video_packets(pieces, fps, tb), vstream),
            _with_stream(audio, astream),
        )
    finally:
        out.close()


def _with_stream(items: Iterator[Timed], stream: av.stream.Stream | None) -> Iterator[Timed]:
    for item in items:
        if stream is not None and item[2].stream is not stream:
            item[2].stream = stream
        yield item

"""Packet-level joining: copy ranges of clips (and of re-encoded seam files) into one MP4.

Timestamp rule (from the dependency trial, generalised to ranges): each range is shifted so its
first frame lands on its output frame number, computed from frame counts rather than container
durations, so video is exact to the frame. Each stream's dts must strictly increase: a packet that
would not advance it is nudged one tick when that keeps dts <= pts (two ranges whose B-frame delays
differ) and dropped otherwise. For copied audio this drops the AAC priming packet of clips 2..n,
whose dts overlaps the previous clip's last packet.

Each source is opened once and demuxed once (its audio with its video when the audio is copied),
without a decoder, and timestamps are rescaled in integer arithmetic: a copy join costs little more
than a bare PyAV remux loop (see docs/performance.md, section 5).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from av.container import InputContainer, OutputContainer
from av.stream import Stream

from sorakit.errors import MediaError
from sorakit.media._av import Packet, Rescale, open_input, open_output
from sorakit.media.audio import AudioTrack, encode_track

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """Source video frames [first, end) of `path`, placed at output frame `out_start`."""

    path: Path
    first: int
    end: int
    out_start: int
    audio_at: Fraction | None = None
    """Also copy the file's whole audio stream, starting this many seconds into the output."""


class SpliceError(Exception):
    """The ranges cannot share one track (internal: the caller falls back to a re-encode)."""


def _seconds(packet: Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts or 0
    return float(stamp * (packet.time_base or Fraction(1)))


class _Writer:
    """The output container, its streams, and the last dts written to each."""

    def __init__(self, out: OutputContainer, fps: Fraction) -> None:
        self.out, self.fps = out, fps
        self.video: Stream | None = None
        self.audio: Stream | None = None
        self.tb = Fraction(1, 90_000)
        self.audio_tb = Fraction(1, 48_000)
        self.last_video: int | None = None
        self.last_audio: int | None = None
        self.pending: list[tuple[float, Packet]] = []  # encoded audio, muxed in time order
        self.pending_at = 0
        self.seconds_per_tick = 1 / 90_000

    def start(self, source: InputContainer, piece: Piece, track: AudioTrack | None) -> None:
        template = source.streams.video[0]
        self.tb = template.time_base or self.tb
        self.seconds_per_tick = float(self.tb)
        self.video = self.out.add_stream_from_template(template)
        self.video.time_base = self.tb
        if piece.audio_at is not None:
            self.audio = self.out.add_stream_from_template(source.streams.audio[0])
            self.audio_tb = self.audio.time_base or self.audio_tb
        elif track is not None:
            self.pending = [(_seconds(p), p) for p in encode_track(self.out, track)]

    def copy(self, source: InputContainer, piece: Piece) -> None:
        """Mux one piece's video range (and its audio, when copied) from an open source."""
        video = source.streams.video[0]
        in_tb = video.time_base or self.tb
        shift = Fraction(piece.out_start - piece.first) / self.fps
        origin = video.start_time or 0
        to_out = Rescale(origin, in_tb / self.tb, shift / self.tb)
        to_index = Rescale(origin, in_tb * self.fps, Fraction(0))
        wanted: list[Stream] = [video]
        to_audio = None
        if piece.audio_at is not None:
            audio = source.streams.audio[0]
            wanted.append(audio)
            a_tb = audio.time_base or self.audio_tb
            to_audio = Rescale(0, a_tb / self.audio_tb, piece.audio_at / self.audio_tb)
        for packet in source.demux(*wanted):
            if packet.pts is None or packet.dts is None:
                continue
            if packet.stream is video:
                index = to_index(packet.pts)
                if piece.first <= index < piece.end:
                    self._video(packet, to_out, piece, index)
            elif to_audio is not None:
                self._copied_audio(packet, to_audio)

    def _video(self, packet: Packet, to_out: Rescale, piece: Piece, index: int) -> None:
        pts, dts = to_out(packet.pts or 0), to_out(packet.dts or 0)
        if self.last_video is not None and dts <= self.last_video:
            dts = self.last_video + 1
            if dts > pts:
                raise SpliceError(
                    f"{piece.path.name}: frame {index} cannot follow the previous range"
                )
        packet.pts, packet.dts = pts, dts
        packet.duration = to_out.duration(packet.duration or 0)
        packet.time_base = self.tb
        packet.stream = self.video
        self.last_video = dts
        if self.pending_at < len(self.pending):
            self._flush_pending(dts * self.seconds_per_tick)
        self.out.mux_one(packet)

    def _copied_audio(self, packet: Packet, to_audio: Rescale) -> None:
        dts = to_audio(packet.dts or 0)
        if self.last_audio is not None and dts <= self.last_audio:
            return  # AAC priming packet of clips 2..n: it would not advance the stream
        packet.pts, packet.dts = to_audio(packet.pts or 0), dts
        packet.duration = to_audio.duration(packet.duration or 0)
        packet.time_base = self.audio_tb
        packet.stream = self.audio
        self.last_audio = dts
        self.out.mux_one(packet)

    def _flush_pending(self, until: float | None) -> None:
        pending = self.pending
        while self.pending_at < len(pending):
            when, packet = pending[self.pending_at]
            if until is not None and when > until:
                return
            self.out.mux_one(packet)
            self.pending_at += 1

    def finish(self) -> None:
        self._flush_pending(None)


def splice(
    dest: Path,
    pieces: Sequence[Piece],
    fps: Fraction,
    *,
    audio_encode: AudioTrack | None = None,
) -> None:
    """Write `pieces` (and the audio) into `dest`; `SpliceError` if the ranges cannot share a track.

    Audio is copied when every piece has `audio_at`, encoded from `audio_encode` otherwise.
    """
    if not pieces:
        raise MediaError("nothing to join", param="clips")
    copied = [piece.audio_at is not None for piece in pieces]
    if any(copied) and not all(copied):
        raise ValueError("copy the audio of every piece or of none")
    out = open_output(dest)
    try:
        writer = _Writer(out, fps)
        for number, piece in enumerate(pieces):
            with open_input(piece.path, decoders=False) as source:
                if number == 0:
                    writer.start(source, piece, None if all(copied) else audio_encode)
                writer.copy(source, piece)
        writer.finish()
    finally:
        out.close()


Timed = tuple[Fraction, int, Packet]


def mux_interleaved(out: OutputContainer, *streams: Iterator[Timed]) -> int:
    """Mux packets from several time-sorted iterators in time order; returns the count."""
    count = 0
    for _time, _order, packet in heapq.merge(*streams, key=lambda item: item[0]):
        out.mux_one(packet)
        count += 1
    return count

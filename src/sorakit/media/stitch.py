"""Join clips: stream copy when checked safe, seam-window re-encodes when possible, else a full one.

Strategies, cheapest first:

- `copy`: every clip has the same codec, profile, size, pixel format, constant rate, rotation and
  decoder configuration (checked with `probe`, never assumed). A plain join is done at the box
  level when `boxjoin`'s stricter checks pass (sample tables merged, media data copied in blocks),
  else packets are remuxed (see `splice`), with the reason.
- `crossfade-partial` / `chained-partial` / `trim-partial`: the clips could be copied, but the
  seams need new frames (a crossfade, a chained clip's repeated first frame to drop, a cut). Only the window from the last
  keyframe before each seam to the first keyframe after it is re-encoded, with encoder settings
  whose SPS/PPS equal the clips' (`encode.matching_encoder_options`); the rest is copied.
- `reencode`: everything is decoded, conformed (rotated upright, scaled and letterboxed to the
  first clip's or the given size, rate-converted) and encoded again.

Audio is copied only with `copy` when every clip has audio and no loudness change is asked; it is
otherwise rebuilt from decoded samples (cheap next to video), which is also how clips without audio
get silence of the right length and how crossfades get an equal-power audio fade. Every output is
checked before it is renamed into place (`verify`: one packet per frame slot, and the keyframe at
each splice point decoded on its own).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from sorakit.errors import MediaError
from sorakit.media._av import Packet, as_path, atomic_output, open_output
from sorakit.media.audio import (
    AudioTrack,
    decode_audio,
    encode_track,
    fit_length,
    gain_for,
    integrated_loudness,
)
from sorakit.media.boxjoin import Declined, join_boxes
from sorakit.media.encode import EncodeTarget, matching_encoder_options, source_colors
from sorakit.media.probe import MediaInfo, VideoStreamInfo, can_stream_copy, probe
from sorakit.media.splice import Piece, SpliceError, Timed, mux_interleaved, splice
from sorakit.media.timeline import Timeline, plan_timeline, timeline_frames
from sorakit.media.verify import verify_join

logger = logging.getLogger(__name__)

BOX_JOINED = "joined at the box level (sample tables merged, media data copied in blocks)"

SEAM_WORKERS = 2
"""Seam windows encoded at once (x264 threads inside each window use the cores as well)."""

Strategy = Literal["copy", "crossfade-partial", "chained-partial", "trim-partial", "reencode"]


@dataclass(frozen=True)
class StitchResult:
    """What `stitch` wrote and how."""

    path: Path
    strategy: Strategy
    reason: str
    frames: int
    duration: float
    fps: Fraction
    audio: Literal["copy", "reencode", "none"]
    copied_frames: int
    reencoded_frames: int


def copy_compatible(infos: Sequence[MediaInfo]) -> tuple[bool, str]:
    """Whether all clips can share one track by stream copy, with the first mismatch as reason."""
    first = infos[0]
    for other in infos:
        ok, reason = can_stream_copy(first, other, audio=False)
        if not ok:
            return False, reason
        assert other.video is not None
        if 0 not in other.video.keyframes:
            return False, f"{other.path.name} does not start with a keyframe"
    return True, "all clips share codec, size, rate and decoder configuration"


def stitch(
    clips: Sequence[str | os.PathLike[str]],
    dest: str | os.PathLike[str],
    *,
    chained: bool = False,
    crossfade: float = 0.0,
    loudness: bool = False,
    loudness_target: float | Literal["median"] = -23.0,
    target: EncodeTarget | None = None,
    reencode: bool = False,
) -> StitchResult:
    """Join clips into `dest` (MP4, faststart); see the module notes for the strategies.

    `reencode=True` skips copying and re-encodes everything (to `target` or the first clip's format).
    """
    if not clips:
        raise MediaError("give at least one clip to join", param="clips")
    if crossfade < 0:
        raise MediaError("the crossfade cannot be negative", param="crossfade")
    infos = probe_all(clips)
    copyable, reason = copy_compatible(infos)
    if target is not None and not target.matches(_video(infos[0])):
        copyable, reason = False, "the requested target differs from the clips"
    if reencode:
        copyable, reason = False, "a full re-encode was asked for"
    target = target or EncodeTarget.from_info(infos[0])
    timeline = plan_timeline(infos, target.fps, chained=chained, crossfade=crossfade)
    return write_timeline(
        timeline, dest, target, copyable, reason, loudness=loudness, loudness_target=loudness_target
    )


def probe_all(clips: Sequence[str | os.PathLike[str]]) -> list[MediaInfo]:
    """`probe` each clip, two at a time (PyAV releases the GIL while it reads and decodes)."""
    if len(clips) < 2:
        return [probe(clip) for clip in clips]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(probe, clips))


def write_timeline(
    timeline: Timeline,
    dest: str | os.PathLike[str],
    target: EncodeTarget,
    copyable: bool,
    reason: str,
    *,
    loudness: bool = False,
    loudness_target: float | Literal["median"] = -23.0,
) -> StitchResult:
    """Write a planned timeline with the cheapest safe strategy, verify it, rename it into place."""
    infos = [plan.info for plan in timeline.clips]
    with_audio = [info.audio is not None for info in infos]
    audio_ok = all(can_stream_copy(infos[0], info)[0] for info in infos)
    whole = all(p.skip == 0 and p.count == p.video.frames for p in timeline.clips)
    copy_audio = copyable and audio_ok and all(with_audio) and not loudness and whole
    copy_audio = copy_audio and not timeline.overlap
    track = None
    if any(with_audio) and not copy_audio:
        track = build_audio(timeline, target, loudness=loudness, loudness_target=loudness_target)
    audio_mode: Literal["copy", "reencode", "none"] = (
        "copy" if copy_audio else ("reencode" if track is not None else "none")
    )
    with atomic_output(dest) as tmp:
        strategy, note, copied, cuts = _write(
            tmp, timeline, target, copyable, reason, copy_audio, track
        )
        if not note.endswith(BOX_JOINED):  # that path verified its output (to fall back if bad)
            verify_join(tmp, timeline.total, timeline.fps, cuts, audio=audio_mode != "none")
    logger.info("wrote %s from %d clips (%s: %s)", dest, len(infos), strategy, note)
    return StitchResult(
        path=as_path(dest),
        strategy=strategy,
        reason=note,
        frames=timeline.total,
        duration=float(timeline.duration),
        fps=timeline.fps,
        audio=audio_mode,
        copied_frames=copied,
        reencoded_frames=timeline.total - copied,
    )


def _video(info: MediaInfo) -> VideoStreamInfo:
    assert info.video is not None
    return info.video


def _write(
    tmp: Path,
    timeline: Timeline,
    target: EncodeTarget,
    copyable: bool,
    reason: str,
    copy_audio: bool,
    track: AudioTrack | None,
) -> tuple[Strategy, str, int, list[int]]:
    """Write with the cheapest safe strategy: (strategy, reason, copied frames, splice points)."""
    edits = timeline.overlap > 0 or any(
        plan.skip or plan.count != plan.video.frames for plan in timeline.clips
    )
    if copyable and not edits and (copy_audio or track is None):
        cuts = [plan.start for plan in timeline.clips]
        try:
            join_boxes(tmp, [plan.info for plan in timeline.clips], timeline.fps, audio=copy_audio)
            verify_join(tmp, timeline.total, timeline.fps, cuts, audio=copy_audio)
        except (Declined, MediaError) as exc:
            logger.info("box-level join declined, remuxing instead: %s", exc)
            reason = f"{reason}; remuxed packet by packet, since {exc}"
        else:
            return "copy", f"{reason}; {BOX_JOINED}", timeline.total, cuts
    if copyable and not edits:
        pieces = [
            Piece(p.info.path, 0, p.video.frames, p.start, p.start / timeline.fps)
            if copy_audio
            else Piece(p.info.path, 0, p.video.frames, p.start)
            for p in timeline.clips
        ]
        try:
            splice(tmp, pieces, timeline.fps, audio_encode=track)
        except SpliceError as exc:
            copyable, reason = False, f"the clips' packets cannot share one track ({exc})"
        else:
            return "copy", reason, timeline.total, [p.out_start for p in pieces]
    if copyable:
        kind: Strategy = "crossfade-partial" if timeline.overlap else "trim-partial"
        if not timeline.overlap and any(plan.skip for plan in timeline.clips):
            kind = "chained-partial"
        options = matching_encoder_options(timeline.clips[0].info, target)
        if options is None:
            reason = "no encoder settings reproduce the clips' SPS/PPS, so seams cannot be spliced"
        else:
            try:
                copied, cuts = _write_partial(tmp, timeline, target, options, track)
            except SpliceError as exc:
                reason = f"seam windows could not be spliced ({exc})"
            else:
                if copied == timeline.total:
                    return "copy", "every cut fell on a keyframe", copied, cuts
                if copied:
                    return kind, "re-encoded only the GOPs around each cut", copied, cuts
                reason = "every clip would need re-encoding around its seams (one GOP per clip)"
    _write_full(tmp, timeline, target, track)
    return "reencode", reason, 0, [0]


def _copy_ranges(timeline: Timeline) -> list[Piece]:
    pieces = []
    last = len(timeline.clips) - 1
    for index, plan in enumerate(timeline.clips):
        video, overlap = plan.video, timeline.overlap
        head = plan.skip
        if index > 0 and (plan.skip or overlap):
            head = min(
                (k for k in video.keyframes if k >= plan.skip + overlap), default=video.frames
            )
        used = plan.skip + plan.count  # one past the last source frame the output shows
        tail = video.frames
        if used < video.frames or (index < last and overlap):
            # A copied range must end at a keyframe: B-frames before it may reference frames after.
            cut = used - (overlap if index < last else 0)
            tail = max((k for k in video.keyframes if k <= cut), default=0)
        if head < tail and head in video.keyframes:
            pieces.append(Piece(plan.info.path, head, tail, plan.start + head - plan.skip))
    return pieces


def _write_partial(
    tmp: Path,
    timeline: Timeline,
    target: EncodeTarget,
    options: dict[str, str],
    track: AudioTrack | None,
) -> tuple[int, list[int]]:
    copies = _copy_ranges(timeline)
    if not copies:
        return 0, []
    colors = source_colors(timeline.clips[0].info.path)
    config = _video(timeline.clips[0].info).codec_config
    pieces: list[Piece] = []
    seams: list[Piece] = []
    cursor = 0
    with tempfile.TemporaryDirectory(prefix=".seams-", dir=tmp.parent) as work:
        for number, piece in enumerate([*copies, None]):
            stop = piece.out_start if piece is not None else timeline.total
            if stop > cursor:
                seams.append(Piece(Path(work) / f"seam{number}.mp4", cursor, stop, cursor))
                pieces.append(replace(seams[-1], first=0, end=stop - cursor))
            if piece is not None:
                pieces.append(piece)
                cursor = piece.out_start + piece.end - piece.first

        def encode(seam: Piece) -> str:
            _encode_segment(seam.path, timeline, target, seam.first, seam.end, options, colors)
            return _video(probe(seam.path)).codec_config

        # Two windows at a time: one's decoding and blending (Python) overlaps the other's x264.
        with ThreadPoolExecutor(max_workers=SEAM_WORKERS) as pool:
            if any(found != config for found in pool.map(encode, seams)):
                raise SpliceError("the seam encoder's SPS/PPS differ from the clips'")
        splice(tmp, pieces, timeline.fps, audio_encode=track)
    return sum(p.end - p.first for p in copies), [p.out_start for p in pieces]


def _add_video(
    out: av.container.OutputContainer, target: EncodeTarget, options: dict[str, str]
) -> av.VideoStream:
    stream = out.add_stream(target.codec, rate=target.fps, options=options)
    assert isinstance(stream, av.VideoStream)
    stream.width, stream.height, stream.pix_fmt = target.width, target.height, target.pix_fmt
    stream.codec_context.time_base = 1 / target.fps
    return stream


def _encoded(
    stream: av.VideoStream, timeline: Timeline, target: EncodeTarget, first: int, end: int
) -> Iterator[Timed]:
    """Encode output frames [first, end) with `stream`, as time-keyed packets."""
    tb = 1 / target.fps
    for offset, frame in enumerate(timeline_frames(timeline, target, first, end)):
        frame.pts = offset
        frame.time_base = tb
        frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose frame types
        yield from _keyed(stream.encode(frame))
    yield from _keyed(stream.encode(None))


def _keyed(packets: Sequence[Packet]) -> Iterator[Timed]:
    for packet in packets:
        stamp = packet.dts if packet.dts is not None else packet.pts or 0
        yield stamp * (packet.time_base or Fraction(1)), 0, packet


def _encode_segment(
    dest: Path,
    timeline: Timeline,
    target: EncodeTarget,
    first: int,
    end: int,
    options: dict[str, str],
    colors: dict[str, int],
) -> None:
    out = open_output(dest)
    try:
        stream = _add_video(out, target, options)
        for key, value in colors.items():
            setattr(stream.codec_context, key, value)
        mux_interleaved(out, _encoded(stream, timeline, target, first, end))
    finally:
        out.close()


def _write_full(
    tmp: Path, timeline: Timeline, target: EncodeTarget, track: AudioTrack | None
) -> None:
    out = open_output(tmp)
    try:
        stream = _add_video(out, target, target.options())
        audio: list[Timed] = []
        if track is not None:
            audio = [(when, 1, packet) for when, _, packet in _keyed(encode_track(out, track))]
        mux_interleaved(out, _encoded(stream, timeline, target, 0, timeline.total), iter(audio))
    finally:
        out.close()


def build_audio(
    timeline: Timeline,
    target: EncodeTarget,
    *,
    loudness: bool = False,
    loudness_target: float | Literal["median"] = -23.0,
) -> AudioTrack:
    """The joined audio: each clip cut to its frames, silence where a clip has none, fades at seams."""
    rate, layout, fps = target.audio_rate, target.audio_layout, timeline.fps
    channels = 1 if layout == "mono" else 2
    samples = [decode_audio(plan.info.path, rate, layout) for plan in timeline.clips]
    gains = [1.0] * len(samples)
    if loudness:
        measured = [integrated_loudness(s, rate) for s in samples]
        finite = [m for m in measured if np.isfinite(m)]
        goal = (
            statistics.median(finite) if loudness_target == "median" and finite else loudness_target
        )
        gains = [gain_for(m, float(goal) if goal != "median" else m) for m in measured]
    total = round(timeline.duration * rate)
    mix = np.zeros((channels, total), dtype=np.float32)
    fade = round(Fraction(timeline.overlap) / fps * rate)
    ramp = (np.arange(fade, dtype=np.float32) + 0.5) / max(fade, 1) * (np.pi / 2)
    last = len(timeline.clips) - 1
    for index, (plan, audio) in enumerate(zip(timeline.clips, samples, strict=True)):
        start, stop = round(plan.start / fps * rate), round(plan.end / fps * rate)
        skip = round(plan.skip / plan.video.frame_rate * rate)
        part = fit_length(audio[:, skip:], stop - start) * np.float32(gains[index])
        if fade and index > 0:
            part[:, :fade] *= np.sin(ramp)
        if fade and index < last:
            part[:, -fade:] *= np.cos(ramp)
        mix[:, start:stop] += part
    return AudioTrack(mix, rate, layout, target.audio_bitrate)

"""The output timeline of a join: where each clip's frames land, and the frames themselves.

Clip i keeps its source frames from `skip` on (1 for clips 2..n of a chained join, whose first
frame repeats the previous clip's last) and contributes `count` output frames starting at output
frame `start`; with a crossfade of D frames, `start[i+1] = start[i] + count[i] - D`, so the output
has sum(count) - (n-1)·D frames and lasts that many frame periods exactly. `timeline_frames`
produces any range of output frames, blending the two clips linearly inside each crossfade.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from sorakit.errors import MediaError
from sorakit.media._av import open_input
from sorakit.media.encode import EncodeTarget, conformed_frames
from sorakit.media.probe import MediaInfo, VideoStreamInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipPlan:
    """One clip's place on the output timeline."""

    info: MediaInfo
    skip: int
    count: int
    start: int

    @property
    def video(self) -> VideoStreamInfo:
        """The clip's video stream."""
        assert self.info.video is not None
        return self.info.video

    @property
    def end(self) -> int:
        """One past the clip's last output frame."""
        return self.start + self.count


@dataclass(frozen=True)
class Timeline:
    """Every clip's place, the crossfade length in frames and the output rate."""

    clips: tuple[ClipPlan, ...]
    overlap: int
    fps: Fraction

    @property
    def total(self) -> int:
        """Output frame count."""
        return self.clips[-1].end

    @property
    def duration(self) -> Fraction:
        """Output duration in seconds."""
        return self.total / self.fps


def plan_timeline(
    infos: Sequence[MediaInfo], fps: Fraction, *, chained: bool, crossfade: float
) -> Timeline:
    """Lay the clips out; `MediaError` when a crossfade does not fit inside the clips."""
    overlap = round(Fraction(crossfade) * fps) if crossfade > 0 else 0
    if crossfade > 0 and overlap == 0:
        raise MediaError(
            f"a crossfade of {crossfade} s is shorter than one frame", param="crossfade"
        )
    plans: list[ClipPlan] = []
    start = 0
    for index, info in enumerate(infos):
        video = info.video
        assert video is not None
        skip = 1 if chained and index > 0 else 0
        kept = video.frames - skip
        count = kept if video.frame_rate == fps else round(kept / video.frame_rate * fps)
        needed = overlap * (int(index > 0) + int(index < len(infos) - 1))
        if count < max(needed, 1):
            raise MediaError(
                f"{info.path.name} has {count} frames, too short for a {crossfade} s crossfade",
                param="crossfade",
            )
        plans.append(ClipPlan(info, skip, count, start))
        start += count - overlap
    return Timeline(tuple(plans), overlap, fps)


def frame_index(frame: av.VideoFrame, origin: int, fps: Fraction) -> int:
    """Display-order index of a decoded frame in a constant-rate stream."""
    return round(Fraction((frame.pts or 0) - origin) * (frame.time_base or Fraction(1)) * fps)


def decode_range(info: MediaInfo, first: int, end: int) -> Iterator[av.VideoFrame]:
    """Source frames [first, end) of a constant-rate clip, seeking to the GOP that holds `first`."""
    video = info.video
    assert video is not None
    keyframe = max((k for k in video.keyframes if k <= first), default=0)
    for attempt in (keyframe, 0):
        with open_input(info.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin = stream.start_time or 0
            if attempt > 0:
                # A little before the keyframe's pts, since the index is searched by dts.
                ts = origin + int((attempt - 3) / video.frame_rate / video.time_base)
                container.seek(max(ts, origin), stream=stream, backward=True)
            produced = False
            for frame in container.decode(stream):
                index = frame_index(frame, origin, video.frame_rate)
                if not produced and index > first:
                    break  # landed past the frame we need: decode from the start instead
                if index < first:
                    continue
                if index >= end:
                    return
                produced = True
                yield frame
            if produced:
                return
    raise MediaError(f"{info.path}: frames {first}..{end} could not be decoded", param="path")


def _clip_frames(
    plan: ClipPlan, target: EncodeTarget, first: int, end: int
) -> Iterator[av.VideoFrame]:
    """Output frames [first, end) (local to the clip) of one clip, in the target format."""
    if target.matches(plan.video) and plan.video.constant_frame_rate:
        return decode_range(plan.info, plan.skip + first, plan.skip + end)
    frames = conformed_frames(plan.info, target, plan.skip, plan.count)
    return itertools.islice(frames, first, end)


def blend(a: av.VideoFrame, b: av.VideoFrame, weight: float) -> av.VideoFrame:
    """`a` faded into `b` (`weight` is b's share), in a's pixel format."""
    fmt = a.format.name
    left = a.to_ndarray()
    right = b.to_ndarray() if b.format.name == fmt else b.reformat(format=fmt).to_ndarray()
    mixed = left.astype(np.float32) * (1 - weight) + right.astype(np.float32) * weight
    out: Any = np.rint(mixed).astype(left.dtype)
    return av.VideoFrame.from_ndarray(out, format=fmt)


def timeline_frames(
    timeline: Timeline, target: EncodeTarget, first: int, end: int
) -> Iterator[av.VideoFrame]:
    """Output frames [first, end) of the timeline, crossfades blended."""
    sources: dict[int, Iterator[av.VideoFrame]] = {}
    for index in range(first, end):
        active = [i for i, plan in enumerate(timeline.clips) if plan.start <= index < plan.end]
        frames = []
        for i in active:
            if i not in sources:
                plan = timeline.clips[i]
                local = index - plan.start
                sources[i] = _clip_frames(plan, target, local, min(end - plan.start, plan.count))
            frame = next(sources[i], None)
            if frame is None:
                raise MediaError(f"{timeline.clips[i].info.path}: ran out of frames", param="path")
            frames.append(frame)
        if len(frames) == 2:
            incoming = timeline.clips[active[1]]
            weight = (index - incoming.start + 1) / (timeline.overlap + 1)
            yield blend(frames[0], frames[1], weight)
        else:
            yield frames[0]

"""Trim a clip to an exact duration: its first round(seconds x fps) frames, audio cut to match.

Correct first, fast second: the frames up to the last keyframe at or before the cut are copied,
and only the tail GOP is re-encoded (with encoder settings proven to reproduce the clip's SPS/PPS);
when the cut falls on a keyframe nothing is re-encoded, and when no matching settings exist the
whole clip is re-encoded. Audio is re-encoded from decoded samples so it ends exactly with the video.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction

from sorakit.errors import MediaError
from sorakit.media.encode import EncodeTarget
from sorakit.media.probe import probe
from sorakit.media.stitch import StitchResult, copy_compatible, write_timeline
from sorakit.media.timeline import ClipPlan, Timeline

logger = logging.getLogger(__name__)


def trim(src: str | os.PathLike[str], dest: str | os.PathLike[str], seconds: float) -> StitchResult:
    """Keep exactly the first round(seconds x fps) frames of `src` (all of it if shorter)."""
    if seconds <= 0:
        raise MediaError(f"cannot trim to {seconds} s", param="seconds")
    info = probe(src)
    video = info.video
    assert video is not None
    keep = min(video.frames, round(Fraction(seconds) * video.frame_rate))
    if keep <= 0:
        raise MediaError(f"{seconds} s is shorter than one frame", param="seconds")
    timeline = Timeline((ClipPlan(info, 0, keep, 0),), 0, video.frame_rate)
    copyable, reason = copy_compatible([info])
    target = EncodeTarget.from_info(info)
    if not target.matches(video) or not video.constant_frame_rate:
        copyable, reason = False, "the clip is rotated or has a variable frame rate"
    return write_timeline(timeline, dest, target, copyable, reason)

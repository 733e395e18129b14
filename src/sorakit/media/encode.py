"""Encoding targets, frame conforming, and finding encoder settings that can splice into a clip.

A re-encoded window can sit in the same MP4 track as copied packets only if its decoder
configuration (H.264 SPS/PPS) is byte-identical to the copied clip's, because the track has one
`avcC`. x264 writes its settings into the first frame (an SEI), so `matching_encoder_options` reads
them from there and tries candidates (opening an encoder costs about a millisecond) until the
parameter sets match exactly. The first candidates keep the re-encode's own speed preset (e.g.
`veryfast`) and pin only what the SPS/PPS encode (reference count, B-frames and pyramid, weighted
prediction, CABAC, 8x8 transform, GOP length, chroma QP offset) to the clip's values, so a seam
window costs what a full re-encode costs per frame; the clip's own preset (often the 2-3x slower
`medium`) is the fallback. No match means no splice: the caller re-encodes everything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.codec.context import Flags

from sorakit.media._av import open_input, rotate_array
from sorakit.media.probe import MediaInfo, VideoStreamInfo, codec_config

logger = logging.getLogger(__name__)

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


@dataclass(frozen=True)
class EncodeTarget:
    """The format a re-encode produces."""

    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"
    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 20
    audio_rate: int = 48_000
    audio_layout: str = "stereo"
    audio_bitrate: int = 128_000

    @classmethod
    def from_info(cls, info: MediaInfo, **overrides: object) -> EncodeTarget:
        """The first clip's displayed size, rate and pixel format (audio rate too, if any)."""
        video = info.video
        assert video is not None
        width, height = video.display_size
        target = cls(width=width, height=height, fps=video.frame_rate, pix_fmt=video.pix_fmt)
        if info.audio is not None:
            layout = "mono" if info.audio.channels == 1 else "stereo"
            target = replace(target, audio_rate=info.audio.sample_rate, audio_layout=layout)
        return replace(target, **overrides)  # type: ignore[arg-type]

    def options(self) -> dict[str, str]:
        """Encoder options for this target."""
        if self.codec == "libx264":
            return {"preset": self.preset, "crf": str(self.crf)}
        return {}

    def matches(self, video: VideoStreamInfo) -> bool:
        """Whether a stream already has this target's displayed size, rate and pixel format."""
        return (
            video.display_size == (self.width, self.height)
            and video.frame_rate == self.fps
            and video.pix_fmt == self.pix_fmt
            and video.rotation == 0
        )


STRUCTURE_KEYS = (
    "ref",
    "bframes",
    "b_pyramid",
    "weightb",
    "weightp",
    "8x8dct",
    "cabac",
    "keyint",
    "keyint_min",
    "scenecut",
    "open_gop",
    "interlaced",
    "constrained_intra",
)
"""x264 settings (as its SEI names them) that shape the SPS/PPS, or the GOPs a window must match."""


def x264_settings(path: Path) -> dict[str, str] | None:
    """The option string x264 left in a clip's first video packet, if any."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            found = re.search(rb"x264 - core \d+.*? - options: ([ -~]*)", bytes(packet))
            if not found:
                return None
            pairs = (item.split("=", 1) for item in found.group(1).decode().split())
            return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}
    return None


def _config_for(video: VideoStreamInfo, options: dict[str, str], colors: dict[str, int]) -> str:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height = video.width, video.height
    ctx.pix_fmt = video.pix_fmt
    ctx.time_base = 1 / video.frame_rate
    ctx.framerate = video.frame_rate
    for key, value in colors.items():
        setattr(ctx, key, value)
    ctx.flags |= Flags.global_header
    ctx.options = dict(options)
    try:
        ctx.open()
    except av.error.FFmpegError:
        return ""
    return codec_config("h264", ctx.extradata)


def source_colors(path: Path) -> dict[str, int]:
    """Colour properties of a clip's video stream, to copy onto an encoder."""
    with open_input(path) as container:
        ctx = container.streams.video[0].codec_context
        keys = ("color_range", "color_primaries", "color_trc", "colorspace")
        return {key: int(getattr(ctx, key)) for key in keys}


def matching_encoder_options(
    info: MediaInfo, preferred: EncodeTarget | None = None
) -> dict[str, str] | None:
    """libx264 options whose SPS/PPS equal the clip's, or None when no candidate matches."""
    video = info.video
    if video is None or video.codec != "h264":
        return None
    settings = x264_settings(info.path)
    if settings is None:
        return None
    colors = source_colors(info.path)
    crf = settings.get("crf")
    candidates: list[dict[str, str]] = []
    if preferred is not None:
        candidates.append(preferred.options())
        if crf is not None and preferred.codec == "libx264":
            candidates += _pinned(preferred.preset, crf, settings)
    if crf is not None:
        candidates += [{"preset": preset, "crf": crf} for preset in X264_PRESETS]
    for options in candidates:
        if _config_for(video, options, colors) == video.codec_config:
            logger.info("seam encoder options %s match %s", options, info.path.name)
            return options
    return None


def _pinned(preset: str, crf: str, settings: dict[str, str]) -> list[dict[str, str]]:
    """`preset` at the clip's CRF with its SPS/PPS-shaping settings pinned (two chroma QP variants).

    x264 adjusts the chroma QP offset for psy-RD, so the clip's final offset is tried as given and
    then left to the preset.
    """
    pinned = [f"{key}={settings[key]}" for key in STRUCTURE_KEYS if key in settings]
    pinned = [item for item in pinned if ":" not in item and "," not in item]
    params = ":".join(pinned)
    variants = [params]
    if "chroma_qp_offset" in settings:
        variants.insert(0, f"{params}:chroma_qp_offset={settings['chroma_qp_offset']}")
    return [{"preset": preset, "crf": crf, "x264-params": v.strip(":")} for v in variants]


def conform(frame: av.VideoFrame, target: EncodeTarget) -> av.VideoFrame:
    """Rotate upright, scale and letterbox a decoded frame into the target size and pixel format."""
    rotation = int(frame.rotation) % 360
    if rotation == 0 and (frame.width, frame.height) == (target.width, target.height):
        if frame.format.name == target.pix_fmt:
            return frame
        return frame.reformat(format=target.pix_fmt)
    rgb = rotate_array(frame.to_ndarray(format="rgb24"), rotation)
    height, width = rgb.shape[:2]
    scale = min(target.width / width, target.height / height)
    inner_w = max(2, min(target.width, round(width * scale / 2) * 2))
    inner_h = max(2, min(target.height, round(height * scale / 2) * 2))
    scaled = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        width=inner_w, height=inner_h, interpolation="BICUBIC"
    )
    canvas = np.zeros((target.height, target.width, 3), dtype=np.uint8)
    x, y = (target.width - inner_w) // 2, (target.height - inner_h) // 2
    canvas[y : y + inner_h, x : x + inner_w] = scaled.to_ndarray(format="rgb24")
    return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format=target.pix_fmt)


def conformed_frames(
    info: MediaInfo, target: EncodeTarget, skip: int, count: int
) -> Iterator[av.VideoFrame]:
    """Exactly `count` frames of a clip at the target rate, after dropping its first `skip` frames.

    Rate conversion picks, for output frame j, the latest source frame at or before j/fps plus
    half an output frame (the `fps` filter's rounding), so equal rates map frames one to one.
    """
    emitted = 0
    previous: av.VideoFrame | None = None
    origin: Fraction | None = None
    half = 1 / (2 * target.fps)
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index < skip:
                continue
            time = Fraction(frame.pts or 0) * (frame.time_base or Fraction(1))
            if origin is None:
                origin = time
            while (
                previous is not None
                and emitted < count
                and emitted / target.fps + half < time - origin
            ):
                yield previous
                emitted += 1
            if emitted >= count:
                return
            previous = conform(frame, target)
    while previous is not None and emitted < count:
        yield previous
        emitted += 1

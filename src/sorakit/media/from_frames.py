"""Writing decoded frames (a diffusion model's output) as an MP4 like every other clip here.

H.264 (yuv420p, so every player takes it) with a silent AAC track, because Sora's clips always
had audio and the joining and export code expects a track in every clip; faststart comes with
`open_output`. Blocking: async callers run it in a thread.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from sorakit.media._av import atomic_output, open_output
from sorakit.media.audio import AudioTrack, encode_track

AUDIO_RATE = 48000
X264_OPTIONS = {"preset": "fast", "crf": "18"}
"""Near-transparent: a model's output is worth more than the bytes it costs."""


def encode_frames(frames: NDArray[np.uint8], fps: int, dest: Path) -> Path:
    """Encode RGB frames shaped (frames, height, width, 3) into `dest` at `fps`."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ValueError(f"expected RGB frames shaped (n, h, w, 3), got {frames.shape}")
    count, height, width, _ = frames.shape
    if width % 2 or height % 2:
        raise ValueError(f"H.264 in yuv420p needs even sides, got {width}x{height}")
    with atomic_output(dest) as tmp, open_output(tmp) as out:
        stream = out.add_stream("libx264", rate=fps, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        samples = round(count * AUDIO_RATE / fps)
        silence = AudioTrack(np.zeros((1, samples), np.float32), AUDIO_RATE, "mono", 64_000)
        audio = encode_track(out, silence)  # both streams exist before the first packet
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
        out.mux(audio)
    return dest


def to_uint8(frames: NDArray[np.floating] | NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Float frames in [0, 1] (diffusers' `output_type="np"`) as 8-bit RGB."""
    if frames.dtype == np.uint8:
        return np.asarray(frames, np.uint8)
    scaled = np.clip(np.asarray(frames, np.float32) * 255.0 + 0.5, 0, 255)
    return np.asarray(scaled, dtype=np.uint8)

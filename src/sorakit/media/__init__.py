"""The media layer: probing, exact frames, image fitting, montage, joining, loudness, trim, export.

Everything here is PyAV and Pillow in-process (the `ffmpeg` CLI is never needed) and blocking:
async callers wrap calls in `anyio.to_thread.run_sync`. Problems with inputs raise
`sorakit.errors.MediaError` or `ReferenceImageError`.
"""

from sorakit.media._av import atomic_output
from sorakit.media.audio import integrated_loudness, measure_loudness
from sorakit.media.encode import EncodeTarget
from sorakit.media.export import preview, zip_outputs
from sorakit.media.frames import (
    contact_sheet,
    first_frame,
    frame_at,
    frames_evenly,
    last_frame,
    save_image,
    thumbnail,
)
from sorakit.media.images import encode_image, fit_image, load_image, parse_size
from sorakit.media.montage import montage
from sorakit.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, can_stream_copy, probe
from sorakit.media.stitch import StitchResult, stitch
from sorakit.media.trim import trim

__all__ = [
    "AudioStreamInfo",
    "EncodeTarget",
    "MediaInfo",
    "StitchResult",
    "VideoStreamInfo",
    "atomic_output",
    "can_stream_copy",
    "contact_sheet",
    "encode_image",
    "first_frame",
    "fit_image",
    "frame_at",
    "frames_evenly",
    "integrated_loudness",
    "last_frame",
    "load_image",
    "measure_loudness",
    "montage",
    "parse_size",
    "preview",
    "probe",
    "save_image",
    "stitch",
    "thumbnail",
    "trim",
    "zip_outputs",
]

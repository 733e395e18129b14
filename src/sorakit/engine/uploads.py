"""Uploaded clips: what the engine needs to know of one before it becomes a job."""

from __future__ import annotations

from typing import Any


def probe_upload(data: bytes) -> tuple[str, int]:
    """The size and whole seconds of an uploaded clip, or a clear error."""
    import io

    import av

    from sorakit.errors import MediaError

    try:
        container: Any
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise MediaError("the uploaded video has no video stream", param="video")
            stream = container.streams.video[0]
            duration = float(container.duration or 0) / 1_000_000
            return f"{stream.width}x{stream.height}", max(1, round(duration))
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"the uploaded video cannot be read: {exc}", param="video") from exc

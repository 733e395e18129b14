"""`review_video` and `last_frame`: let an agent look at what it made, as small images.

Frames are JPEGs a few hundred pixels wide (an agent pays per image token), drawn by the media
layer in a worker thread; the video itself is never sent, only its path.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ImageContent
from PIL import Image, ImageOps

from sorakit import media
from sorakit.errors import InvalidRequestError
from sorakit.ledger import JobRecord, JobStatus
from sorakit.mcp.views import answer, refusing

if TYPE_CHECKING:
    from sorakit.mcp.server import Session

MAX_FRAMES = 16
MAX_WIDTH = 1024
LAST_FRAME_FILE = "mcp_last_frame.png"
"""Saved beside the job's other files, so deleting the job removes it too."""


def shrunk(image: Image.Image, width: int) -> Image.Image:
    """`image` scaled to `width` pixels wide (its shape kept)."""
    height = max(1, round(image.height * width / image.width))
    return ImageOps.contain(image, (width, height), Image.Resampling.LANCZOS)


def jpeg_content(image: Image.Image) -> ImageContent:
    """`image` as a JPEG for the agent to look at (small in its tokens)."""
    data = media.encode_image(image, "JPEG", quality=80)
    return ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/jpeg")


def review_images(video: str, frames: int, sheet: bool, width: int) -> list[ImageContent]:
    """`frames` evenly spaced frames, each its own image, or tiled into one contact sheet."""
    shots = [shrunk(image, width) for image in media.frames_evenly(video, frames)]
    if sheet:
        return [jpeg_content(media.montage(shots, "auto", tile_size=shots[0].size, padding=2))]
    return [jpeg_content(shot) for shot in shots]


def _video_of(job: JobRecord) -> str:
    if job.status is not JobStatus.COMPLETED or job.video_path is None:
        raise InvalidRequestError(
            f"Video {job.id} is {job.status.value}; only a completed video can be reviewed "
            "(wait_for_video first).",
            param="video_id",
        )
    return job.video_path


def save_last_frame(video: str, folder: Path) -> Path:
    """The clip's last frame as a PNG in `folder` (made once, then reused)."""
    path = folder / LAST_FRAME_FILE
    if not path.exists():
        media.save_image(media.last_frame(video), path)
    return path


def register(server: MCPServer[None], session: Session) -> None:
    """Add the two looking tools."""

    @server.tool()
    @refusing
    async def review_video(
        video_id: str,
        ctx: Context,
        frames: int = 4,
        contact_sheet: bool = False,
        width: int = 384,
    ) -> CallToolResult:
        """Look at a completed video: `frames` evenly spaced frames from first to last as JPEG
        images, or (contact_sheet) one image with them tiled in a grid. Judge the result, then
        remix_video or extend_video it.

        Args:
            video_id: A completed video's id.
            frames: How many frames, 1 to 16.
            contact_sheet: One grid image instead of one image per frame.
            width: Width in pixels of each frame, 64 to 1024.
        """
        job = await session.job(session.caller(ctx), video_id)
        video = _video_of(job)
        if not 1 <= frames <= MAX_FRAMES:
            raise InvalidRequestError(
                f"'frames' must be 1 to {MAX_FRAMES}, not {frames}.", param="frames"
            )
        if not 64 <= width <= MAX_WIDTH:
            raise InvalidRequestError(
                f"'width' must be 64 to {MAX_WIDTH}, not {width}.", param="width"
            )
        images = await anyio.to_thread.run_sync(review_images, video, frames, contact_sheet, width)
        shown = {
            "id": job.id,
            "frames": frames,
            "contact_sheet": contact_sheet,
            "seconds": job.total_seconds,
            "prompt": job.prompt,
        }
        return answer(shown, *images)

    @server.tool()
    @refusing
    async def last_frame(video_id: str, ctx: Context) -> CallToolResult:
        """The last frame of a completed video, as an image (and on stdio its PNG file path):
        the first frame of the next shot when chaining shots by hand (create_video's
        input_reference).

        Args:
            video_id: A completed video's id.
        """
        caller = session.caller(ctx)
        job = await session.job(caller, video_id)
        video = _video_of(job)
        folder = session.engine.settings.assets_dir / job.id
        path = await anyio.to_thread.run_sync(save_last_frame, video, folder)
        data = await anyio.Path(path).read_bytes()
        image = ImageContent(
            type="image", data=base64.b64encode(data).decode(), mime_type="image/png"
        )
        # A path is for the local user only: over HTTP the image itself is the answer.
        shown = {"id": job.id} if caller.remote else {"id": job.id, "path": str(path)}
        return answer(shown, image)

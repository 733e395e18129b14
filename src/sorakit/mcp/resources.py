"""Resources: a video job as JSON, and where its MP4, thumbnail and spritesheet are.

`video://{id}` is the job (as `get_video` answers it); `video://{id}/content`, `/thumbnail`
and `/spritesheet` say where the file is: a path on stdio, a signed link over HTTP (no key
needed). The bytes themselves come only when asked for, as `video://{id}/content/bytes`.
(Images have their own: `mcp.images`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from sorakit.errors import NotFoundError, SorakitError
from sorakit.ledger import JobRecord, JobStatus
from sorakit.mcp.access import Caller
from sorakit.mcp.views import as_json
from sorakit.wire.videos import CONTENT_TYPES

if TYPE_CHECKING:
    from sorakit.mcp.server import Session

_ASSETS = {"content": "video", "thumbnail": "thumbnail", "spritesheet": "spritesheet"}
"""A resource's last path segment -> the job's asset of that kind."""


def register(server: MCPServer[None], session: Session) -> None:
    """Add the video resources."""

    async def finished(caller: Caller, video_id: str, variant: str) -> tuple[JobRecord, str]:
        asset = _ASSETS.get(variant)
        if asset is None:
            raise NotFoundError(
                f"No resource '{variant}'; a video has content, thumbnail and spritesheet.",
                param="variant",
            )
        job = await session.job(caller, video_id)
        if job.status is not JobStatus.COMPLETED or asset not in job.assets:
            raise NotFoundError(
                f"Video {job.id} has no {asset} yet: its status is {job.status.value}.",
                param="video_id",
            )
        return job, asset

    @server.resource("video://{video_id}", mime_type="application/json")
    async def video(video_id: str, ctx: Context) -> str:
        """A video job as JSON (as get_video returns it)."""
        caller = session.caller(ctx)
        try:
            return as_json(session.view(caller, await session.job(caller, video_id)))
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc

    @server.resource("video://{video_id}/{variant}", mime_type="application/json")
    async def video_file(video_id: str, variant: str, ctx: Context) -> str:
        """Where a finished video's file is (variant: content, thumbnail or spritesheet): a
        path on stdio, a URL over HTTP; with its media type and size, never its bytes."""
        caller = session.caller(ctx)
        try:
            job, asset = await finished(caller, video_id, variant)
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc
        record = job.assets[asset]
        where = (
            {"url": session.urls(caller, job, [asset])[asset]}
            if caller.remote
            else {"path": record.path}
        )
        size = await anyio.Path(record.path).stat()
        return as_json(
            {
                "id": job.id,
                "variant": variant,
                **where,
                "mime_type": CONTENT_TYPES[asset],
                "bytes": size.st_size,
            }
        )

    @server.resource("video://{video_id}/{variant}/bytes")
    async def video_bytes(video_id: str, variant: str, ctx: Context) -> bytes:
        """A finished video's file itself (base64 in the answer: large; prefer the URL)."""
        caller = session.caller(ctx)
        try:
            job, asset = await finished(caller, video_id, variant)
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc
        return await anyio.Path(job.assets[asset].path).read_bytes()

"""Downloads through signed links: the link is the credential (`sorakit.gateway.links`).

A chat answer, an MCP client over HTTP or an Images API `url` answer hands out links that a
person or a `<video src>` can open without a key: a video and its thumbnail and spritesheet, a
stitched storyboard. Each link opens only the file it was signed for, until it expires.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from sorakit.errors import NotFoundError
from sorakit.gateway.chat_storyboards import pipeline_video
from sorakit.gateway.links import LinkSigner, VideoVariant
from sorakit.ledger import JobStatus
from sorakit.server.deps import EngineDep, SettingsDep
from sorakit.settings import Settings
from sorakit.wire.videos import CONTENT_TYPES

router = APIRouter(prefix="/v1", tags=["links"])


def link_signer(request: Request, settings: Settings) -> LinkSigner:
    """The app's link signer, made on first use (its key lives in SORAKIT_HOME)."""
    signer: LinkSigner | None = getattr(request.app.state, "links", None)
    if signer is None:
        signer = request.app.state.links = LinkSigner.from_settings(settings)
    return signer


@router.get("/links/{video_id}/content", summary="Download through a signed link")
async def linked_content(
    video_id: str,
    expires: int,
    signature: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    variant: VideoVariant = "video",
) -> FileResponse:
    """The MP4 (or its thumbnail or spritesheet) behind a link: the signature is the credential."""
    link_signer(request, settings).check(video_id, expires, signature, kind=variant)
    job = await engine.get(video_id)
    asset = job.assets.get(variant) if job.status is JobStatus.COMPLETED else None
    if asset is None:
        raise NotFoundError(f"Video {video_id} has no {variant} to download.", param="video_id")
    if variant != "video":
        return FileResponse(asset.path, media_type=CONTENT_TYPES[variant])
    return _mp4(asset.path, job.id)


@router.get(
    "/links/pipelines/{pipeline_id}/content", summary="Download a storyboard through a signed link"
)
async def linked_pipeline_content(
    pipeline_id: str,
    expires: int,
    signature: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
) -> FileResponse:
    """The stitched MP4 behind a storyboard answer's link; no key can fetch it any other way."""
    link_signer(request, settings).check(pipeline_id, expires, signature, kind="pipeline")
    return _mp4(await pipeline_video(engine, pipeline_id), pipeline_id)


def _mp4(path: str | Path, name: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=CONTENT_TYPES["video"],
        headers={"content-disposition": f'inline; filename="{name}.mp4"'},
    )

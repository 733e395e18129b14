"""The tools over single videos: create, look up, wait for, cancel, delete, list, and the ones
that make a video from another (remix, extend, edit).

Each new job is made inside `Session.admitted` (over HTTP: the key's model allow-list, rate and
concurrency, exactly as `/v1`), for the caller's `Owner` (its budget, checked by the engine),
and answered at once with its id and ETA; the tracker finishes it in the background.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult

from sorakit.engine import ReferenceInput
from sorakit.engine.planning import check_prompt
from sorakit.errors import InvalidRequestError, job_failed
from sorakit.ledger import JobStatus
from sorakit.mcp.access import Caller
from sorakit.mcp.images import require_kind
from sorakit.mcp.views import answer, refusing

if TYPE_CHECKING:
    from sorakit.mcp.server import Session

WAIT_LIMIT_SECONDS = 600.0
"""The longest one `wait_for_video` call blocks; clients time out long calls anyway."""
POLL_SECONDS = 0.25
"""How often `wait_for_video` reads the ledger (the tracker does the provider polling)."""
MAX_REFERENCE_IMAGES = 8


def register(server: MCPServer[None], session: Session) -> None:
    """Add the video tools."""
    _register_making(server, session)
    _register_following(server, session)
    _register_deriving(server, session)


def _register_making(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def create_video(
        ctx: Context,
        prompt: str = "",
        model: str = "sora-2",
        seconds: str | None = None,
        size: str | None = None,
        snap: bool = False,
        input_reference: str | None = None,
        reference_images: list[str] | None = None,
        first_frame_image_id: str | None = None,
    ) -> CallToolResult:
        """Start a video and return at once with its id, status and eta_seconds; then call
        wait_for_video (or get_video) with the id.

        Args:
            prompt: What the video shows (required).
            model: A model name or alias from list_models.
            seconds: Clip length, one the model allows; omitted: its default.
            size: WxH (1280x720), a word (landscape, portrait) or a ratio (16:9).
            snap: Move seconds and size to the nearest allowed values (said in `changes`)
                instead of refusing them.
            input_reference: The first frame: a data URL or an http(s) URL of an image (or,
                with `sorakit mcp` on your machine, a file path). Fitted to the size.
            reference_images: Subject or style images, in the same forms, for models that
                take them (list_models: `image_reference`).
            first_frame_image_id: Instead of input_reference, the id of an image make_image
                made (img_...): the video starts from it.
        """
        caller = session.caller(ctx)
        check_prompt(prompt)
        require_kind(session, model, "video")
        first = await _first_frame(session, caller, input_reference, first_frame_image_id)
        references: list[ReferenceInput] = []
        for index, value in enumerate((reference_images or [])[: MAX_REFERENCE_IMAGES + 1]):
            references.append(await caller.image(value, f"reference_images[{index}]"))
        async with session.admitted(caller, model):
            job = await session.engine.create(
                prompt,
                model=model,
                seconds=seconds,
                size=size,
                reference=first,
                reference_images=references,
                snap=snap,
                submit=False,
                owner=caller.owner,
            )
        return await session.started(caller, job)


async def _first_frame(
    session: Session, caller: Caller, input_reference: str | None, image_id: str | None
) -> ReferenceInput | None:
    """The first frame: an image argument, or the file of one of the caller's own images."""
    if image_id is None:
        return await caller.image(input_reference, "input_reference") if input_reference else None
    if input_reference:
        raise InvalidRequestError(
            "Give input_reference or first_frame_image_id, not both.", param="first_frame_image_id"
        )
    image = await session.image(caller, image_id, "first_frame_image_id")
    if image.status is not JobStatus.COMPLETED or "image" not in image.assets:
        raise InvalidRequestError(
            f"Image {image.id} is {image.status.value}; only a completed image can be a "
            "first frame.",
            param="first_frame_image_id",
        )
    return Path(image.assets["image"].path)  # the server's own file, reached by its owner's id


def _register_following(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def get_video(video_id: str, ctx: Context) -> CallToolResult:
        """A video job as it stands: status, progress, eta_seconds, cost, error, its files.

        Args:
            video_id: The id create_video (or list_videos) gave.
        """
        caller = session.caller(ctx)
        return answer(session.view(caller, await session.job(caller, video_id)))

    @server.tool()
    @refusing
    async def wait_for_video(
        video_id: str, ctx: Context, timeout_seconds: float = 120.0
    ) -> CallToolResult:
        """Wait for a video to finish, sending progress notifications (0-100) meanwhile.

        Returns the finished job, or after timeout_seconds the job as it stands (still
        rendering: call wait_for_video again). A failed job is an error with the provider's
        reason (a moderation block keeps it).

        Args:
            video_id: The id create_video gave.
            timeout_seconds: The longest to wait, at most 600.
        """
        caller = session.caller(ctx)
        job = await session.job(caller, video_id)
        if not job.status.finished:
            session.tracker.watch(job.id)  # e.g. a job an earlier session left unfinished
        with anyio.move_on_after(max(0.0, min(timeout_seconds, WAIT_LIMIT_SECONDS))):
            last: tuple[str, int] | None = None
            while not job.status.finished:
                if (job.status.value, job.progress) != last:
                    last = (job.status.value, job.progress)
                    await ctx.report_progress(job.progress, 100, f"{job.id} {job.status.value}")
                await anyio.sleep(POLL_SECONDS)
                job = await session.job(caller, video_id)
        if job.status is JobStatus.FAILED:  # the provider's reason; a moderation block keeps it
            raise job_failed(job.id, job.error_code, job.error_message)
        if job.status.finished:
            await ctx.report_progress(100, 100, f"{job.id} {job.status.value}")
        return answer(session.view(caller, job))

    @server.tool()
    @refusing
    async def cancel_video(video_id: str, ctx: Context) -> CallToolResult:
        """Stop a video that has not finished (the provider is asked to drop it).

        Args:
            video_id: The video's id.
        """
        caller = session.caller(ctx)
        job = await session.job(caller, video_id)
        return answer(session.view(caller, await session.engine.cancel(job.id)))

    @server.tool()
    @refusing
    async def delete_video(video_id: str, ctx: Context) -> CallToolResult:
        """Delete a finished video, its files and the provider's copy.

        Args:
            video_id: A completed, failed or cancelled video's id.
        """
        caller = session.caller(ctx)
        job = await session.engine.delete((await session.job(caller, video_id)).id)
        return answer({"id": job.id, "deleted": True})

    @server.tool()
    @refusing
    async def list_videos(
        ctx: Context, limit: int = 20, after: str | None = None
    ) -> CallToolResult:
        """Video jobs, newest first (images are not listed: make_image answers with them).

        Args:
            limit: How many, 1 to 100.
            after: A video id: list the ones made before it (the next page).
        """
        caller = session.caller(ctx)
        jobs, has_more = await session.engine.ledger.list_jobs(
            after=after,
            limit=max(1, min(limit, 100)),
            owner=caller.listed_owner,
            exclude_kinds=("image",),
        )
        videos = [session.view(caller, job) for job in jobs]
        return answer({"videos": videos, "has_more": has_more})


def _register_deriving(server: MCPServer[None], session: Session) -> None:
    @server.tool()
    @refusing
    async def remix_video(video_id: str, ctx: Context, prompt: str = "") -> CallToolResult:
        """Start a new video from a completed one, changed as the prompt says (same size and
        length); returns at once like create_video.

        Args:
            video_id: A completed video's id.
            prompt: The change to make (required).
        """
        caller = session.caller(ctx)
        source = await session.job(caller, video_id)
        check_prompt(prompt)
        async with session.admitted(caller, source.model):
            job = await session.engine.remix(source.id, prompt, submit=False, owner=caller.owner)
        return await session.started(caller, job)

    @server.tool()
    @refusing
    async def extend_video(
        video_id: str, ctx: Context, prompt: str = "", seconds: str = "4", snap: bool = False
    ) -> CallToolResult:
        """Continue a completed video by `seconds`; the new video holds the stitched whole.
        Returns at once like create_video.

        Args:
            video_id: A completed video's id (its model must support extensions).
            prompt: What happens next (required).
            seconds: Seconds to add, as the model allows.
            snap: Move seconds to the nearest allowed value instead of refusing.
        """
        caller = session.caller(ctx)
        source = await session.job(caller, video_id)
        async with session.admitted(caller, source.model):
            job = await session.engine.extend(
                source.id, prompt, seconds, snap=snap, submit=False, owner=caller.owner
            )
        return await session.started(caller, job)

    @server.tool()
    @refusing
    async def edit_video(
        video_id: str, ctx: Context, prompt: str = "", model: str = "sora-2"
    ) -> CallToolResult:
        """Start an edit of a completed video as the prompt says (restyle it, change a detail);
        returns at once like create_video.

        Args:
            video_id: A completed video's id.
            prompt: The edit to make (required).
            model: The model that edits, one whose list_models entry allows edits.
        """
        caller = session.caller(ctx)
        source = await session.job(caller, video_id)
        check_prompt(prompt)
        require_kind(session, model, "video")
        async with session.admitted(caller, model):
            job = await session.engine.edit(
                source.id, prompt, model=model, submit=False, owner=caller.owner
            )
        return await session.started(caller, job)

"""`make_image` and the `image://` resources: images for agents, and the way to animate one.

An image request is the engine's (`Engine.create_image`: one ledger job of kind `image` per
picture, planned, priced and budgeted like a video) made for the caller's `Owner` inside
`Session.admitted` (over HTTP the key's allow-list, rate and concurrency, as `/v1/images`).
Images are quick, so the tool waits for them (bounded by its timeout) and answers with a small
JPEG preview of each as image content, plus where the file is: a path on stdio, a signed link
over HTTP. `create_video`'s `first_frame_image_id` takes an id from here.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult, ImageContent
from PIL import Image

from sorakit.engine.planning import ReferenceInput
from sorakit.errors import (
    InvalidRequestError,
    JobTimeoutError,
    NotFoundError,
    SorakitError,
    TransientProviderError,
    job_failed,
)
from sorakit.ledger import JobRecord, JobStatus
from sorakit.mcp.access import Caller
from sorakit.mcp.review import jpeg_content, shrunk
from sorakit.mcp.views import answer, as_json, refusing

if TYPE_CHECKING:
    from sorakit.mcp.server import Session

WAIT_LIMIT_SECONDS = 600.0
"""The longest one `make_image` call waits for its images."""
PREVIEW_WIDTH = 512
"""How wide the preview an agent looks at is (the file itself stays full size)."""
MAX_INPUT_IMAGES = 16
"""More than any image model takes; the engine says each model's own limit."""


def wrong_kind(model: str, makes: str) -> InvalidRequestError:
    """A model asked for what it does not make, naming the tool that makes it."""
    tool = "make_image" if makes == "image" else "create_video"
    return InvalidRequestError(
        f"{model} makes {makes}s: use {tool} (list_models shows which models make what).",
        param="model",
    )


def require_kind(session: Session, model: str, wanted: str) -> None:
    """Refuse a model that makes the other kind of thing (an unknown one: the catalog's line)."""
    makes = session.engine.catalog.resolve(model).capabilities.output
    if makes != wanted:
        raise wrong_kind(model, makes)


def preview(path: str) -> ImageContent:
    """A small JPEG of an image file, for the agent to look at (blocking: run it in a thread)."""
    with Image.open(path) as image:
        image.load()
        return jpeg_content(shrunk(image, min(PREVIEW_WIDTH, image.width)))


async def image_inputs(
    caller: Caller, images: list[str] | None, mask: str | None
) -> tuple[list[ReferenceInput], ReferenceInput | None]:
    """The images to edit and the mask, each read as `Caller.image` reads an image argument."""
    given = (images or [])[: MAX_INPUT_IMAGES + 1]  # one over: the engine's refusal says so
    inputs: list[ReferenceInput] = [
        await caller.image(value, f"images[{index}]") for index, value in enumerate(given)
    ]
    return inputs, (await caller.image(mask, "mask") if mask else None)


async def _finish(session: Session, jobs: list[JobRecord], timeout: float) -> list[JobRecord]:
    """Send the jobs and wait for them; past `timeout` (or on any error) the tracker finishes
    them in the background, and the jobs come back as they stand."""
    engine = session.engine
    try:
        for job in jobs:
            with contextlib.suppress(TransientProviderError):  # the tracker retries it
                await engine.runner.submit(job)
        return await engine.wait_images(jobs, timeout=max(0.1, min(timeout, WAIT_LIMIT_SECONDS)))
    except JobTimeoutError:
        for job in jobs:
            session.tracker.watch(job.id)
        return [await engine.get(job.id) for job in jobs]
    except BaseException:  # a client gone, an outage: the images go on
        for job in jobs:
            session.tracker.watch(job.id)
        raise


def register(server: MCPServer[None], session: Session) -> None:
    """Add `make_image` and the image resources."""

    @server.tool()
    @refusing
    async def make_image(
        ctx: Context,
        prompt: str = "",
        model: str = "gpt-image-1",
        size: str | None = None,
        n: int = 1,
        output_format: str = "png",
        images: list[str] | None = None,
        mask: str | None = None,
        timeout_seconds: float = 120.0,
    ) -> CallToolResult:
        """Make images (or edit `images`) and answer with them: a small preview of each as
        image content, its id (image://{id}), cost, and its file (a path on stdio, a signed
        link over HTTP). Animate one with create_video's first_frame_image_id.

        Args:
            prompt: What the image shows, or (with images) how to change them (required).
            model: An image model or alias from list_models' image_models.
            size: WxH, one the model offers (list_models), or auto; omitted: its default.
            n: How many images, 1 to 10 (each its own id and cost).
            output_format: png, jpeg or webp.
            images: Images to edit: data URLs or http(s) URLs (with `sorakit mcp` on your
                machine, file paths too), for models that edit.
            mask: A PNG with alpha, the first image's size: its transparent area is repainted.
            timeout_seconds: The longest to wait, at most 600; images not done by then go on
                (read image://{id} later).
        """
        caller = session.caller(ctx)
        require_kind(session, model, "image")
        inputs, mask_input = await image_inputs(caller, images, mask)
        async with session.admitted(caller, model):
            jobs = await session.engine.create_image(
                prompt,
                model=model,
                size=size,
                n=n,
                output_format=output_format,
                images=inputs,
                mask=mask_input,
                owner=caller.owner,
                submit=False,
            )
        estimates = [job.estimated_cost for job in jobs]
        estimate = None if None in estimates else sum(e or 0.0 for e in estimates)
        caller.note(jobs[0].model, jobs[0].id, estimate)
        done = await _finish(session, jobs, timeout_seconds)
        completed = [job for job in done if job.status is JobStatus.COMPLETED]
        if all(job.status is JobStatus.FAILED for job in done):
            raise job_failed(done[0].id, done[0].error_code, done[0].error_message)
        shown = [
            await anyio.to_thread.run_sync(preview, job.assets["image"].path) for job in completed
        ]
        costs = [job.cost if job.cost is not None else job.estimated_cost for job in done]
        result: dict[str, Any] = {
            "images": [session.view(caller, job) for job in done],
            "cost_usd": None if None in costs else sum(c or 0.0 for c in costs),
        }
        if changes := jobs[0].options.get("changes"):
            result["changes"] = changes
        if len(completed) < len(done):
            result["note"] = "Images not completed yet go on: read image://{id} for each."
        return answer(result, *shown)

    @server.resource("image://{image_id}", mime_type="application/json")
    async def image(image_id: str, ctx: Context) -> str:
        """An image job as JSON (as make_image lists it)."""
        caller = session.caller(ctx)
        try:
            return as_json(session.view(caller, await session.image(caller, image_id)))
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc

    async def finished(caller: Caller, image_id: str) -> JobRecord:
        job = await session.image(caller, image_id)
        if job.status is not JobStatus.COMPLETED or "image" not in job.assets:
            raise NotFoundError(
                f"Image {job.id} has no file yet: its status is {job.status.value}.",
                param="image_id",
            )
        return job

    @server.resource("image://{image_id}/content", mime_type="application/json")
    async def image_file(image_id: str, ctx: Context) -> str:
        """Where a finished image's file is: a path on stdio, a signed link over HTTP; with
        its media type and size."""
        caller = session.caller(ctx)
        try:
            job = await finished(caller, image_id)
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc
        record = job.assets["image"]
        where = (
            {"url": session.urls(caller, job, ["image"])["image"]}
            if caller.remote
            else {"path": record.path}
        )
        size = await anyio.Path(record.path).stat()
        return as_json(
            {
                "id": job.id,
                **where,
                "mime_type": record.media_type or "application/octet-stream",
                "bytes": size.st_size,
            }
        )

    @server.resource("image://{image_id}/content/bytes", mime_type="application/octet-stream")
    async def image_bytes(image_id: str, ctx: Context) -> bytes:
        """A finished image's file itself (its media type: image://{id}/content)."""
        caller = session.caller(ctx)
        try:
            job = await finished(caller, image_id)
        except SorakitError as exc:
            raise ResourceError(exc.message) from exc
        return await anyio.Path(job.assets["image"].path).read_bytes()

"""Images through the chat facade: image models as chat models, and a picture asked of a video one.

sora2api's users made images by talking: `gpt-image` (square), `gpt-image-landscape` and
`gpt-image-portrait` drew the last user message's words, or edited its image. Here those names
make the settings' `image_model`, and every image model of the catalog (and its aliases) is a
chat model too; a video model asked for "a picture of …" answers with the `image_model`'s image
(`turns.understand` says which). The turn is read like any other: the words' shape snapped to
the image model's sizes, `n` images, and "it" as sorakit's latest image when the person points
at it. The images are made by `Engine.create_image` for the caller, admitted by the gatekeeper
exactly as `/v1/images` admits them (owner, budget, model allow-list); the answer names them
(`Creating image img_… with MODEL: 1024x1024.`, which `turns_history` reads back) and shows
each as Markdown behind a signed link (`LinkKind` "image").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio

from sorakit.catalog import Catalog
from sorakit.engine import Engine
from sorakit.engine.images import require_output
from sorakit.engine.supervisor import JobSupervisor
from sorakit.errors import (
    JobTimeoutError,
    NotFoundError,
    SorakitError,
    TransientProviderError,
    job_failed,
)
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.chat_models import ChatModel
from sorakit.gateway.links import LinkKind
from sorakit.gateway.references import image_bytes
from sorakit.gateway.turns import Turn
from sorakit.ledger import JobRecord, JobStatus
from sorakit.pipelines.styles import apply_styles
from sorakit.settings import Settings

SORA2API_IMAGE_NAMES = {
    "gpt-image": "square",
    "gpt-image-landscape": "landscape",
    "gpt-image-portrait": "portrait",
}
"""sora2api's image chat models and the shape each asks of the settings' `image_model`."""


def image_chat_model(name: str, catalog: Catalog, settings: Settings) -> ChatModel | None:
    """`name` as an image chat model (a catalog image model or alias, or a sora2api image
    name); None for any other name."""
    if name in catalog:
        entry = catalog.resolve(name)
        return ChatModel(name, model=name) if entry.capabilities.output == "image" else None
    shape = SORA2API_IMAGE_NAMES.get(name)
    return None if shape is None else ChatModel(name, model=settings.image_model, size=shape)


def image_chat_names(catalog: Catalog, settings: Settings) -> Iterator[tuple[str, str]]:
    """Every image chat model name and the catalog name it makes images with."""
    for entry in catalog.images():
        for name in (entry.name, *entry.aliases):
            yield name, name
    if settings.image_model in catalog:
        for name in SORA2API_IMAGE_NAMES:
            yield name, settings.image_model


async def owned_image(engine: Engine, image_id: str, principal: Principal) -> bytes:
    """The file of a finished image the caller may see; another key's is not found."""
    try:
        job = await engine.get(image_id)
    except NotFoundError:
        job = None
    if job is None or job.id != image_id or job.kind != "image" or not principal.may_see(job.owner):
        raise NotFoundError(f"No image found with id '{image_id}'.", param="messages")
    asset = job.assets.get("image") if job.status is JobStatus.COMPLETED else None
    if asset is None:
        raise NotFoundError(
            f"Image {image_id} has no picture to start from (it is {job.status.value}).",
            param="messages",
        )
    return await anyio.Path(asset.path).read_bytes()


async def turn_images(engine: Engine, principal: Principal, turn: Turn) -> list[bytes]:
    """The turn's input images: sorakit's own earlier image first (owner-checked, read from the
    ledger: never fetched through its link), then the message's (through the SSRF guard)."""
    found = [await image_bytes(url, "messages") for url in turn.images]
    if turn.made_image is not None:
        found.insert(0, await owned_image(engine, turn.made_image, principal))
    return found


async def start_images(
    engine: Engine,
    supervisor: JobSupervisor,
    principal: Principal,
    gatekeeper: Gatekeeper,
    turn: Turn,
    client_key: str | None,
) -> tuple[list[JobRecord], list[str]]:
    """Record the turn's images for the caller as `/v1/images` does, send them for the
    supervisor to follow; and the styles the prompt asked for."""
    prompt, styles = apply_styles(turn.prompt)
    require_output(engine.catalog.resolve(turn.model), turn.model, "image")
    inputs = await turn_images(engine, principal, turn)
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, turn.model)
        jobs = await engine.create_image(
            prompt,
            model=turn.model,
            size=turn.size,
            n=turn.takes,
            images=inputs,
            owner=principal.owner,
            client_key=client_key,
            submit=False,
        )
    for job in jobs:
        with contextlib.suppress(TransientProviderError):  # left queued for the supervisor
            await engine.runner.submit(job)
        supervisor.watch(job.id)
    return jobs, styles


def image_intro(jobs: list[JobRecord], styles: list[str], turn: Turn) -> str:
    """The answer's first words: `Creating image ID with MODEL: WxH.` (what `turns_history`
    reads back for "it"), the edit's source, the styles and any adjustment."""
    what = "image" if len(jobs) == 1 else f"{len(jobs)} images"
    first = jobs[0]
    text = f"Creating {what} {', '.join(job.id for job in jobs)} with {first.model}: {first.size}."
    edited = ([turn.made_image] if turn.made_image else []) + (
        ["the image in this message"] if turn.images else []
    )
    if edited:
        text += f" An edit of {' and '.join(edited)}."
    if styles:
        text += f" Styles: {', '.join(styles)}."
    if changes := first.options.get("changes"):
        text += f" Adjusted: {'; '.join(changes)}."
    return text


@dataclass
class ImageWatch:
    """A chat answer's image jobs as it waits on them, read from the ledger."""

    engine: Engine
    id: str
    """The first image's id (the answer's work)."""
    ids: tuple[str, ...]
    kind: LinkKind = "image"

    async def _jobs(self) -> list[JobRecord]:
        return [await self.engine.ledger.get(image_id) for image_id in self.ids]

    async def poll(self) -> tuple[bool, dict[str, str]]:
        """Whether every image has finished, and a progress line per image."""
        jobs = await self._jobs()
        lines = {}
        for number, job in enumerate(jobs, 1):
            name = "Image" if len(jobs) == 1 else f"Image {number}"
            state = "done" if job.status is JobStatus.COMPLETED else job.status.value
            if job.status is JobStatus.IN_PROGRESS:
                state = f"rendering… {job.progress}%"
            lines[job.id] = f"{name}: {state}"
        return all(job.status.finished for job in jobs), lines

    async def outcome(self) -> None:
        """Nothing when an image is there to show; else why none is."""
        jobs = await self._jobs()
        if not any(job.status is JobStatus.COMPLETED for job in jobs):
            raise job_failed(jobs[0].id, jobs[0].error_code, jobs[0].error_message)

    async def ready(self, link: Callable[[str, LinkKind], str]) -> str:
        """The final message: each image as Markdown behind its signed link, the failed named."""
        jobs = await self._jobs()
        made = [job for job in jobs if job.status is JobStatus.COMPLETED]
        what = "Your image is ready" if len(made) == 1 else f"Your {len(made)} images are ready"
        lines = [f"{what} (the links work for 24 hours):", ""]
        for job in made:
            suffix = str(job.options.get("output_format", "png"))
            lines.append(f"![{job.id}.{suffix}]({link(job.id, 'image')})")
        failed = [job for job in jobs if job.status is not JobStatus.COMPLETED]
        if failed:
            reasons = "; ".join(
                f"{job.id}: {job.error_message or job.status.value}" for job in failed
            )
            lines += ["", f"Failed: {reasons}."]
        return "\n".join(lines)

    def too_long(self, waited: float) -> SorakitError:
        exc = JobTimeoutError(self.id, waited)
        exc.message = (
            f"{', '.join(self.ids)} still rendering after {waited:g} s; it goes on, and "
            f"GET /v1/images/{self.id} follows it."
        )
        return exc

"""What the pipeline pages share: the caller as an owner (under the active project), admission,
and the server's data folder.

A pipeline is started the way the chat route starts a storyboard (`start_storyboard`): the
request counts once for the key's rate, and its steps take turns in the concurrency the key has
left. Files a person sends (an edited plan, a storyboard, a first frame) are written inside the
server's home under a fresh random folder, never at a path the browser names.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from sorakit.engine import Owner
from sorakit.errors import InvalidRequestError
from sorakit.pipelines import steps
from sorakit.studio.budget import owner_for
from sorakit.studio.render import Studio

UPLOAD_LIMIT = 1 << 20
"""The most bytes a pasted or uploaded plan or storyboard may have."""


async def owner_of(studio: Studio) -> Owner | None:
    """The signed-in key a pipeline's jobs are made for, under the active project (None on an
    open studio without one), as the Create page makes a video."""
    return await owner_for(studio)


async def owner_fields(studio: Studio) -> dict[str, Any]:
    """The `owner*` fields every pipeline request carries, for the caller."""
    return steps.owner_fields(await owner_of(studio))


@asynccontextmanager
async def admitted(studio: Studio, *models: str) -> AsyncIterator[int | None]:
    """Start a pipeline inside this, once the gatekeeper admits the caller for its models; it
    gives the concurrency the key has left for the steps (None: no limit)."""
    principal = studio.principal
    assert principal is not None
    gatekeeper, key = studio.gatekeeper, principal.key
    async with gatekeeper.lock(principal):
        # The first model counts the pipeline once for the rate; a storyboard's scenes may name
        # others, each of which the key must be allowed too (each counts: the safe side).
        for model in dict.fromkeys(models):
            await gatekeeper.admit(principal, model)
        parallel = None
        if key is not None and not key.admin and key.concurrency is not None:
            running = await studio.engine.ledger.running_jobs(key.id)
            parallel = max(1, key.concurrency - running)
        yield parallel


def upload_folder(studio: Studio, kind: str) -> Path:
    """A new folder for one request's files, inside the server's home."""
    return studio.settings.home / "studio" / kind / uuid.uuid4().hex


async def write_upload(folder: Path, name: str, data: bytes) -> Path:
    """Write `data` to `folder/name` (in a thread) and return its path."""

    def write() -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return path

    return await anyio.to_thread.run_sync(write)


async def discard(folder: Path | None) -> None:
    """Remove a request's files when it started nothing (or only looked: a preview)."""
    if folder is not None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))


def decoded(data: bytes, what: str) -> str:
    """Uploaded text as UTF-8, or a refusal that says what is wrong with it."""
    if len(data) > UPLOAD_LIMIT:
        raise InvalidRequestError(
            f"the {what} is {len(data)} bytes long; the most is {UPLOAD_LIMIT}", param=what
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"the {what} is not UTF-8 text (byte {exc.start} cannot be read)", param=what
        ) from None

"""The Long video page's storyboard tab: `[5s] …` text or a YAML/JSON storyboard, previewed shot
by shot, then rendered by the `Storyboards` pipeline for the signed-in key.

Text in the `[5s]` syntax goes to the pipeline as text (`text_only`: never read as a path). A
YAML or JSON storyboard is written inside the server's home and read by `load_storyboard_file`,
the loader behind `sorakit storyboard`, with all its checks (line numbers, template refusals).
Such a file may not name `reference` images: those are paths on the server, which a person in a
browser has no business reading, so they are refused before the loader looks for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.pipelines.enhance import check_style
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.storyboard import Shot, timeline_seconds
from sorakit.studio import runs
from sorakit.studio.create_choices import entry_for, model_choices
from sorakit.studio.long_video_plan import ENHANCEMENTS, budget_usd
from sorakit.studio.long_video_start import (
    admitted,
    decoded,
    discard,
    owner_fields,
    upload_folder,
    write_upload,
)
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

FORMATS: dict[str, str] = {"text": "[5s] … text", "yaml": "YAML", "json": "JSON"}
_SUFFIXES: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
_EXAMPLE = "{golden} A lighthouse keeper's evening.\n[4s] He climbs the spiral stairs.\n[6s] The lamp turns on over a stormy sea."


@dataclass(frozen=True)
class StoryboardForm:
    """The storyboard tab's fields, as typed."""

    storyboard: str = ""
    format: str = "text"
    model: str = ""
    size: str = ""
    enhance: str = ""
    budget: str = ""


@dataclass(frozen=True)
class ShotRow:
    """One shot as the preview shows it."""

    number: int
    shot: Shot
    estimate: str


def _page(studio: Studio, form: StoryboardForm, status: int = 200, **extra: Any) -> Response:
    return studio.render(
        "long.html",
        status,
        tab="storyboard",
        models=model_choices(studio),
        formats=FORMATS,
        enhancements=ENHANCEMENTS,
        board_form=form,
        example=_EXAMPLE,
        **extra,
    )


@router.get("/long/storyboard")
async def storyboard_page(studio: StudioDep) -> Response:
    """The Long video page, on its storyboard tab."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return _page(studio, StoryboardForm(storyboard=_EXAMPLE, model=entry_for(studio, None).name))


def _reference_lines(text: str, format: str) -> list[int]:
    """Where a YAML or JSON storyboard names a `reference` image (0 where JSON has no lines)."""
    if format == "json":
        found: list[int] = []

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            found.extend(0 for key, value in items if key == "reference" and value is not None)
            return dict(items)

        try:
            json.loads(text, object_pairs_hook=pairs)
        except (ValueError, RecursionError):
            return []  # the loader says what is wrong with it
        return found
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return []
    lines: list[int] = []
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:  # by hand, each node once: aliases may share or nest nodes without end
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                null = isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")
                if isinstance(key, yaml.ScalarNode) and key.value == "reference" and not null:
                    lines.append(key.start_mark.line + 1)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(lines)


async def _request(
    studio: Studio, form: StoryboardForm, upload: UploadFile | None
) -> tuple[StoryboardRequest, Path | None]:
    """The pipeline request, and the folder its storyboard file was written to (if one was)."""
    text, format = form.storyboard, form.format
    data = await upload.read() if upload is not None else b""
    if data:  # an uploaded file wins over the text box; its suffix says what it is
        text = decoded(data, "storyboard")
        format = (
            _SUFFIXES.get(Path(upload.filename or "").suffix.lower(), "text") if upload else "text"
        )
    else:
        decoded(text.encode(), "storyboard")  # the same size limit as an upload
    if format not in FORMATS:
        raise InvalidRequestError(
            f"unknown storyboard format {format!r}", param="format", allowed=list(FORMATS)
        )
    if not text.strip():
        raise InvalidRequestError(
            "the storyboard is empty: write shots such as [5s] a cat jumps, or upload a file",
            param="storyboard",
        )
    if form.enhance:
        check_style(form.enhance)
    fields: dict[str, Any] = {
        "model": form.model or entry_for(studio, None).name,
        "size": form.size.strip() or None,
        "enhance": form.enhance or None,
        "budget_usd": budget_usd(form.budget),
        **await owner_fields(studio),
    }
    if format == "text":
        return StoryboardRequest(text, text_only=True, **fields), None
    if lines := _reference_lines(text, format):
        where = f"line {lines[0]}: " if lines[0] else ""
        raise InvalidRequestError(
            f"storyboard {where}a storyboard sent from the studio cannot name 'reference' "
            "images (they would be files on the server); remove them, or render it with "
            "`sorakit storyboard` where the images are",
            param="storyboard",
        )
    folder = upload_folder(studio, "storyboards")
    path = await write_upload(folder, f"storyboard.{format}", text.encode())
    return StoryboardRequest(str(path), **fields), folder


async def _form(
    storyboard: Annotated[str, Form()] = "",
    format: Annotated[str, Form()] = "text",
    model: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "",
    enhance: Annotated[str, Form()] = "",
    budget: Annotated[str, Form()] = "",
) -> StoryboardForm:
    return StoryboardForm(storyboard, format, model, size, enhance, budget)


StoryboardFormDep = Annotated[StoryboardForm, Depends(_form)]


@router.post("/long/storyboard/preview")
async def storyboard_preview(
    studio: StudioDep,
    form: StoryboardFormDep,
    storyboard_file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Each shot as the pipeline would render it: seconds after snapping, prompt, model, size,
    estimate, and what planning changed."""
    if not studio.signed_in:
        return studio.to_sign_in()
    boards = Storyboards(studio.engine)
    folder = None
    try:
        studio.check_form(csrf_token)
        request, folder = await _request(studio, form, storyboard_file)
        board, shots = await boards.plan(request)
    except SorakitError as exc:
        return studio.error_in_page(partial(_page, studio, form), exc)
    finally:
        await discard(folder)  # a preview keeps nothing
    rows = [
        ShotRow(number, shot, _price(studio, shot)) for number, shot in enumerate(shots, start=1)
    ]
    total = boards.estimate(shots)
    return studio.in_page(
        partial(_page, studio, form),
        "_long_storyboard.html",
        title=board.title,
        rows=rows,
        seconds=timeline_seconds(shots),
        estimate="price unknown" if total is None else f"${total:.2f}",
    )


def _price(studio: Studio, shot: Shot) -> str:
    """A shot's list price, as `Storyboards.estimate` adds it up."""
    price = studio.engine.catalog.route(shot.model)[0].capabilities.price(shot.size, shot.seconds)
    return "price unknown" if price is None else f"${price:.2f}"


@router.post("/long/storyboard/render")
async def storyboard_render(
    studio: StudioDep,
    form: StoryboardFormDep,
    storyboard_file: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Start the storyboard for the caller, then follow it on its run page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    boards = Storyboards(studio.engine)
    folder = None
    try:
        studio.check_form(csrf_token)
        request, folder = await _request(studio, form, storyboard_file)
        _, shots = await boards.plan(request)  # the models its shots use, each admitted
        async with admitted(studio, *(shot.model for shot in shots)) as parallel:
            request.parallel = parallel
            pipeline = await boards.start(request)
    except SorakitError as exc:
        await discard(folder)
        return studio.error_in_page(partial(_page, studio, form), exc)
    return runs.started(studio, pipeline)

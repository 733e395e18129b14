"""The Multiple page: several prompts in rows, or several takes of one prompt.

Prompts in rows (one a line, one model, seconds and size for all) run as a batch pipeline: the
same rows, checks and rate limiter as a file on the Batch page, each line's trouble shown by its
line. Takes of one prompt run as a variations pipeline, whose output is the contact sheet. Both
are admitted once by the key's gatekeeper and stay inside its limits (`batch_start`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.datastructures import UploadFile as StarletteUpload

from sorakit.catalog.capabilities import ModelEntry, request_mode
from sorakit.engine.planning import plan_generate, planned_size
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.ledger import PipelineRecord
from sorakit.media.images import MAX_IMAGE_BYTES
from sorakit.pipelines.steps import owner_fields
from sorakit.pipelines.variations import MAX_TAKES, Variations, VariationsRequest
from sorakit.studio import runs
from sorakit.studio.batch import page_context
from sorakit.studio.batch_rows import (
    check_text,
    money,
    prompts_text,
    read_upload,
    save_reference,
)
from sorakit.studio.batch_start import (
    RunOptions,
    admission,
    check_budgets,
    owner_of,
    run_options,
    start_batch,
)
from sorakit.studio.create_choices import Asked, Choices, choices_for, entry_for, model_choices
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

Mode = Literal["prompts", "takes"]
MAX_PROMPTS = 100
"""The most prompts one Multiple run takes (a file on the Batch page takes more)."""
DEFAULT_TAKES = 4
FormText = Annotated[str, Form()]


def _mode(value: str | None) -> Mode:
    return "takes" if value == "takes" else "prompts"


def _count(mode: Mode, prompts: str, takes: str) -> int:
    """How many videos the form asks for (for the estimate; the start checks it properly)."""
    if mode == "prompts":
        return sum(1 for line in prompts.splitlines() if line.strip())
    return int(takes) if takes.strip().isdigit() else DEFAULT_TAKES


def _total(entry: ModelEntry, choices: Choices, with_reference: bool, count: int) -> str:
    """The run's estimate: the engine's price of one video of the choices, times the count."""
    mode = request_mode(first_frame=with_reference)
    size = planned_size(choices.chosen_size, entry, mode)
    price = entry.capabilities.for_mode(mode).price(size, choices.chosen_seconds)
    return money(None if price is None else price * count)


def _choices_context(
    studio: Studio,
    model: str | None,
    seconds: str | None,
    size: str | None,
    reference: str | None,
    mode: Mode,
    prompts: str,
    takes: str,
) -> dict[str, Any]:
    entry = entry_for(studio, model)
    with_reference = bool(reference)
    asked = Asked(seconds=seconds, size=size, first_frames=int(with_reference))
    choices = choices_for(entry, asked)
    count = _count(mode, prompts, takes)
    return {
        "choices": choices,
        "count": count,
        "total": _total(entry, choices, with_reference, count),
        "mode": mode,
    }


@router.get("/multiple")
async def multiple_page(studio: StudioDep) -> Response:
    """The Multiple page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return studio.render(
        "multiple.html",
        models=model_choices(studio),
        max_takes=MAX_TAKES,
        default_takes=DEFAULT_TAKES,
        max_prompts=MAX_PROMPTS,
        rpm_label="RPM (prompts in rows)",
        **_choices_context(studio, None, None, None, None, "prompts", "", ""),
        **page_context(studio),
    )


@router.post("/multiple/choices")
async def multiple_choices(studio: StudioDep) -> Response:
    """The seconds and size fields and the run's estimate, for the model, mode and count (a
    POST: the prompts are lines, which a URL may not carry)."""
    if not studio.signed_in:
        return studio.to_sign_in()
    form = await studio.request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    reference = form.get("reference")  # its name only, or the file where the form sends it
    chosen = reference.filename if isinstance(reference, StarletteUpload) else reference
    try:
        studio.check_form(text(CSRF_FIELD))
        context = _choices_context(
            studio,
            text("model") or None,
            text("seconds"),
            text("size"),
            chosen or None,
            _mode(text("mode")),
            text("prompts"),
            text("takes"),
        )
    except SorakitError as exc:
        return studio.error(exc)
    return studio.render("_multiple_choices.html", **context)


@router.post("/multiple")
async def multiple_start(
    studio: StudioDep,
    mode: FormText = "prompts",
    prompts: FormText = "",
    takes: FormText = "",
    model: FormText = "",
    seconds: FormText = "",
    size: FormText = "",
    reference: Annotated[UploadFile | None, File()] = None,
    concurrency: FormText = "",
    rpm: FormText = "",
    budget: FormText = "",
    enhance: FormText = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Start the prompts as a batch, or the takes as variations; then the run's page."""
    if (refusal := studio.form_refusal(csrf_token)) is not None:
        return refusal
    try:
        options = run_options(concurrency, rpm, budget, enhance)
        data, _ = await read_upload(reference, MAX_IMAGE_BYTES)
        model = model.strip() or entry_for(studio, None).name
        if _mode(mode) == "takes":
            pipeline = await _start_takes(
                studio, prompts, takes, model, seconds, size, data or None, options
            )
        else:
            lines = [line for line in prompts.splitlines() if line.strip()]
            if not lines:
                raise InvalidRequestError("write at least one prompt, one a line", param="prompts")
            if len(lines) > MAX_PROMPTS:
                raise InvalidRequestError(
                    f"{len(lines)} prompts; the Multiple page takes up to {MAX_PROMPTS} (the "
                    "Batch page takes a file of more)",
                    param="prompts",
                )
            text = prompts_text(prompts, model, seconds, size)
            checked = await check_text(studio.engine, text, "prompts.jsonl", data or None)
            if checked.bad:
                return studio.render("_batch_bad.html", 400, checked=checked)
            pipeline = await start_batch(studio, checked, data or None, options)
    except SorakitError as exc:
        return studio.error(exc)
    return runs.started(studio, pipeline)


async def _start_takes(
    studio: Studio,
    prompt: str,
    takes: str,
    model: str,
    seconds: str,
    size: str,
    image: bytes | None,
    options: RunOptions,
) -> PipelineRecord:
    """Plan one take as the variations pipeline will make each, then record the takes."""
    if not takes.strip().isdigit() or not 1 <= int(takes) <= MAX_TAKES:
        raise InvalidRequestError(
            f"the number of takes must be a whole number from 1 to {MAX_TAKES}", param="takes"
        )
    count = int(takes)
    engine = studio.engine
    entry, _ = engine.catalog.route(model)
    plan = await anyio.to_thread.run_sync(
        lambda: plan_generate(
            entry,
            prompt.strip(),
            seconds=seconds.strip() or None,
            size=size.strip() or None,
            reference=image,
            snap=True,  # as each take is made
        )
    )
    price = plan.estimated_cost
    what = f"{count} takes"
    await check_budgets(studio, None if price is None else price * count, options.budget_usd, what)
    path = await save_reference(studio.settings, image) if image else None
    async with admission(studio, [model]) as admitted:
        request = VariationsRequest(
            prompt.strip(),
            count=count,
            model=model,
            seconds=plan.seconds,
            size=plan.size,
            reference=str(path) if path else None,
            enhance=options.enhance,
            budget_usd=options.budget_usd,
            parallel=admitted.concurrency(options.concurrency),
            **owner_fields(await owner_of(studio)),
        )
        return await Variations(engine).start(request)

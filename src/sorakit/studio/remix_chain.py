"""The Remix chain page: a base clip and remix prompts applied in order.

The base is one of the caller's own finished videos or a new clip from a prompt, as
`RemixChainRequest.base` allows; the remix prompts are rows a person adds and removes; the clips
may be joined by a cut or a crossfade. `RemixChains.start` refuses a model without remixes,
another key's video (not found) and a budget the chain would pass; the run page follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from sorakit.errors import InvalidRequestError, NotFoundError, SorakitError
from sorakit.ledger import JobRecord, JobStatus
from sorakit.pipelines.remixes import RemixChainRequest, RemixChains
from sorakit.studio import runs
from sorakit.studio.create_choices import Asked, choices_for, entry_for, model_choices
from sorakit.studio.long_video_plan import ENHANCEMENTS, budget_usd
from sorakit.studio.long_video_start import admitted, owner_fields
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

RECENT_VIDEOS = 50
"""How many of the caller's finished videos the base picker offers, newest first."""
STITCHES = {"none": "no: keep the clips apart", "cut": "a cut", "crossfade": "a crossfade"}
"""How the clips may be joined: `RemixChainRequest.stitch`, with or without its crossfade."""


@dataclass(frozen=True)
class ChainForm:
    """The Remix chain form's fields, as typed."""

    base_kind: str = "prompt"
    base_video: str = ""
    base_prompt: str = ""
    model: str = ""
    seconds: str = ""
    size: str = ""
    steps: tuple[str, ...] = ("", "")
    stitch: str = "cut"
    crossfade: str = "0.5"
    enhance: str = ""
    budget: str = ""

    @property
    def from_video(self) -> bool:
        return self.base_kind == "video"


async def _chain_form(
    base_kind: Annotated[str, Form()] = "prompt",
    base_video: Annotated[str, Form()] = "",
    base_prompt: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    seconds: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "",
    step: Annotated[list[str] | None, Form()] = None,
    stitch: Annotated[str, Form()] = "cut",
    crossfade: Annotated[str, Form()] = "0.5",
    enhance: Annotated[str, Form()] = "",
    budget: Annotated[str, Form()] = "",
) -> ChainForm:
    return ChainForm(
        base_kind,
        base_video,
        base_prompt,
        model,
        seconds,
        size,
        tuple(step or ()),
        stitch,
        crossfade,
        enhance,
        budget,
    )


ChainFormDep = Annotated[ChainForm, Depends(_chain_form)]


async def _recent(studio: Studio) -> list[JobRecord]:
    """The caller's newest finished videos (every video on an open studio or for the admin)."""
    principal = studio.principal
    assert principal is not None
    owner = None if principal.sees_all or principal.key is None else principal.key.id
    jobs, _ = await studio.engine.ledger.list_jobs(
        limit=RECENT_VIDEOS,
        statuses=[JobStatus.COMPLETED.value],
        owner=owner,
        exclude_kinds=("image",),
    )
    return jobs


async def _own_video(studio: Studio, video_id: str) -> JobRecord:
    """The caller's video; another key's (or none) is not found, as in the Videos API."""
    try:
        job = await studio.engine.get(video_id.strip())
    except NotFoundError:
        job = None
    principal = studio.principal
    if job is None or principal is None or not principal.may_see(job.owner):
        raise NotFoundError(f"No video found with id '{video_id.strip()}'.", param="base_video")
    return job


async def _choices_context(studio: Studio, form: ChainForm) -> dict[str, Any]:
    """The base clip's seconds and size (the Create page's picker) and the chain's estimate."""
    entry = entry_for(studio, form.model or None)
    choices = choices_for(entry, Asked(seconds=form.seconds or None, size=form.size or None))
    count = max(1, sum(1 for text in form.steps if text.strip()) or len(form.steps))
    context: dict[str, Any] = {"choices": choices, "form": form, "refusal": None}
    try:
        base = form.base_prompt
        if form.from_video:
            if not form.base_video:
                raise InvalidRequestError("pick one of your videos as the base", param="base_video")
            base = (await _own_video(studio, form.base_video)).id
        # Priced as `RemixChains.start` prices it: the base (when made) and every remix.
        steps = [f"remix {number}" for number in range(1, count + 1)]
        asked = RemixChainRequest(
            base,
            steps,
            model=form.model or entry.name,
            seconds=choices.chosen_seconds,
            size=form.size or None,
            **await owner_fields(studio),  # another key's video is not found
        )
        total = await RemixChains(studio.engine).estimate(asked)
        context["clips"] = count if asked.base_is_video else count + 1
        context["estimate"] = "price unknown" if total is None else f"${total:.2f}"
    except SorakitError as exc:
        context["estimate"], context["refusal"] = "", exc.message
    return context


@router.get("/remix-chain")
async def remix_chain_page(studio: StudioDep) -> Response:
    """The Remix chain page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    recent = await _recent(studio)
    form = ChainForm(
        base_kind="video" if recent else "prompt",
        base_video=recent[0].id if recent else "",
        model=entry_for(studio, None).name,
    )
    return studio.render(
        "remix_chain.html",
        models=model_choices(studio),
        recent=recent,
        stitches=STITCHES,
        enhancements=ENHANCEMENTS,
        **await _choices_context(studio, form),
    )


@router.get("/remix-chain/choices")
async def remix_chain_choices(
    studio: StudioDep,
    base_kind: str = "prompt",
    base_video: str = "",
    model: str = "",
    seconds: str = "",
    size: str = "",
) -> Response:
    """The base clip's seconds and size, and the estimate, as the form changes."""
    if not studio.signed_in:
        return studio.to_sign_in()
    steps = tuple(studio.request.query_params.getlist("step")) or ("",)
    form = ChainForm(base_kind, base_video, "", model, seconds, size, steps)
    try:
        context = await _choices_context(studio, form)
    except SorakitError as exc:  # an unknown model
        return studio.error(exc)
    return studio.render("_remix_choices.html", **context)


@router.get("/remix-chain/step")
async def remix_chain_step(studio: StudioDep) -> Response:
    """One more remix prompt row."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return studio.render("_remix_step.html", text="")


def _crossfade(form: ChainForm) -> float:
    if form.stitch not in STITCHES:
        raise InvalidRequestError(
            f"unknown stitch {form.stitch!r}", param="stitch", allowed=list(STITCHES)
        )
    if form.stitch != "crossfade":
        return 0.0
    try:
        seconds = float(form.crossfade)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise InvalidRequestError(
            f"a crossfade needs its length in seconds, more than 0; got {form.crossfade!r}",
            param="crossfade",
        )
    return seconds


async def _request(studio: Studio, form: ChainForm) -> RemixChainRequest:
    steps = [text for text in form.steps if text.strip()]
    if form.from_video:
        if not form.base_video.strip():
            raise InvalidRequestError("pick one of your videos as the base", param="base_video")
        base = form.base_video.strip()
    else:
        base = form.base_prompt
        if not base.strip():
            raise InvalidRequestError("the base clip's prompt is empty", param="base_prompt")
    seconds = form.seconds.strip()
    if seconds and not seconds.isdigit():
        raise InvalidRequestError(
            f"the base clip's length must be a whole number of seconds, got {seconds!r}",
            param="seconds",
        )
    request = RemixChainRequest(
        base,
        steps,
        model=form.model or entry_for(studio, None).name,
        seconds=int(seconds) if seconds else None,
        size=form.size.strip() or None,
        stitch=form.stitch != "none",
        crossfade=_crossfade(form),
        enhance=form.enhance or None,
        budget_usd=budget_usd(form.budget),
        **await owner_fields(studio),  # under the active project
    )
    if form.from_video and not request.base_is_video:
        raise NotFoundError(f"No video found with id '{base}'.", param="base_video")
    return request


@router.post("/remix-chain")
async def remix_chain_start(
    studio: StudioDep,
    form: ChainFormDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Start the chain for the caller, then follow it on its run page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    chains = RemixChains(studio.engine)
    try:
        studio.check_form(csrf_token)
        request = await _request(studio, form)
        model = request.model
        if request.base_is_video:  # its remixes are made where it was made
            model = (await _own_video(studio, request.base)).model
        async with admitted(studio, model):
            pipeline = await chains.start(request)
    except SorakitError as exc:
        return studio.error(exc)
    return runs.started(studio, pipeline)

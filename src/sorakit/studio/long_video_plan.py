"""The Long video form read into a `LongRequest`, and an edited plan read back as the CLI reads one.

The plan a person edits in the page comes back as form fields (a title, a style note, and each
segment's title, seconds and prompt, with the planner's fields kept hidden); it becomes the plan
file's JSON and is checked by `Plan.from_json`, the loader behind `sorakit long --plan`, against
the segment lengths the request needs. Nothing here plans, prices or checks a length itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Annotated, Any, cast, get_args

from fastapi import Depends, Form

from sorakit.errors import InvalidRequestError
from sorakit.pipelines.enhance import STYLES as ENHANCE_STYLES, check_style, enhance_prompt
from sorakit.pipelines.long import Continuity, LongRequest
from sorakit.pipelines.planner import Plan, PlannerMode
from sorakit.pipelines.styles import apply_styles
from sorakit.settings import Settings

MODES: tuple[str, ...] = get_args(Continuity)
"""The continuity modes, exactly as the pipeline has them."""
PLANNERS: tuple[str, ...] = get_args(PlannerMode)
ENHANCEMENTS: tuple[str, ...] = tuple(ENHANCE_STYLES)


@dataclass(frozen=True)
class LongForm:
    """The request fields of the Long video form, as typed."""

    prompt: str = ""
    seconds: str = "12"
    segments: str = ""
    model: str = ""
    size: str = ""
    mode: str = "chain"
    crossfade: str = "0"
    enhance: str = ""
    planner: str = ""
    budget: str = ""


async def _long_form(
    prompt: Annotated[str, Form()] = "",
    seconds: Annotated[str, Form()] = "",
    segments: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "chain",
    crossfade: Annotated[str, Form()] = "0",
    enhance: Annotated[str, Form()] = "",
    planner: Annotated[str, Form()] = "",
    budget: Annotated[str, Form()] = "",
) -> LongForm:
    return LongForm(
        prompt, seconds, segments, model, size, mode, crossfade, enhance, planner, budget
    )


LongFormDep = Annotated[LongForm, Depends(_long_form)]


@dataclass(frozen=True)
class PlanForm:
    """A plan as the page sends it back: the editable fields, and the planner's kept hidden."""

    title: str = ""
    style: str = ""
    prompt: str = ""
    planner: str = ""
    model: str = ""
    notes: tuple[str, ...] = ()
    segment_titles: tuple[str, ...] = ()
    segment_seconds: tuple[str, ...] = ()
    segment_prompts: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        """Whether the page sent a plan at all (a Render without one plans as it starts)."""
        return bool(self.segment_prompts or self.segment_seconds or self.planner)


async def _plan_form(
    plan_title: Annotated[str, Form()] = "",
    plan_style: Annotated[str, Form()] = "",
    plan_prompt: Annotated[str, Form()] = "",
    plan_planner: Annotated[str, Form()] = "",
    plan_model: Annotated[str, Form()] = "",
    plan_note: Annotated[list[str] | None, Form()] = None,
    segment_title: Annotated[list[str] | None, Form()] = None,
    segment_seconds: Annotated[list[str] | None, Form()] = None,
    segment_prompt: Annotated[list[str] | None, Form()] = None,
) -> PlanForm:
    return PlanForm(
        plan_title,
        plan_style,
        plan_prompt,
        plan_planner,
        plan_model,
        tuple(plan_note or ()),
        tuple(segment_title or ()),
        tuple(segment_seconds or ()),
        tuple(segment_prompt or ()),
    )


PlanFormDep = Annotated[PlanForm, Depends(_plan_form)]


def _whole(value: str, param: str, what: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InvalidRequestError(
            f"{what} must be a whole number of seconds, got {value.strip()!r}", param=param
        ) from None


def _seconds(value: str, param: str, what: str) -> float:
    try:
        number = float(value.strip() or "0")
    except ValueError:
        number = float("nan")
    if not (number >= 0 and math.isfinite(number)):
        raise InvalidRequestError(f"{what} must be 0 or more seconds, got {value!r}", param=param)
    return number


def budget_usd(value: str) -> float | None:
    """A pipeline's own budget as typed: empty for none, else dollars."""
    if not value.strip():
        return None
    try:
        number = float(value.strip().lstrip("$"))
    except ValueError:
        number = float("nan")
    if not (number >= 0 and math.isfinite(number)):
        raise InvalidRequestError(
            f"the budget must be an amount in USD such as 2.50, got {value!r}", param="budget"
        )
    return number


def long_request(form: LongForm, default_model: str) -> LongRequest:
    """The pipeline request the form asks for (owner fields are the caller's to add)."""
    if form.mode not in MODES:
        raise InvalidRequestError(f"unknown mode {form.mode!r}", param="mode", allowed=list(MODES))
    if form.planner and form.planner not in PLANNERS:
        raise InvalidRequestError(
            f"unknown planner {form.planner!r}", param="planner", allowed=list(PLANNERS)
        )
    if form.enhance:
        check_style(form.enhance)
    segments = (
        _whole(form.segments, "segments", "the number of segments")
        if form.segments.strip()
        else None
    )
    if segments is not None and segments < 1:
        raise InvalidRequestError("the number of segments must be at least 1", param="segments")
    return LongRequest(
        form.prompt,
        _whole(form.seconds or "0", "seconds", "the total length"),
        model=form.model or default_model,
        size=form.size.strip() or None,
        segments=segments,
        mode=cast("Continuity", form.mode),
        crossfade=_seconds(form.crossfade, "crossfade", "the crossfade"),
        planner=cast("PlannerMode | None", form.planner or None),
        enhance=form.enhance or None,
        budget_usd=budget_usd(form.budget),
    )


async def enhanced_for_planning(
    request: LongRequest, settings: Settings
) -> tuple[LongRequest, str | None]:
    """The request with its prompt rewritten in its enhancement style, as `LongVideos.start`
    rewrites it before planning (an edited plan is rendered as it is, so the rewrite comes here,
    where the person sees it); and the note when the rewrite failed."""
    if not request.enhance or not request.prompt.strip():
        return request, None
    prompt, _ = apply_styles(request.prompt)
    result = await enhance_prompt(prompt, request.enhance, settings=settings)
    escaped = result.enhanced.replace("{", "{{").replace("}", "}}")  # not styled a second time
    return replace(request, prompt=escaped), result.note


def edited_plan(form: PlanForm, lengths: list[int]) -> Plan:
    """The plan the page sent back, checked by the plan file's own loader against `lengths`."""
    columns = (form.segment_titles, form.segment_seconds, form.segment_prompts)
    if len({len(column) for column in columns}) != 1:
        raise InvalidRequestError(
            "the edited plan lost part of a segment; plan again", param="plan"
        )
    segments: list[dict[str, Any]] = []
    for title, seconds, prompt in zip(*columns, strict=True):
        text = seconds.strip()
        # A number stays a number; anything else goes to the loader as typed, which names it.
        segments.append(
            {"title": title, "seconds": int(text) if text.isdigit() else text, "prompt": prompt}
        )
    data = {
        "version": 1,
        "title": form.title,
        "style": form.style,
        "prompt": form.prompt,
        "planner": form.planner,
        "model": form.model or None,
        "segments": segments,
        "notes": list(form.notes),
    }
    return Plan.from_json(json.dumps(data), seconds=lengths, source="the edited plan")

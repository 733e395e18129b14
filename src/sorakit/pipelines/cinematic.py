"""The structured cinematic rewrite: a prompt as a shot plan with a timeline, for a duration.

sora2api's `prompt-enhance-{short,medium,long}-{10,15,20}s` models turned an idea into a prompt
with PRIMARY, SETTING, LOOK, CAMERA and LIGHT lines and a timeline of beats; the length word is
how long the rewrite is, the seconds the duration it is written for. Here the chat model fills
one Structured Outputs schema (`SCHEMA`), the answer is checked (the beats cover the duration
from 0 s, in order, without gaps or overlaps; no field empty) and rendered to prompt text by
sorakit (`render`), so the shape never depends on the model's formatting.

Without a chat model, or when it answers badly (JSON that does not parse or fit, an answer cut
off at its length limit, a model the endpoint does not know), `cinematic_offline` writes the same
plan from the prompt's own words, and `CinematicRewrite.note` says which and why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sorakit.errors import InvalidRequestError, ProviderError
from sorakit.pipelines.chat import chat_api_key, chat_client, complete
from sorakit.settings import Settings
from sorakit.wire.videos import PROMPT_MAX_LENGTH

logger = logging.getLogger(__name__)

Length = Literal["short", "medium", "long"]
LENGTHS: tuple[Length, ...] = ("short", "medium", "long")
DURATIONS = (10, 15, 20)
"""The durations sora2api's enhancement models were named for."""
DEFAULT_TIMEOUT = 30.0
TOLERANCE = 0.05
"""Seconds of rounding a beat's edges may be off by and still meet its neighbour."""

BEAT_SECONDS: dict[Length, float] = {"short": 5.0, "medium": 3.5, "long": 2.5}
"""About how long one beat lasts: a longer rewrite cuts the duration finer."""
CHARACTERS: dict[Length, tuple[int, int]] = {
    "short": (300, 650),
    "medium": (650, 1200),
    "long": (1200, 2200),
}
"""The rewrite's length in characters that each length word asks the chat model for."""
MAX_BEATS = 8


def beats_for(length: Length, seconds: float) -> int:
    """How many beats a rewrite of `length` has for `seconds` (2 to `MAX_BEATS`)."""
    return max(2, min(MAX_BEATS, round(seconds / BEAT_SECONDS[length])))


SYSTEM = """\
You turn one idea for a short video into a cinematographer's shot plan, as JSON. Keep every \
subject, action, place, number, colour, quoted line of dialogue and constraint the person gave \
and never contradict them; add only what a camera would see and a microphone would hear. No \
on-screen text, logos, real people's names or copyrighted characters.
- primary_subject: who or what the video is about, with its look.
- setting: where and when.
- look: the visual style, palette, grade and texture.
- camera: lens, framing and how the camera moves overall.
- lighting: key light, direction, time of day, practicals.
- beats: the timeline, in order. The first starts at 0, each starts where the one before \
ends, the last ends exactly at the duration; seconds may have one decimal. Each beat has \
what happens (action) and what the camera does then (camera).
Write about {beats} beats for {seconds:g} seconds, and {low} to {high} characters in all: \
{words}.\
"""
_WORDS: dict[Length, str] = {
    "short": "a few words per field, one short sentence per beat",
    "medium": "a sentence per field, one or two sentences per beat",
    "long": "rich detail in every field, two or three sentences per beat",
}


class Beat(BaseModel):
    """One stretch of the timeline."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(ge=0)
    end: float = Field(gt=0)
    action: str
    camera: str


class CinematicPlan(BaseModel):
    """The shot plan; the JSON schema sent to the chat model is `SCHEMA`, its strict twin."""

    model_config = ConfigDict(extra="forbid")

    primary_subject: str
    setting: str
    look: str
    camera: str
    lighting: str
    beats: list[Beat] = Field(min_length=2, max_length=MAX_BEATS + 2)

    @field_validator("primary_subject", "setting", "look", "camera", "lighting")
    @classmethod
    def _filled(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("is empty")
        return value


_TEXT = {"type": "string"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["primary_subject", "setting", "look", "camera", "lighting", "beats"],
    "properties": {
        "primary_subject": _TEXT,
        "setting": _TEXT,
        "look": _TEXT,
        "camera": _TEXT,
        "lighting": _TEXT,
        "beats": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["start", "end", "action", "camera"],
                "properties": {
                    "start": {"type": "number"},
                    "end": {"type": "number"},
                    "action": _TEXT,
                    "camera": _TEXT,
                },
            },
        },
    },
}
"""The strict JSON schema of `CinematicPlan` (every property required, nothing extra)."""


class PlanProblem(Exception):
    """A plan that cannot be used; `reason` says why, in a sentence's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_plan(plan: CinematicPlan, seconds: float) -> CinematicPlan:
    """`plan` with its beats' text tidied, if its timeline covers 0 to `seconds` in order with no
    gap, overlap or empty beat; `PlanProblem` otherwise."""
    beats: list[Beat] = []
    edge = 0.0
    for number, beat in enumerate(plan.beats, 1):
        action, camera = " ".join(beat.action.split()), " ".join(beat.camera.split())
        if not action or not camera:
            raise PlanProblem(f"beat {number} has no {'action' if not action else 'camera'}")
        if beat.end <= beat.start:
            raise PlanProblem(f"beat {number} ends ({beat.end:g} s) before it starts")
        if beat.start < edge - TOLERANCE:
            raise PlanProblem(f"beat {number} overlaps the one before it at {beat.start:g} s")
        if beat.start > edge + TOLERANCE:
            raise PlanProblem(f"the timeline has a gap from {edge:g} s to {beat.start:g} s")
        beats.append(Beat(start=edge, end=beat.end, action=action, camera=camera))
        edge = beat.end
    if abs(edge - seconds) > TOLERANCE:
        raise PlanProblem(f"the timeline ends at {edge:g} s, not at the duration ({seconds:g} s)")
    beats[-1] = beats[-1].model_copy(update={"end": float(seconds)})
    return plan.model_copy(update={"beats": beats})


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def render(plan: CinematicPlan, seconds: float) -> str:
    """The plan as prompt text: one line per field, then the timeline, one line per beat."""
    lines = [
        f"PRIMARY: {_sentence(plan.primary_subject)}",
        f"SETTING: {_sentence(plan.setting)}",
        f"LOOK: {_sentence(plan.look)}",
        f"CAMERA: {_sentence(plan.camera)}",
        f"LIGHT: {_sentence(plan.lighting)}",
        f"TIMELINE ({_seconds(seconds)} s):",
    ]
    for beat in plan.beats:
        lines.append(
            f"{_seconds(beat.start)}–{_seconds(beat.end)} s: {_sentence(beat.action)} "
            f"Camera: {_sentence(beat.camera)}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class CinematicRewrite:
    """A prompt rewritten as a shot plan, by the chat model or offline."""

    original: str
    text: str
    """The rendered plan: the prompt to use."""
    plan: CinematicPlan
    length: Length
    seconds: int
    by: Literal["chat", "offline"]
    note: str | None = None
    """Why the offline rewrite was used, in a sentence for the user; None when the chat model
    wrote it."""
    model: str | None = None
    """The chat model that wrote the plan, when one did."""


def check_request(prompt: str, length: str, seconds: int) -> Length:
    """The length word if the request can be rewritten; `InvalidRequestError` otherwise."""
    if length not in LENGTHS:
        raise InvalidRequestError(
            f"unknown rewrite length {length!r}; choose one of {', '.join(LENGTHS)}",
            param="length",
        )
    if not 1 <= seconds <= 120:
        raise InvalidRequestError("the duration must be 1 to 120 seconds", param="seconds")
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty", param="prompt")
    return length


def _why(exc: ProviderError, model: str) -> str:
    if exc.status_code == 404:
        return f"the chat model {model} was not found at the chat endpoint"
    return str(exc)


def _plan_of(content: str, seconds: float) -> CinematicPlan:
    try:
        plan = CinematicPlan.model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise PlanProblem("the chat model's answer is not valid JSON") from exc
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise PlanProblem(
            f"the chat model's answer did not fit the schema ({where}: {first['msg']})"
        ) from exc
    try:
        return check_plan(plan, seconds)
    except PlanProblem as exc:
        raise PlanProblem(f"the chat model's timeline did not fit: {exc.reason}") from exc


async def cinematic_rewrite(
    prompt: str,
    length: str,
    seconds: int,
    *,
    settings: Settings,
    client: openai.AsyncOpenAI | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CinematicRewrite:
    """`prompt` as a checked shot plan of `length` for `seconds`, by the chat model; the offline
    rewrite, with a note that says why, when there is none or it answers badly."""
    from sorakit.pipelines.cinematic_offline import offline_plan

    chosen = check_request(prompt, length, seconds)

    def offline(note: str) -> CinematicRewrite:
        logger.info("cinematic rewrite written offline: %s", note)
        plan = offline_plan(prompt, chosen, seconds)
        return CinematicRewrite(
            prompt, render(plan, seconds), plan, chosen, seconds, "offline", note=note
        )

    if client is None and chat_api_key(settings) is None:
        return offline("no chat model is configured (set SORAKIT_CHAT_API_KEY or OPENAI_API_KEY)")
    low, high = CHARACTERS[chosen]
    system = SYSTEM.format(
        beats=beats_for(chosen, seconds), seconds=seconds, low=low, high=high, words=_WORDS[chosen]
    )
    asked = {"idea": prompt, "duration_seconds": seconds, "length": chosen}
    owned = client is None
    active = client or chat_client(settings, timeout=timeout, max_retries=1)
    try:
        content = await complete(
            active,
            model=settings.chat_model,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": json.dumps(asked, ensure_ascii=False)},
            ],
            json_schema=SCHEMA,
            schema_name="cinematic_plan",
        )
        plan = _plan_of(content, seconds)
    except ProviderError as exc:
        return offline(_why(exc, settings.chat_model))
    except PlanProblem as exc:
        return offline(exc.reason)
    finally:
        if owned:
            await active.close()
    text = render(plan, seconds)
    if len(text) > PROMPT_MAX_LENGTH:
        return offline(
            f"the chat model's plan is {len(text)} characters long; a prompt may have "
            f"{PROMPT_MAX_LENGTH}"
        )
    return CinematicRewrite(prompt, text, plan, chosen, seconds, "chat", model=settings.chat_model)

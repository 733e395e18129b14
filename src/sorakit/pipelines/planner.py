"""The long-video planner: one self-contained prompt per segment that continues the story.

With a chat model (any OpenAI-compatible endpoint with structured output) the plan is written
the way sora-extend and LongSoraGen do it: each prompt starts from the previous segment's last
frame (in keyframes mode, from its own start image; the wording is in `plan_wording`). Without one, a deterministic offline planner gives each segment a story beat (opening,
development, climax, resolution) around the original prompt. A plan is saved as JSON so the user
can edit it before anything is generated; loading it checks it still fits the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sorakit.errors import ConfigurationError, InvalidRequestError, ProviderError
from sorakit.pipelines.chat import EMPTY_ANSWER, PROVIDER, chat_api_key, chat_client, complete
from sorakit.pipelines.plan_wording import (
    OFFLINE_STYLE,
    Continuity,
    beat,
    direction,
    system_prompt,
)
from sorakit.settings import Settings
from sorakit.wire.videos import PROMPT_MAX_LENGTH

logger = logging.getLogger(__name__)

PlannerMode = Literal["auto", "offline", "chat"]
CHAT_PROMPT_TARGET = 1200
"""Characters we ask the chat model to stay under per prompt (the hard limit is far higher)."""
CHAT_ATTEMPTS = 2
"""A malformed chat answer is asked for once more, then the planner gives up."""


def _check_prompt(value: str) -> str:
    if not value.strip():
        raise ValueError("a segment prompt is empty")
    if len(value) > PROMPT_MAX_LENGTH:
        raise ValueError(
            f"a segment prompt is {len(value)} characters long; the maximum is {PROMPT_MAX_LENGTH}"
        )
    return value


class SegmentPlan(BaseModel):
    """One segment: the prompt the video model sees, and its length."""

    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(gt=0)
    """How long this segment renders."""
    prompt: str
    """The whole prompt for this segment; the video model sees nothing else."""
    title: str = ""
    """A short label for people reading the plan."""

    @field_validator("prompt")
    @classmethod
    def _prompt_fits(cls, value: str) -> str:
        return _check_prompt(value)


class Plan(BaseModel):
    """A long video's plan: a title, a shared style note, and one prompt per segment."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    """The file format's version."""
    title: str
    """A short title for the whole video."""
    style: str = ""
    """The look and continuity every segment keeps (subjects, setting, light, camera)."""
    prompt: str
    """The user's original prompt."""
    planner: Literal["chat", "offline"]
    """Who wrote the segment prompts."""
    model: str | None = None
    """The chat model that wrote them, when one did."""
    segments: list[SegmentPlan] = Field(min_length=1)
    """The segments, in order."""
    notes: list[str] = Field(default_factory=list)
    """What the user should know about how this plan was made (a fallback, a shortened prompt)."""

    @property
    def seconds(self) -> list[int]:
        """Each segment's length, in order."""
        return [segment.seconds for segment in self.segments]

    @property
    def total_seconds(self) -> int:
        """The whole video's length."""
        return sum(self.seconds)

    def check(self, seconds: Sequence[int], *, source: str = "the plan") -> Plan:
        """This plan, if its segments have exactly these lengths; else `InvalidRequestError`."""
        asked = list(seconds)
        if self.seconds == asked:
            return self
        if len(self.segments) != len(asked):
            detail = f"has {len(self.segments)} segments but {len(asked)} are asked"
        else:
            detail = "has segments of other lengths than asked"
        raise InvalidRequestError(
            f"{source} {detail}: it plans {_lengths(self.seconds)}, the request needs "
            f"{_lengths(asked)}; edit the plan's segments or plan again",
            param="plan",
        )

    def to_json(self) -> str:
        """The plan as indented JSON, the format `save` writes."""
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(
        cls, text: str | bytes, *, seconds: Sequence[int] | None = None, source: str = "the plan"
    ) -> Plan:
        """A plan read back from JSON, checked against `seconds` when given."""
        try:
            plan = cls.model_validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'plan'}: {error['msg']}"
                for error in exc.errors()[:5]
            )
            raise InvalidRequestError(
                f"{source} is not a valid plan: {problems}", param="plan"
            ) from None
        return plan if seconds is None else plan.check(seconds, source=source)

    def save(self, path: Path) -> Path:
        """Write the plan to `path` (blocking: call it from a thread in async code)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path, *, seconds: Sequence[int] | None = None) -> Plan:
        """Read a saved (possibly edited) plan, checked against `seconds` when given (blocking)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the plan {path}: {exc}", param="plan") from exc
        return cls.from_json(text, seconds=seconds, source=f"the plan {path}")


def _lengths(seconds: Sequence[int]) -> str:
    count = f"{len(seconds)} segment{'s' if len(seconds) != 1 else ''}"
    return f"{count} ({' + '.join(str(s) for s in seconds)} = {sum(seconds)} s)"


async def plan_segments(
    prompt: str,
    seconds: Sequence[int],
    *,
    settings: Settings,
    mode: PlannerMode | None = None,
    continuity: Continuity = "chain",
    client: openai.AsyncOpenAI | None = None,
) -> Plan:
    """Plan one prompt per segment of these lengths, worded for how the segments meet.

    `mode` (default `settings.planner`): `chat` plans with the chat model and raises a
    `ProviderError` (or `ConfigurationError` without a key) when it cannot; `auto` does the same
    when a key is set but falls back to the offline planner on failure, saying so in
    `Plan.notes`; `offline` never touches the network.
    """
    lengths = _validate_request(prompt, seconds)
    chosen = mode or settings.planner
    if chosen == "offline":
        return plan_offline(prompt, lengths, continuity)
    has_key = client is not None or chat_api_key(settings) is not None
    if chosen == "auto" and not has_key:
        plan = plan_offline(prompt, lengths, continuity)
        plan.notes.append("planned offline: no chat API key is set")
        return plan
    if chosen == "chat" and not has_key:
        raise ConfigurationError(
            "the chat planner needs a key: set SORAKIT_CHAT_API_KEY (or OPENAI_API_KEY), "
            "or use the offline planner"
        )
    try:
        return await _plan_with_chat(
            prompt, lengths, settings=settings, client=client, continuity=continuity
        )
    except ProviderError as exc:
        if chosen == "chat":
            raise
        # Info, not warning: the note below reaches the user (the CLI prints plan notes), once.
        logger.info("the chat planner failed, planning offline: %s", exc)
        plan = plan_offline(prompt, lengths, continuity)
        plan.notes.append(f"the chat planner failed ({exc}); planned offline instead")
        return plan


def _validate_request(prompt: str, seconds: Sequence[int]) -> list[int]:
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty", param="prompt")
    if len(prompt) > PROMPT_MAX_LENGTH:
        raise InvalidRequestError(
            f"the prompt is {len(prompt)} characters long; the maximum is {PROMPT_MAX_LENGTH}",
            param="prompt",
        )
    lengths = [int(value) for value in seconds]
    if not lengths or any(value <= 0 for value in lengths):
        raise InvalidRequestError(
            "a plan needs at least one segment, each longer than 0 s", param="seconds"
        )
    return lengths


# --- the chat planner -----------------------------------------------------------------------


def _schema(count: int) -> dict[str, Any]:
    """The strict JSON schema the chat model fills; the count is part of it."""
    segment = {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "prompt"],
        "properties": {
            "title": {"type": "string", "description": "A short label for the clip."},
            "prompt": {"type": "string", "description": "The clip's self-contained prompt."},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "style", "segments"],
        "properties": {
            "title": {"type": "string"},
            "style": {"type": "string"},
            "segments": {
                "type": "array",
                "minItems": count,
                "maxItems": count,
                "items": segment,
            },
        },
    }


class _ChatSegment(BaseModel):
    title: str
    prompt: str


class _ChatPlan(BaseModel):
    title: str
    style: str
    segments: list[_ChatSegment]


class _MalformedPlanError(Exception):
    """The chat model's answer cannot be used as a plan (the reason is the message)."""


def _user_message(prompt: str, lengths: Sequence[int]) -> str:
    clips = ", ".join(f"clip {index}: {value} s" for index, value in enumerate(lengths, 1))
    return (
        f"Video idea: {prompt.strip()}\n\n"
        f"Clips: {len(lengths)} ({clips}); total {sum(lengths)} seconds."
    )


def _json_object(content: str) -> Any:
    """The JSON in `content`; servers that ignore strict output may wrap it in prose or fences."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        start, end = content.find("{"), content.rfind("}")
        if start < 0 or end <= start:
            raise
        return json.loads(content[start : end + 1])


def _parse(content: str, lengths: Sequence[int]) -> _ChatPlan:
    if not content:
        raise _MalformedPlanError("the answer is empty")
    try:
        answer = _ChatPlan.model_validate(_json_object(content))
    except json.JSONDecodeError as exc:
        raise _MalformedPlanError(f"the answer is not valid JSON ({exc.msg})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise _MalformedPlanError(
            f"the answer does not fit the schema ({where}: {first['msg']})"
        ) from exc
    if len(answer.segments) != len(lengths):
        raise _MalformedPlanError(
            f"the answer has {len(answer.segments)} segments; exactly {len(lengths)} are needed"
        )
    for index, segment in enumerate(answer.segments, 1):
        if not segment.prompt.strip():
            raise _MalformedPlanError(f"segment {index} has an empty prompt")
        if len(segment.prompt) > PROMPT_MAX_LENGTH:
            raise _MalformedPlanError(
                f"segment {index}'s prompt is {len(segment.prompt)} characters long; "
                f"the maximum is {PROMPT_MAX_LENGTH}"
            )
    return answer


async def _plan_with_chat(
    prompt: str,
    lengths: list[int],
    *,
    settings: Settings,
    client: openai.AsyncOpenAI | None,
    continuity: Continuity,
) -> Plan:
    owned = client is None
    active = chat_client(settings) if client is None else client
    messages = [
        {
            "role": "system",
            "content": system_prompt(len(lengths), continuity, CHAT_PROMPT_TARGET),
        },
        {"role": "user", "content": _user_message(prompt, lengths)},
    ]
    reason = ""
    try:
        for attempt in range(1, CHAT_ATTEMPTS + 1):
            try:
                content = await complete(
                    active,
                    model=settings.chat_model,
                    messages=messages,
                    json_schema=_schema(len(lengths)),
                    schema_name="video_plan",
                )
            except ProviderError as exc:
                if exc.code != EMPTY_ANSWER:
                    raise
                content = ""
            try:
                answer = _parse(content, lengths)
            except _MalformedPlanError as exc:
                reason = str(exc)
                logger.info("chat plan attempt %d was malformed: %s", attempt, reason)
                # The bad answer goes back (when there is one) so the model sees what to fix.
                answered = [{"role": "assistant", "content": content}] if content else []
                messages = [
                    *messages[:2],
                    *answered,
                    {
                        "role": "user",
                        "content": f"That answer cannot be used: {reason}. Answer again with "
                        f"exactly {len(lengths)} segments, as JSON that fits the schema.",
                    },
                ]
                continue
            return Plan(
                title=answer.title.strip() or _offline_title(prompt),
                style=answer.style.strip(),
                prompt=prompt,
                planner="chat",
                model=settings.chat_model,
                segments=[
                    SegmentPlan(seconds=value, prompt=segment.prompt.strip(), title=segment.title)
                    for value, segment in zip(lengths, answer.segments, strict=True)
                ],
            )
    finally:
        if owned:
            await active.close()
    raise ProviderError(
        f"the chat model gave no usable plan in {CHAT_ATTEMPTS} attempts: {reason}",
        provider=PROVIDER,
        code="malformed_plan",
    )


# --- the offline planner --------------------------------------------------------------------


def _offline_title(prompt: str) -> str:
    words = prompt.split()
    title = " ".join(words[:8]).rstrip(".,;:!?")
    return (title[:1].upper() + title[1:]) + ("…" if len(words) > 8 else "")


def plan_offline(prompt: str, seconds: Sequence[int], continuity: Continuity = "chain") -> Plan:
    """The deterministic plan: the same prompt, lengths and continuity give the same plan."""
    lengths = _validate_request(prompt, seconds)
    story = prompt.strip()
    count = len(lengths)
    notes: list[str] = []
    segments: list[SegmentPlan] = []
    for index, value in enumerate(lengths):
        text = (
            f"{story}\n\n{direction(index, count, continuity)} Shot {index + 1} of {count}, "
            f"{value} seconds.\n\nStyle: {OFFLINE_STYLE}"
        )
        if len(text) > PROMPT_MAX_LENGTH:
            # No room for the beat: the original prompt alone is still a valid segment.
            text = story
            if not notes:
                notes.append(
                    "the prompt is too long to add story beats; each segment uses it as is"
                )
        label = beat(index, count).split(":")[0] if count > 1 else "Single shot"
        segments.append(SegmentPlan(seconds=value, prompt=text, title=label))
    return Plan(
        title=_offline_title(story),
        style=OFFLINE_STYLE,
        prompt=prompt,
        planner="offline",
        segments=segments,
        notes=notes,
    )

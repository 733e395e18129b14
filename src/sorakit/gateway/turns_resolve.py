"""A reading made concrete: the model's own lengths and sizes, and a note for every choice.

Lengths and sizes are snapped by the engine's planning (`resolve_seconds`, `resolve_size`) on
the model's capability record in the request's mode (`for_mode`, `request_mode`), and a long
video's clips are split by `segments`: no table of sizes or seconds lives here. What the words
did not literally ask for (a default, a snapped value, a shape the model lacks, the clips of a
long video, "a few" taken as 3) becomes a sentence in `Turn.notes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, request_mode
from sorakit.engine.images import MAX_IMAGES_PER_REQUEST
from sorakit.engine.planning import resolve_seconds, resolve_size
from sorakit.errors import InvalidRequestError
from sorakit.gateway.turns_history import Conversation, Earlier
from sorakit.gateway.turns_read import Intent, Reading, ShotAsked
from sorakit.pipelines.segments import nearest_totals, split_seconds

VAGUE_TAKES = 3
"""Takes for "a few versions", "some options", "variations of …"."""
LONG_SECONDS = 60
"""A long video's length when none is said."""
ANIMATE_PROMPT = "Bring this image to life with natural, gentle motion."
"""A video's prompt when the message gives only an image."""
_ONLY_THE_IMAGE = re.compile(
    r"(?:(?:turn|make|bring|animate)\s+)?(?:(?:this|the|my|that)\s+)?"
    r"(?:picture|image|photo|pic|still)?(?:\s+(?:into|to)(?:\s+(?:an?\s+)?(?:video|clip|life))?)?",
    re.I,
)
"""A prompt that only points at the attached image ("animate this picture")."""


@dataclass(frozen=True)
class Turn:
    """A user turn, understood: the job to make, and what to tell the person about it."""

    intent: Intent
    prompt: str
    """What the video shows, the parameter words taken out (style tags are left for the
    facade's `apply_styles`); for a remix the change, for an extension what happens next."""
    model: str
    """The catalog name to make it with (a remix or extension: the earlier video's model)."""
    seconds: int | None
    """One clip's length (generate, variations); the whole length (long); the seconds added
    (extend); None where the model or the source decides (remix, storyboard, image)."""
    seconds_asked: float | None
    size: str | None
    """`WxH`; None where the source decides (remix, extend), the reference image's shape does
    (an image and no size asked), or the image model does (image)."""
    size_asked: str | None
    """The shape as asked: a size word, a ratio or a `WxH` (for an image, what to resolve)."""
    takes: int = 1
    video_id: str | None = None
    """The video to remix or extend."""
    earlier: Earlier | None = None
    """sorakit's latest video of this conversation, what "it" means (None: there is none)."""
    images: tuple[str, ...] = ()
    """Image URLs to make it from: this message's, or the earlier one asked for again."""
    reused_image: str | None = None
    """The earlier message's image that was asked for again (also in `images`)."""
    made_image: str | None = None
    """sorakit's own earlier image asked for again (an `img_` id; not in `images`): the first
    frame of a video, or the image an image model edits."""
    shots: tuple[ShotAsked, ...] = ()
    """A storyboard's shots, each with its length (asked, or the model's default)."""
    storyboard: str = ""
    """The storyboard in the `[5s] …` syntax, for `StoryboardRequest`."""
    segments: tuple[int, ...] = ()
    """A long video's clip lengths."""
    notes: tuple[str, ...] = ()
    """A sentence for every choice that was not literally asked for."""
    understood_by: Literal["chat", "offline"] = "offline"


def phrase(values: Sequence[object], last: str = "or") -> str:
    """`4, 8, 12, 16 or 20`."""
    items = [str(value) for value in values]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _fits(value: str, size: str, caps: ModelCapabilities, model: str) -> bool:
    """Whether `size` is what `value` asks for, as strict planning judges it."""
    one = replace(caps, sizes=(size,), default_size=size)
    try:
        resolve_size(value, one, model, snap=False, changes=[])
    except InvalidRequestError:
        return False
    return True


def pick_size(
    asked: str | None,
    words: str | None,
    caps: ModelCapabilities,
    whole: ModelCapabilities,
    model: str,
    notes: list[str],
) -> str:
    """The size for `asked` (a size word, a ratio, a `WxH`; None: the default)."""
    if asked is None:
        others = [size for size in caps.sizes if size != caps.default_size]
        also = f" (it also makes {phrase(others, 'and')})" if others else ""
        notes.append(f"{caps.default_size}, {model}'s default size{also}.")
        return caps.default_size
    chosen = resolve_size(asked, caps, model, snap=True, changes=[], whole=whole)
    same = [size for size in caps.sizes if _fits(asked, size, caps, model)]
    said = words or asked
    if not same:
        notes.append(f"{chosen}: {model} has no {said} size (it makes {phrase(caps.sizes)}).")
    elif len(same) > 1:
        also = phrase([size for size in same if size != chosen], "and")
        notes.append(f"{chosen} for {said} (at that shape {model} also makes {also}).")
    return chosen


def clip_seconds(asked: float | None, caps: ModelCapabilities, model: str, notes: list[str]) -> int:
    """One clip's length for `asked` (None: the default)."""
    allowed = phrase(caps.seconds)
    if asked is None:
        notes.append(f"{caps.default_seconds} s, {model}'s default length (it makes {allowed} s).")
        return caps.default_seconds
    chosen = resolve_seconds(f"{asked:g}", caps, model, snap=True, changes=[])
    if chosen != asked:
        notes.append(f"{chosen} s: {model} makes {allowed} s.")
    return chosen


def _long(
    asked: float | None, caps: ModelCapabilities, model: str, notes: list[str]
) -> tuple[int, list[int]]:
    """A long video's length (a sum of the model's clips) and its clips."""
    if asked is None:
        total = LONG_SECONDS
        notes.append(f"{total} s: no length was asked, and a long video is {total} s unless said.")
    else:
        total = math.ceil(asked)
        notes.append(
            f"{asked:g} s is longer than one {model} clip (at most {max(caps.seconds)} s), "
            "so this is a long video."
        )
    below, above = nearest_totals(total, caps.seconds)
    chosen = above if above is not None else below
    assert chosen is not None  # some sum of clips is at or below any total
    segments = split_seconds(chosen, caps.seconds)
    parts = " + ".join(str(s) for s in segments)
    if chosen != total:
        notes.append(
            f"{chosen} s ({parts}): {model}'s clips are {phrase(caps.seconds)} s long, and "
            f"{total} s is not a sum of them."
        )
    else:
        notes.append(f"{len(segments)} clips: {parts} s.")
    return chosen, segments


def _takes(reading: Reading, max_takes: int, notes: list[str]) -> int:
    takes = reading.takes
    if takes is None:
        if reading.takes_words is None:
            return 1
        notes.append(f"{VAGUE_TAKES} takes: “{reading.takes_words}” was taken as {VAGUE_TAKES}.")
        takes = VAGUE_TAKES
    if takes > max_takes:
        most = f"{max_takes} take" if max_takes == 1 else f"{max_takes} takes"
        notes.append(f"{most}, the most at once (not {takes}).")
        return max_takes
    return max(1, takes)


def _images(
    reading: Reading, conversation: Conversation, notes: list[str], what: str = "video"
) -> tuple[tuple[str, ...], str | None, str | None]:
    """This message's images, or the earlier one asked for again (a user's URL, or the id of
    an image sorakit made, whichever is the `latest` or `first`); and which that was."""
    if reading.reuse_image is None:
        return conversation.images, None, None
    if conversation.images:
        notes.append("The image in this message is used, not an earlier one.")
        return conversation.images, None, None
    made, sent = conversation.latest_image, conversation.earlier_images
    if made is not None and (
        not sent
        or (reading.reuse_image == "latest" and made.message > conversation.earlier_images_at[-1])
    ):
        notes.append(f"Starting from image {made.id}, made earlier in this conversation.")
        return (), None, made.id
    if not sent:
        notes.append(
            f"There is no earlier image in this conversation, so the {what} is made from the "
            "words alone."
        )
        return (), None, None
    which = reading.reuse_image
    reused = sent[0 if which == "first" else -1]
    notes.append(f"Starting from the {which} image sent earlier in this conversation.")
    return (reused,), reused, None


def _length_intent(
    intent: Intent, asked: float | None, takes: int, longest: int, model: str, notes: list[str]
) -> tuple[Intent, float | None]:
    """The intent as the length decides it (past the longest clip: a long video), and one
    clip's length to snap."""
    if intent in ("generate", "variations"):
        intent = "variations" if takes > 1 else "generate"
        if asked is not None and asked > longest:
            if intent == "generate":
                return "long", asked
            notes.append(f"Each take is one clip: {longest} s, {model}'s longest.")
            return intent, float(longest)
    elif intent == "long" and asked is not None and asked <= longest:
        notes.append(f"{asked:g} s fits in one clip, so this is one video.")
        return "generate", asked
    return intent, asked


def resolve_new(
    reading: Reading,
    conversation: Conversation,
    entry: ModelEntry,
    *,
    seconds: int | None,
    size: str | None,
    max_takes: int,
) -> Turn:
    """A new video, long video, storyboard, set of takes or image, made concrete for `entry`."""
    notes = [f"{reading.size_words} is used; “{extra}” was also said." for extra in reading.extras]
    asked_seconds = reading.seconds if reading.seconds is not None else seconds
    asked_size, size_words = (reading.size, reading.size_words) if reading.size else (size, size)
    images, reused, made = _images(reading, conversation, notes)
    caps, model = entry.capabilities, entry.name
    moded = caps.for_mode(request_mode(first_frame=bool(images) or made is not None))
    prompt = reading.prompt
    if (images or made) and _ONLY_THE_IMAGE.fullmatch(prompt):
        prompt = ANIMATE_PROMPT
        notes.append("No words came with the image, so it is simply brought to life.")
    if reading.intent == "storyboard":
        return _storyboard(reading, entry, moded, asked_size, size_words, notes)
    if not prompt:
        raise InvalidRequestError(
            "The message has no prompt: say what the video shows.", param="messages"
        )
    takes = _takes(reading, max_takes, notes) if reading.intent != "long" else 1
    base = Turn(
        reading.intent,
        prompt=prompt,
        model=model,
        seconds=None,
        seconds_asked=asked_seconds,
        size=None,
        size_asked=asked_size,
        images=images,
        reused_image=reused,
        made_image=made,
    )
    if reading.intent == "image":
        if asked_seconds is not None:
            notes.append(f"An image has no length; the {asked_seconds:g} s asked is not used.")
        return replace(base, takes=takes, notes=tuple(notes))
    chosen_size = None
    if asked_size is not None or not (
        images or made
    ):  # else the reference's shape decides, in planning
        chosen_size = pick_size(asked_size, size_words, moded, caps, model, notes)
    longest = max(moded.seconds)
    intent, one_clip = _length_intent(reading.intent, asked_seconds, takes, longest, model, notes)
    if intent == "long":
        total, segments = _long(asked_seconds, moded, model, notes)
        return replace(
            base,
            intent="long",
            seconds=total,
            size=chosen_size,
            segments=tuple(segments),
            notes=tuple(notes),
        )
    chosen_seconds = clip_seconds(one_clip, moded, model, notes)
    return replace(
        base,
        intent=intent,
        seconds=chosen_seconds,
        size=chosen_size,
        takes=takes,
        notes=tuple(notes),
    )


def _storyboard(
    reading: Reading,
    entry: ModelEntry,
    moded: ModelCapabilities,
    asked_size: str | None,
    size_words: str | None,
    notes: list[str],
) -> Turn:
    model = entry.name
    chosen_size = pick_size(asked_size, size_words, moded, entry.capabilities, model, notes)
    unsaid = [number for number, shot in enumerate(reading.shots, 1) if shot.seconds is None]
    if unsaid:
        which = (
            "Every shot"
            if len(unsaid) == len(reading.shots)
            else f"Shot{'s' if len(unsaid) > 1 else ''} {phrase(unsaid, 'and')}"
        )
        notes.append(f"{which}: {moded.default_seconds} s, {model}'s default length.")
    default = float(moded.default_seconds)
    shots = tuple(
        ShotAsked(shot.prompt, default if shot.seconds is None else shot.seconds)
        for shot in reading.shots
    )
    style = [reading.style] if reading.style else []
    text = reading.source or "\n".join(
        [*style, *(f"[{shot.seconds:g}s] {shot.prompt}" for shot in shots)]
    )
    return Turn(
        "storyboard",
        prompt="",
        model=model,
        seconds=None,
        seconds_asked=None,
        size=chosen_size,
        size_asked=asked_size,
        shots=shots,
        storyboard=text,
        notes=tuple(notes),
    )


def resolve_image(
    reading: Reading,
    conversation: Conversation,
    entry: ModelEntry,
    model: str,
    *,
    size: str | None,
    max_takes: int,
    notes: list[str],
) -> Turn:
    """An image (or several) for the image model `entry` (asked for as `model`): the words'
    shape snapped to its sizes, an edit when the message (or the person's "it") gives an image."""
    if reading.intent == "storyboard":
        raise InvalidRequestError(
            f"{model} makes images; a storyboard is a video: ask a video model for it.",
            param="messages",
        )
    if reading.intent in ("remix", "extend"):
        raise InvalidRequestError(
            f"{model} makes images; to change or continue a video, ask a video model.",
            param="messages",
        )
    if reading.seconds is not None:
        notes.append(f"An image has no length; the {reading.seconds:g} s asked is not used.")
    images, reused, made = _images(reading, conversation, notes, "image")
    if not reading.prompt:
        what = "what to change in the image" if images or made else "what the image shows"
        raise InvalidRequestError(f"The message has no prompt: say {what}.", param="messages")
    asked_size, words = (reading.size, reading.size_words) if reading.size else (size, size)
    caps = entry.capabilities
    chosen = pick_size(asked_size, words, caps, caps, model, notes)
    takes = _takes(reading, min(max_takes, MAX_IMAGES_PER_REQUEST), notes)
    return Turn(
        "image",
        prompt=reading.prompt,
        model=model,
        seconds=None,
        seconds_asked=reading.seconds,
        size=chosen,
        size_asked=asked_size,
        takes=takes,
        images=images,
        reused_image=reused,
        made_image=made,
        notes=tuple(notes),
    )

"""Turns about an earlier video: a remix or an extension of "it", or "make it vertical".

"It" is the video written in the message (sora2api's way), else sorakit's latest video of this
conversation (`turns_history`); a remix or an extension is made with that video's model. A
remix keeps its video's size and length, so a message that only asks for another shape or
length ("make it vertical", "make it 12 seconds") makes the earlier prompt again, and says so.
"""

from __future__ import annotations

from dataclasses import replace

from sorakit.catalog import Catalog
from sorakit.catalog.capabilities import ModelEntry
from sorakit.errors import InvalidRequestError
from sorakit.gateway.turns_history import Conversation, Earlier
from sorakit.gateway.turns_read import Reading, read_words
from sorakit.gateway.turns_resolve import Turn, clip_seconds, phrase, resolve_new

CONTINUE_PROMPT = "Continue the scene naturally."
"""An extension's prompt when the message says only "continue it"."""


def _source(reading: Reading, conversation: Conversation, notes: list[str]) -> Earlier | str:
    """The video "it" is: named in the message, or sorakit's latest one here."""
    if reading.video_id is not None:
        return reading.video_id
    latest = conversation.latest
    remix = reading.intent == "remix"
    if latest is None:
        raise InvalidRequestError(
            f"There is no earlier video in this conversation to {'remix' if remix else 'extend'}"
            ": describe a new video, or send the id of the one to change (video_…).",
            param="messages",
        )
    if latest.kind != "video":
        raise InvalidRequestError(
            f"The latest video here is storyboard {latest.id}, which cannot be "
            f"{'remixed' if remix else 'extended'} as a whole: send the id of one of its shots, "
            "or describe a new video.",
            param="messages",
        )
    notes.append(
        f"{'Remixing' if remix else 'Continuing'} {latest.id}, the latest video in this "
        "conversation."
    )
    return latest


def resolve_derived(
    reading: Reading,
    conversation: Conversation,
    catalog: Catalog,
    entry: ModelEntry,
    *,
    seconds: int | None,
    size: str | None,
    max_takes: int,
) -> Turn:
    """A remix or an extension of "it", made concrete."""
    if reading.intent == "remix" and not reading.prompt and (reading.seconds or reading.size):
        return _remake(
            reading, conversation, entry, seconds=seconds, size=size, max_takes=max_takes
        )
    notes: list[str] = []
    source = _source(reading, conversation, notes)
    earlier = source if isinstance(source, Earlier) else None
    if earlier is not None and earlier.model is not None and earlier.model in catalog:
        entry = catalog.resolve(earlier.model)
    turn = Turn(
        reading.intent,
        prompt=reading.prompt,
        model=entry.name,
        seconds=None,
        seconds_asked=reading.seconds,
        size=None,
        size_asked=reading.size,
        video_id=source.id if isinstance(source, Earlier) else source,
        earlier=earlier,
    )
    if reading.takes_words is not None:
        notes.append(f"One {reading.intent}: a {reading.intent} is made one at a time.")
    if conversation.images:
        notes.append(
            f"The {reading.intent} starts from {turn.video_id}; the image sent is not used."
        )
    if reading.intent == "remix":
        if not reading.prompt:
            raise InvalidRequestError(
                "Say what to change, as in “remix it: make it night”.", param="messages"
            )
        for what, words in (("length", reading.seconds_words), ("size", reading.size_words)):
            if words:
                notes.append(f"A remix keeps its video's {what}; the {words} asked is not used.")
        return replace(turn, notes=tuple(notes))
    return _extension(reading, turn, entry, notes)


def _extension(reading: Reading, turn: Turn, entry: ModelEntry, notes: list[str]) -> Turn:
    model = entry.name
    if not entry.capabilities.extension:
        raise InvalidRequestError(
            f"{model} cannot continue a video: ask for a long video instead, as in “a 30 second "
            "video of …”.",
            param="messages",
        )
    caps = entry.capabilities.for_mode("video")
    if reading.seconds is None:
        added = caps.default_seconds
        notes.append(
            f"{added} s more, {model}'s default extension (it adds {phrase(caps.seconds)} s)."
        )
    else:
        added = clip_seconds(reading.seconds, caps, model, notes)
    prompt = reading.prompt
    if not prompt:
        prompt = CONTINUE_PROMPT
        notes.append("No direction was given, so the scene simply goes on.")
    if reading.size_words:
        notes.append(
            f"An extension keeps its video's size; the {reading.size_words} asked is not used."
        )
    return replace(turn, prompt=prompt, seconds=added, notes=tuple(notes))


def _remake(
    reading: Reading,
    conversation: Conversation,
    entry: ModelEntry,
    *,
    seconds: int | None,
    size: str | None,
    max_takes: int,
) -> Turn:
    """ "Make it vertical" after a video: the earlier prompt again, at the new size or length
    (the rest as the earlier video had it)."""
    latest = conversation.latest
    if not conversation.earlier_prompt or latest is None:
        raise InvalidRequestError(
            "A remix keeps its video's size and length: describe the video to make at this "
            "size or length.",
            param="messages",
        )
    again = read_words(conversation.earlier_prompt)
    remade = replace(
        again,
        intent="generate" if again.intent in ("remix", "extend") else again.intent,
        seconds=reading.seconds or again.seconds,
        seconds_words=reading.seconds_words or again.seconds_words,
        size=reading.size or again.size,
        size_words=reading.size_words or again.size_words,
        it=False,
        video_id=None,
    )
    turn = resolve_new(
        remade,
        replace(conversation, latest=None),
        entry,
        seconds=seconds or (round(latest.seconds) if latest.seconds else None),
        size=size or latest.size,
        max_takes=max_takes,
    )
    note = (
        "A remix keeps its video's size and length, so this is a new video of the earlier "
        f"prompt “{again.prompt}”."
    )
    return replace(turn, earlier=latest, notes=(note, *turn.notes))

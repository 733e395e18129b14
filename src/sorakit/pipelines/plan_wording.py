"""What the long-video planner tells the models: the chat planner's instructions and the offline
planner's directions, worded for how the segments meet (`chain` and `extend` continue from the
previous shot; in `keyframes` every shot opens on its own start image and sees no other shot).
"""

from __future__ import annotations

from typing import Literal

Continuity = Literal["chain", "extend", "keyframes"]
"""How segments meet: the previous last frame, the provider's extension, or their own images."""

# --- the chat planner -----------------------------------------------------------------------

SYSTEM_PROMPT = """\
You are a film director and continuity supervisor. You turn one video idea into a plan for a \
single continuous video that a text-to-video model renders as {count} consecutive clips.

How the clips are made, which your prompts must respect:
- The video model renders each clip from its own prompt alone. It never sees the other \
prompts, the story so far, or this conversation.
{how}

Write, as JSON that fits the schema:
- "title": a short title for the whole video.
- "style": one paragraph, the continuity bible: the main subjects (appearance, wardrobe, \
colours), the setting, time of day, lighting, colour palette, lens and camera style.
- "segments": exactly {count} items, in order, each with a short "title" and a "prompt".

Rules for every prompt:
1. Self-contained: restate the subjects, setting, lighting, palette and camera style in the \
same words each time, so every clip looks like the same film.
{opening}
3. One continuous shot per clip: no cuts, fades, flashbacks or changes of location or time \
of day inside a clip; keep the direction of motion and of the camera consistent across clips.
4. Pace the action to the clip's length (about one main action per 4 seconds), and end each \
clip on a steady, clearly composed frame the next clip can start from, never on motion blur.
5. Tell one story across the clips: the first opens, the middle ones develop it, the climax \
comes near the end, and the last clip resolves it and ends on a calm closing image.
6. Concrete, visual, present tense, plain prose: no markdown, no lists, no on-screen text, \
no names of real people or copyrighted characters, no audio cues unless the idea asks for sound.
7. Prefer last frames without a close-up human face (some providers reject reference images \
with faces).
8. Keep each prompt under {target} characters.
"""


_CHAINED = {
    "how": "- Every clip after the first starts from the exact last frame of the clip before it; "
    "that frame is given to the model as the clip's first frame. The clips are then joined "
    "with no cut.",
    "opening": '2. Clip 1 establishes the scene. From clip 2 on, begin with "Continuing from the '
    "previous shot's final frame,\" and describe that frame (where each subject is, what it is "
    "doing, where the camera is), then what happens next.",
}
_OWN_IMAGES = {
    "how": "- Every clip starts from its own start image, drawn beforehand from that clip's "
    "prompt alone; the clips are then joined in order.",
    "opening": "2. Every clip opens on its own image: describe that opening image in full (where "
    "each subject is, what it is doing, where the camera is), then what happens next; never "
    'refer to "the previous shot", which neither the image nor the video model sees.',
}


def system_prompt(count: int, continuity: Continuity, target: int) -> str:
    """The chat planner's instructions for `count` clips that meet as `continuity` says."""
    wording = _OWN_IMAGES if continuity == "keyframes" else _CHAINED
    return SYSTEM_PROMPT.format(count=count, target=target, **wording)


# --- the offline planner --------------------------------------------------------------------

OFFLINE_STYLE = (
    "The same subjects, wardrobe, setting, time of day, lighting, colour palette and camera "
    "style throughout; smooth, continuous motion."
)
_OPENING = (
    "Opening: establish the scene in a steady wide shot, introduce the subjects and the "
    "setting clearly, and let the first movement begin."
)
_DEVELOPMENT = (
    "Development: the action builds as the subjects move deeper into the scene and a new "
    "detail comes into view.",
    "Development: the camera follows the subjects closely as the situation grows more intense.",
    "Development: a change in movement or light raises the stakes, in the same place and style.",
)
_CLIMAX = "Climax: the most intense, dramatic moment of the story; the action peaks."
_RESOLUTION = (
    "Resolution: the action settles and the story comes to rest, ending on a calm, lingering "
    "final frame."
)
_SINGLE = "One continuous shot with a clear beginning, a peak and a calm ending."
_CONTINUE = (
    "Continue seamlessly from the exact final frame of the previous shot: the same subjects, "
    "wardrobe, setting, lighting, colour palette and camera direction; no cut, no fade."
)
_HAND_OFF = "End on a steady, well-composed frame that the next shot continues from."
_OWN_START = (
    "Open on this shot's own start image: the same subjects, wardrobe, setting, lighting, "
    "colour palette and camera style as every other shot."
)
_STEADY_END = "End on a steady, well-composed frame."


def beat(index: int, count: int) -> str:
    """The story beat of shot `index` (0-based) of `count`."""
    if count == 1:
        return _SINGLE
    if index == 0:
        return _OPENING
    if index == count - 1:
        return _RESOLUTION
    if index == count - 2 and count >= 3:
        return _CLIMAX
    return _DEVELOPMENT[(index - 1) % len(_DEVELOPMENT)]


def direction(index: int, count: int, continuity: Continuity) -> str:
    """The offline direction for shot `index` (0-based): how it starts, its beat, how it ends."""
    parts = [beat(index, count)]
    own_images = continuity == "keyframes"  # each shot starts from its own still
    if own_images:
        parts.insert(0, _OWN_START)
    elif index > 0:
        parts.insert(0, _CONTINUE)
    if index < count - 1:
        parts.append(_STEADY_END if own_images else _HAND_OFF)
    return " ".join(parts)

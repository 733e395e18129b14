"""The cinematic rewrite without a chat model: a shot plan built from the prompt's own words.

Deterministic and small on purpose. The prompt's first sentence is split into its subject (the
words before the first verb or place word), its place ("on the windowsill") and its action
("playing"); later sentences (a style tag's modifier, the person's own notes) are the look. The
duration is cut into `beats_for(length, seconds)` beats on a half-second grid: an establishing
beat, the action building, a closing beat. The length word decides how much each field says.
Nothing is invented about the subject itself: every beat names the person's own words.
"""

from __future__ import annotations

import re

from sorakit.pipelines.cinematic import Beat, CinematicPlan, Length, beats_for

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:(?:make|create|generate|render|show|film|give)\s+(?:me\s+)?)?"
    r"(?:an?\s+)?(?:(?:short|little|cinematic)\s+)?(?:video|clip|film|shot|scene)\s+(?:of|about|"
    r"showing|where|with)\s+",
    re.I,
)
_PLACES = frozenset(
    [
        "on",
        "in",
        "at",
        "under",
        "over",
        "through",
        "across",
        "along",
        "inside",
        "beside",
        "near",
        "by",
        "into",
        "onto",
        "above",
        "below",
        "around",
        "between",
        "among",
        "atop",
        "outside",
        "against",
        "beneath",
        "behind",
        "within",
        "amid",
    ]
)
_VERBS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "runs",
        "walks",
        "jumps",
        "flies",
        "sits",
        "stands",
        "dances",
        "plays",
        "swims",
        "eats",
        "looks",
        "drives",
        "rides",
        "sings",
        "reads",
        "sleeps",
        "climbs",
        "falls",
        "rises",
        "moves",
        "chases",
        "races",
        "glides",
        "floats",
        "spins",
        "waves",
        "smiles",
        "cooks",
        "paints",
        "works",
        "fights",
    ]
)
_LIGHT = (
    (
        ("night", "midnight", "moon", "stars", "neon"),
        "night: cool moonlight, warm practical lights and deep shadows",
    ),
    (
        ("sunset", "dusk", "golden"),
        "a low warm sun at golden hour, long soft shadows and a glowing rim light",
    ),
    (
        ("sunrise", "dawn", "morning"),
        "soft early-morning light, pale warm highlights and a gentle haze",
    ),
    (("rain", "storm", "fog", "mist"), "diffuse overcast light, wet reflections and soft contrast"),
    (
        ("candle", "fire", "campfire", "fireplace"),
        "flickering warm firelight as the key, the rest falling off into darkness",
    ),
    (("snow", "winter", "ice"), "bright diffuse daylight bouncing off the snow, cool shadows"),
)
_DAYLIGHT = "soft natural key light from one side, a gentle fill and a subtle back light"
_LOOK: dict[Length, str] = {
    "short": "naturalistic colour and soft contrast",
    "medium": "naturalistic colour, soft contrast and a light film grain, true to life",
    "long": "naturalistic colour with a restrained filmic grade, soft contrast, gentle "
    "highlight roll-off, a light film grain and a shallow depth of field that isolates the "
    "subject",
}
_CAMERA: dict[Length, str] = {
    "short": "35 mm lens at eye level, smooth motion",
    "medium": "35 mm lens at eye level on a stabilised rig, smooth deliberate moves from wide "
    "to close",
    "long": "35 mm and 50 mm lenses at eye level on a stabilised rig, smooth deliberate moves "
    "from a wide establishing frame to an intimate close-up, focus always on the subject",
}
_MIDDLE_CAMERA = (
    "medium shot, tracking alongside",
    "medium close-up, a slow arc around the subject",
    "low angle, a gentle tilt up",
    "over-the-shoulder angle, a slow push-in",
    "profile medium shot, a lateral dolly",
    "high angle, a slow crane down",
)
_MIDDLE_ACTION = (
    "{subject} {action}",
    "{subject} keeps {action}, the movement building",
    "the moment peaks: {subject} {action}, fully absorbed",
    "{subject} {action}, small details catching the light",
    "{subject} {action}, the rhythm steady",
    "{subject} {action}, the energy easing",
)


def _words_of(prompt: str) -> tuple[str, list[str]]:
    """The first sentence without request words, and the later sentences."""
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(prompt.split())) if s.strip()]
    first = _REQUEST.sub("", sentences[0]).rstrip(".!?…").strip() or sentences[0]
    return first, sentences[1:]


def _mid(words: str) -> str:
    """`words` inside a sentence: a leading article in lower case."""
    first, _, rest = words.partition(" ")
    if first in ("A", "An", "The") and rest:
        return f"{first.lower()} {rest}"
    return words


def _is_verb(word: str) -> bool:
    bare = word.lower().strip(",;:")
    return (bare.endswith("ing") and len(bare) > 4) or bare in _VERBS


def _split(idea: str) -> tuple[str, str, str]:
    """The subject, the place and the action of one sentence (the last two may be empty)."""
    words = idea.split()
    marks = [i for i, w in enumerate(words) if _is_verb(w) or w.lower() in _PLACES]
    if not marks or marks[0] == 0:
        return idea, "", ""
    subject = " ".join(words[: marks[0]]).rstrip(",")
    place: list[str] = []
    action: list[str] = []
    current = action
    for word in words[marks[0] :]:
        if word.lower() in _PLACES and not place and current is action:
            current = place
        elif _is_verb(word) and current is place:
            current = action
        current.append(word)
    return subject, " ".join(place).strip(" ,"), " ".join(action).strip(" ,")


def _grid(seconds: float, count: int) -> list[tuple[float, float]]:
    """`count` stretches from 0 to `seconds`, edges on a half-second grid."""
    edges = [0.0]
    for index in range(1, count):
        edges.append(round(seconds * index / count * 2) / 2)
    edges.append(float(seconds))
    return list(zip(edges, edges[1:], strict=False))


def _light(text: str, length: Length) -> str:
    words = set(re.findall(r"[a-z]+", text.lower()))
    light = next((light for keys, light in _LIGHT if words & set(keys)), _DAYLIGHT)
    if length == "long":
        light += ", motivated by the scene's own sources"
    return light


def offline_plan(prompt: str, length: Length, seconds: float) -> CinematicPlan:
    """A shot plan of `length` for `seconds` from `prompt`'s own words, with no chat model."""
    idea, rest = _words_of(prompt)
    subject, place, action = _split(idea)
    setting = place or f"a setting that suits {subject}, uncluttered so the subject reads"
    doing = action or "moving naturally, with small lifelike gestures"
    look = " ".join(rest) or _LOOK[length]
    if rest and length != "short":
        look += f" {_LOOK[length][0].upper()}{_LOOK[length][1:]}."
    stretches = _grid(seconds, beats_for(length, seconds))
    beats = []
    for index, (start, end) in enumerate(stretches):
        if index == 0:
            text = f"Establishing: {_mid(subject)} {place or 'in the scene'}, the scene settles in"
            camera = "wide shot, a slow push-in"
        elif index == len(stretches) - 1:
            text = f"{subject} comes to rest, the last moment held on {_mid(subject)}"
            camera = "close-up, the camera eases to a stop"
        else:
            middle = _MIDDLE_ACTION[(index - 1) % len(_MIDDLE_ACTION)]
            text = middle.format(subject=_mid(subject), action=doing)
            camera = _MIDDLE_CAMERA[(index - 1) % len(_MIDDLE_CAMERA)]
        beats.append(
            Beat(start=start, end=end, action=f"{text[0].upper()}{text[1:]}", camera=camera)
        )
    return CinematicPlan(
        primary_subject=subject if length == "short" else f"{subject}, {doing}",
        setting=setting,
        look=look,
        camera=_CAMERA[length],
        lighting=_light(prompt, length),
        beats=beats,
    )

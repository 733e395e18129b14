"""The offline reading of a request: a deterministic parser of the common phrasings.

It answers what the words literally ask (`Reading`), nothing more: the intent, the prompt with
the parameter words taken out, the length, shape and takes as written, whether the message is
about an earlier video ("make it night", "continue it") and whether it asks for an earlier
image again. Which sizes and lengths a model has, and what to say about the choices, is
`turns.resolve`'s job; the chat model's reading (`turns_chat`) fills the same `Reading`.

The rules, in order: `[5s] …` tags or "shot 1: … shot 2: …" make a storyboard; with an earlier
video of this conversation (or a video id in the message), words that continue ("continue it",
"make it longer by 8 seconds") make an extension, and words that change ("remix it", "make it
night", "now make the cat blue", "same video but in the rain") a remix, unless the message asks
for a new video; "a picture of", "an image", "a still" with no video words make an image; two or
more takes make variations; when sorakit's latest answer is an image, a message that points at it
("animate it", "a video from that image", "make it snowy") asks for that image again; a length beyond the model's longest clip (decided later) or the
words "a long video" make a long video; anything else is a new video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from sorakit.gateway.turns_words import find_seconds, find_shape, find_takes
from sorakit.pipelines.storyboard import parse_storyboard_text

Intent = Literal["generate", "remix", "extend", "long", "storyboard", "variations", "image"]
INTENTS: tuple[Intent, ...] = (
    "generate",
    "remix",
    "extend",
    "long",
    "storyboard",
    "variations",
    "image",
)
ImageReuse = Literal["latest", "first"]


@dataclass(frozen=True)
class ShotAsked:
    """One shot of a storyboard as written: its prompt and its length (None: not said)."""

    prompt: str
    seconds: float | None = None


@dataclass(frozen=True)
class Reading:
    """What a message literally asks for, before any model's sizes and lengths are applied."""

    intent: Intent
    prompt: str
    """The prompt without the parameter words (for a remix: the change; for an extension:
    what happens next, empty when not said)."""
    seconds: float | None = None
    """The length asked (for an extension: the seconds to add), None when not said."""
    seconds_words: str | None = None
    size: str | None = None
    """A size word or ratio `resolve_size` knows (`vertical`, `16:9`, `square`), or a `WxH`."""
    size_words: str | None = None
    takes: int | None = None
    """The number of takes asked; None with vague words ("a few options") or none at all."""
    takes_words: str | None = None
    it: bool = False
    """The message is about an earlier video of this conversation ("it")."""
    video_id: str | None = None
    """A video id written in the message itself (sora2api's way to remix)."""
    reuse_image: ImageReuse | None = None
    """The message asks for an earlier message's image again (the first one, or the latest)."""
    shots: tuple[ShotAsked, ...] = ()
    style: str = ""
    """A storyboard's words before its first shot, put before every shot's prompt."""
    source: str = ""
    """A `[5s] …` storyboard's text as written, handed on whole."""
    extras: list[str] = field(default_factory=list)
    """Other parameter words found and set aside (a second shape word), for the notes."""


_VIDEO_ID = re.compile(r"\bvideo_[0-9a-f]{32}\b")
_TAG = re.compile(r"\[\s*\d+(?:\.\d+)?\s*s\s*\]", re.I)
_SHOT_MARK = re.compile(
    r"(?:^|(?<=[\s.;,]))(?:shot|scene)\s*(?:#\s*)?(?P<n>\d{1,2}|one|two|three|four|five|six|"
    r"seven|eight|nine|ten)\s*(?:\((?P<paren>[^)]*)\))?\s*[:.\-–—]\s+",
    re.I,
)
_STORYBOARD_LEAD = re.compile(
    r"^\s*(?:(?:please|can you|could you)\s+)?(?:(?:make|create|generate|render|do)\s+(?:me\s+)?)?"
    r"(?:an?\s+)?(?:(?:short|little)\s+)?(?:storyboard|video|film|clip|sequence|story)?"
    r"(?:\s+(?:in|with|of)\s+(?:\w+\s+)?(?:shots|scenes|parts))?\s*[:,.-]?\s*",
    re.I,
)
_REUSE = re.compile(
    r"(?:\s*,?\s*\b(?:and\s+)?)?(?P<core>\b(?:use|using|with|reuse|re-use|keep|keeping|from|start\s+from|"
    r"starting\s+from|based\s+on|animate)\s+(?:the\s+|that\s+|this\s+|my\s+)?"
    r"(?:(?P<which>same|previous|earlier|last|first|original|old|other)\s+)?"
    r"(?:image|picture|photo|pic|reference|still|frame|start(?:ing)?\s+(?:image|frame))"
    r"(?P<tail>(?:\s+(?:again|as\s+before|from\s+before|from\s+earlier|i\s+(?:sent|shared|"
    r"uploaded|gave\s+you)(?:\s+(?:before|earlier|you))?|as\s+(?:the\s+)?(?:reference|first\s+"
    r"frame|start)))*))\b",
    re.I,
)
_EXTEND = re.compile(
    r"\b(?:continue|extend|keep\s+going|carry\s+on|go\s+on|what\s+happens\s+next|next\s+part|"
    r"part\s+(?:2|two)|sequel|make\s+(?:it|this|that|the\s+video)\s+longer|longer)\b",
    re.I,
)
_REMIX = re.compile(
    r"\bremix(?:ed)?\b|\bre-?do\b|\b(?:change|edit|modify|tweak|alter|swap|replace|recolou?r)\b|"
    r"\binstead\b|\bsame\s+(?:video|clip|scene|thing|one|shot)\b|"
    r"\b(?:do|make)\s+it\s+again\b|\b(?:let's\s+see|show\s+me)\s+it\b|"
    r"^(?:(?:ok(?:ay)?|great|nice|cool|good|perfect|love\s+it|thanks|awesome|wow|now|and|but)\b"
    r"[\s,!.]*)*(?:(?:can|could|would)\s+(?:you|u)\s+(?:please\s+)?)?"
    r"(?:now\s+)?(?:(?:make|turn|have|let|give)\s+(?:it|this|that|the|him|her|them)\b|"
    r"but\b|(?:with|without|in|at|during|under|on|more|less|darker|brighter|faster|slower)\b)",
    re.I,
)
_NEW = re.compile(
    r"\b(?:new|another|different|separate|fresh)\s+(?:video|clip|one|film|scene)\b|"
    r"^(?:(?:please|now|ok(?:ay)?)\s+)?(?:make|create|generate|render|produce|give\s+me|"
    r"i\s+want|show\s+me)\s+(?:me\s+)?(?:an?|one)\s+(?:\S+\s+){0,4}?(?:video|clip|film|movie|"
    r"animation)\b",
    re.I,
)
_IT_WORDS = re.compile(
    r"\b(?:remix|continue|extend)\s+(?:it|this|that|the\s+(?:video|clip))\b", re.I
)
_VIDEO_WORDS = re.compile(
    r"\b(?:video|clip|film|movie|animation|animate|animated|footage|gif|seconds?|reel|trailer)\b",
    re.I,
)
_IMAGE = re.compile(
    r"^\s*(?:(?:please|can\s+you|could\s+you|i\s+want|i'd\s+like|give\s+me|show\s+me|now)\s+)*"
    r"(?:(?:make|create|generate|render|draw|paint|design|produce)\s+(?:me\s+|us\s+)?)?"
    r"(?:an?|one|some|\d{1,2}|two|three|four|five|six)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:picture|image|photo|photograph|still|illustration|drawing|poster|wallpaper|thumbnail)s?\b|"
    r"^\s*(?:please\s+)?(?:draw|paint)\b",
    re.I,
)
_MADE_IMAGE = re.compile(
    r"(?:\b(?:animate|bring|turn|make|use|using|edit|change|start\s+from|based\s+on)\s+)?"
    r"(?:(?:a|an)\s+(?:video|clip|movie|animation)\s+)?(?:\b(?:from|of|out\s+of|with)\s+)?"
    r"\b(?:(?:the|that|this|your)\s+(?:image|picture|photo|pic|still|one)|it|this|that)\b"
    r"(?:\s+(?:to\s+life|move|come\s+alive|into\s+(?:an?\s+)?(?:video|clip|movie|animation)))?",
    re.I,
)
"""Words that point at sorakit's latest image ("animate it", "a video from that image")."""
_LONG_WORDS = re.compile(
    r"\b(?:long|longer|full[\s-]?length|extended|lengthy)\s+(?:video|clip|film|movie|version|one)\b",
    re.I,
)
_LEADS = [
    re.compile(
        r"^\s*(?:please|pls|hey|hi|hello|yo|ok(?:ay)?|so|now|alright|great|nice|cool|thanks|"
        r"thank\s+you|love\s+it|awesome|perfect|wow)\b[\s,!.:]*",
        re.I,
    ),
    re.compile(r"^\s*(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?", re.I),
    re.compile(
        r"^\s*(?:i(?:'d|\s+would)?\s+(?:like|want|need|love)(?:\s+to\s+(?:see|have|get))?|"
        r"i'm\s+looking\s+for|let's\s+(?:make|see|do|have)|let\s+me\s+(?:see|have|get))\s+",
        re.I,
    ),
    re.compile(
        r"^\s*(?:make|create|generate|render|produce|do|film|shoot|animate|give|show|draw|paint|"
        r"design)(?:\s+(?:me|us))?\b[\s:]*",
        re.I,
    ),
    re.compile(
        r"^\s*(?:(?:an?|one|the|some|another|\d+)\s+)?(?:(?:short|quick|little|new|nice|cool|simple|"
        r"brief|long|longer|full[\s-]?length|extended|lengthy|beautiful|realistic|still)\s+)*"
        r"(?:something(?:\s+like)?|vid|video|clip|film|movie|animation|footage|gif|picture|image|"
        r"photo|photograph|still|"
        r"illustration|drawing|storyboard|version|wallpaper|poster|thumbnail)s?\b[\s,:-]*"
        r"(?:(?:of|showing|about|where|with|featuring|depicting|that\s+shows|in\s+which)\b\s*)?",
        re.I,
    ),
    re.compile(r"^\s*(?:of|for|showing|featuring|depicting)\b\s*", re.I),
    re.compile(
        r"^\s*(?:an?\s+)?(?:(?:completely|totally|entirely|brand)\s+)?"
        r"(?:new|another|different|fresh)\s+one\b[\s,:-]*"
        r"(?:(?:of|with|showing|about|where)\b\s*)?",
        re.I,
    ),
]
_REMIX_LEADS = [
    *_LEADS[:2],
    re.compile(r"^\s*(?:(?:do|make)\s+(?:it|the\s+same\s+\w+)\s+again)[\s,]*(?:but\s+)?", re.I),
    re.compile(r"^\s*(?:let's\s+see|show\s+me)\s+it\b\s*", re.I),
    re.compile(
        r"^\s*(?:make|do)\s+(?:the\s+)?same\s+(?:video|clip|scene|thing|one|shot)\b\s*", re.I
    ),
    re.compile(
        r"^\s*(?:remix(?:ed)?|redo|re-do)(?:\s+(?:it|this|that|the\s+(?:video|clip|last\s+one)))?"
        r"(?:\s+(?:so\s+(?:that\s+)?|and|to|with|as|by|into))?[\s,:-]*",
        re.I,
    ),
    re.compile(
        r"^\s*(?:the\s+)?same\s+(?:video|clip|scene|thing|one|shot)\s*(?:,\s*)?(?:but\s+)?", re.I
    ),
    re.compile(r"^\s*but\s+", re.I),
]
_EXTEND_LEADS = [
    *_LEADS[:2],
    re.compile(
        r"^\s*(?:(?:continue|extend)(?:\s+(?:it|this|that|the\s+(?:video|clip|story|scene)))?|"
        r"keep\s+going|carry\s+on|go\s+on|make\s+(?:it|this|that|the\s+video)\s+longer|"
        r"(?:add|with)\s+(?:another\s+|more\s+|extra\s+)?)"
        r"(?:\s*(?:and|so|where|with|:|,|-|then|so\s+that)\b)*[\s,:.?!-]*(?:and\s+)?(?:then\s+)?",
        re.I,
    ),
    re.compile(r"^\s*(?:what\s+happens\s+next|next\s+part)[\s?:,.-]*", re.I),
    re.compile(r"^\s*(?:where|in\s+which|and|then|so|with|while)\b\s*", re.I),
]
_FILLERS = frozenset(_LEADS[:3])
"""Leading words that may come several times ("ok great, now please …")."""
_NOTHING = re.compile(
    r"(?:(?:now\s+)?(?:make|turn|have|do)\s+)?(?:it|this|that|the\s+(?:video|clip))?"
    r"(?:\s+(?:into|to|in|as|a|an|again))*",
    re.I,
)
"""What is left of "make it vertical" or "continue it" once the parameter words are out."""
_TRAILING = re.compile(
    r"(?:[\s,;:-]+|\s+(?:please|pls|thanks|thank\s+you|for\s+me|like|each))+$", re.I
)


def _tidy(text: str) -> str:
    text = re.sub(r"\([\s,;:]*\)|\[[\s,;:]*\]", " ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.!-]+", "", text)
    return _TRAILING.sub("", text).strip()


def _strip_leads(text: str, leads: list[re.Pattern[str]], *, empty: bool = False) -> str:
    """`text` without its leading request words (down to nothing only when `empty`).

    Fillers ("ok", "please", "can you") go as often as they come; the words that name the
    medium ("a video of") go once, so "a video of a picture frame" keeps its picture frame.
    """
    text = _tidy(text)
    used: set[re.Pattern[str]] = set()
    changed = True
    while changed:
        changed = False
        for lead in leads:
            if lead in used:
                continue
            stripped = _tidy(lead.sub("", text, count=1))
            if stripped != text and (stripped or empty):
                text, changed = stripped, True
                if lead not in _FILLERS:
                    used.add(lead)
    return text


def _storyboard(text: str) -> Reading | None:
    if _TAG.search(text):
        board = parse_storyboard_text(text)
        shots = tuple(ShotAsked(scene.prompt, scene.seconds) for scene in board.scenes)
        style = board.scenes[0].style or ""
        return Reading("storyboard", "", shots=shots, style=style, source=text)
    marks = list(_SHOT_MARK.finditer(text))
    if len(marks) < 2:
        return None
    head = text[: marks[0].start()]
    shape = find_shape(head)
    if shape is not None:
        head = shape.rest
    found: list[ShotAsked] = []
    for number, mark in enumerate(marks):
        end = marks[number + 1].start() if number + 1 < len(marks) else len(text)
        body = text[mark.end() : end]
        length = find_seconds(mark.group("paren") or "")
        if length is None and (length := find_seconds(body)) is not None:
            body = length.rest
        if prompt := _tidy(body):
            found.append(ShotAsked(prompt, None if length is None else float(length.value)))
    style = _tidy(_STORYBOARD_LEAD.sub("", head, count=1))
    return Reading(
        "storyboard",
        "",
        size=None if shape is None else str(shape.value),
        size_words=None if shape is None else shape.words,
        shots=tuple(found),
        style=style,
    )


def _parameters(text: str) -> tuple[str, dict[str, Any], bool]:
    """`text` without its length, shape and takes words; what they ask; whether the length is
    one to add ("8 more seconds")."""
    values: dict[str, Any] = {"extras": []}
    more = False
    if (seconds := find_seconds(text)) is not None:
        values.update(seconds=float(seconds.value), seconds_words=seconds.words)
        text, more = seconds.rest, seconds.more
    if (shape := find_shape(text)) is not None:
        values.update(size=str(shape.value), size_words=shape.words)
        text = shape.rest
        while (again := find_shape(text)) is not None:  # "vertical … 9:16": one shape, said twice
            if again.value != shape.value:
                values["extras"].append(again.words)
            text = again.rest
    if (takes := find_takes(text)) is not None:
        count = int(takes.value) if isinstance(takes.value, float) else None
        values.update(takes=count, takes_words=takes.words)
        text = takes.rest
    return _tidy(text), values, more


def _new_intent(text: str, image: bool, values: dict[str, Any]) -> tuple[Intent, str]:
    if image:
        return "image", _strip_leads(text, _LEADS)
    if "takes_words" in values:
        return "variations", _strip_leads(text, _LEADS)
    if _LONG_WORDS.search(text):
        return "long", _strip_leads(text, _LEADS)
    return "generate", _strip_leads(text, _LEADS)


def read_words(text: str, *, earlier_video: bool = False, earlier_image: bool = False) -> Reading:
    """What `text` literally asks for; `earlier_video`: sorakit made a video earlier in the chat;
    `earlier_image`: sorakit's latest answer is an image (words that point at it reuse it)."""
    text = text.replace("\u2019", "'").replace("\u00d7", "x")
    board = _storyboard(text)
    if board is not None:
        return board
    ids = _VIDEO_ID.findall(text)
    video_id = ids[0] if ids else None
    rest = _VIDEO_ID.sub(" ", text)
    image = _IMAGE.search(rest) is not None and _VIDEO_WORDS.search(rest) is None
    reuse: ImageReuse | None = None
    if (match := _REUSE.search(rest)) is not None and (match.group("which") or match.group("tail")):
        reuse = "first" if (match.group("which") or "").lower() == "first" else "latest"
        rest = f"{rest[: match.start()]} {rest[match.end() :]}"
    elif earlier_image and (match := _MADE_IMAGE.search(rest)) is not None:
        reuse = "latest"
        rest = f"{rest[: match.start()]} {rest[match.end() :]}"
    tidy, values, more = _parameters(rest)
    has_video = earlier_video or video_id is not None
    new = _NEW.search(tidy) is not None and not re.search(r"\bremix", tidy, re.I)
    intent: Intent
    if has_video and not new and (more or _EXTEND.search(tidy)):
        intent, prompt = "extend", _strip_leads(tidy, _EXTEND_LEADS, empty=True)
    elif has_video and not new and (video_id is not None or _REMIX.search(tidy)):
        intent, prompt = "remix", _strip_leads(tidy, _REMIX_LEADS, empty=True)
    elif not has_video and (asked := _IT_WORDS.search(tidy)) is not None:
        intent = "remix" if asked.group(0).lower().startswith("remix") else "extend"
        leads = _REMIX_LEADS if intent == "remix" else _EXTEND_LEADS
        prompt = _strip_leads(tidy, leads, empty=True)
    else:
        intent, prompt = _new_intent(tidy, image, values)
    if intent in ("remix", "extend") and _NOTHING.fullmatch(prompt):
        prompt = ""
    return Reading(
        intent,
        prompt,
        it=intent in ("remix", "extend") and video_id is None,
        video_id=video_id,
        reuse_image=reuse,
        **values,
    )

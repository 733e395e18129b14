"""The parameter words of a request: lengths, shapes and the number of takes, found and taken out.

Each finder looks for its words in the text, and answers what they ask for and the text without
them (with the little words that only joined them to the sentence: "for 7 seconds", "in portrait
mode", "in 3 versions"), so what is left is the prompt. Shapes are given as the size words and
ratios that `engine.planning.resolve_size` understands (`vertical`, `16:9`, `square`) or as a
`WxH`; nothing here knows which sizes or lengths a model has.

Numbers may be words ("seven", "twenty-five", "a minute and a half", "half a minute") and
lengths may be clock times ("0:30", "1:30"). A number glued to an `s` that reads as a decade
("the 80s", "1990s", "a 70s look") is not a length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORD_NUMBERS: dict[str, int] = {word: value for value, word in enumerate(_UNITS)}
WORD_NUMBERS.update({word: 20 + 10 * index for index, word in enumerate(_TENS)})
WORD_NUMBERS.update({"a couple of": 2, "a couple": 2, "a pair of": 2, "a dozen": 12})

_NUMBER_WORD = (
    r"(?:(?:" + "|".join(_TENS) + r")(?:[\s-](?:" + "|".join(_UNITS[1:10]) + r"))?"
    r"|" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")"
)
NUMBER = rf"(?:\d+(?:\.\d+)?|{_NUMBER_WORD})"
"""A number in digits or in words (not `a`: "a second cat" is no length)."""
_HALF = r"(?P<half>\s+and\s+a\s+half|\s*½)?"
_SECONDS_UNIT = r"(?:seconds?|secs?|s)\b"
_DECADE_LOOKS = (
    r"\s*(?:style|era|vibes?|aesthetic|look|fashion|music|decade|sitcom|tv|cartoon|anime|"
    r"retro|disco|rock|hip|film|movie|commercial|ad|kid|child|woman|man|party)\b"
)
_JOINING = (
    r"(?:(?:(?P<by>by|add(?:\s+another)?|another|an?\s+(?:extra|additional)|extra|additional)|"
    r"for|of|about|around|roughly|approximately|like|lasting|that\s+(?:lasts|is)|at|in|each|,)\s+)"
    r"{0,2}"
)
_MORE = r"(?P<more>\s+(?:more|extra|additional))?"


def number_value(words: str) -> float:
    """`"7"`, `"seven"`, `"twenty-five"`, `"2.5"` as a number."""
    text = " ".join(words.lower().replace("-", " ").split())
    if text in WORD_NUMBERS:
        return float(WORD_NUMBERS[text])
    if " " in text:
        tens, unit = text.split(" ", 1)
        return float(WORD_NUMBERS[tens] + WORD_NUMBERS[unit])
    return float(text)


@dataclass(frozen=True)
class Found:
    """What some words ask for, the words as written, and the text with them taken out."""

    value: float | str
    words: str
    rest: str
    more: bool = False
    """A length to add ("by 8 seconds", "8 more seconds"), not a length to be."""


def _cut(text: str, start: int, end: int) -> str:
    return f"{text[:start]} {text[end:]}"


def _found(text: str, match: re.Match[str], value: float | str) -> Found:
    return Found(value, match.group("core").strip(), _cut(text, match.start(), match.end()))


# lengths ---------------------------------------------------------------------------------------

_CLOCK = re.compile(
    r"(?<!\bat\s)(?<![\d:.])(?P<core>(?P<m>\d{1,2}):(?P<s>[0-5]\d))(?![\d:])(?!\s*[ap]\.?m)"
)
_DURATIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(_JOINING + r"(?P<core>(?:a|one)\s+minute\s+and\s+a\s+half)\b", re.I), "90"),
    (
        re.compile(_JOINING + r"(?P<core>half\s+(?:a\s+|of\s+a\s+)?minute|half-minute)\b", re.I),
        "30",
    ),
    (re.compile(_JOINING + r"(?P<core>(?:a|one)\s+full\s+minute|a\s+minute)\b", re.I), "60"),
    (
        re.compile(
            _JOINING + rf"(?P<core>(?P<n>{NUMBER}){_HALF}{_MORE}[\s-]*(?:minutes?|mins?)\b"
            rf"(?:\s*(?:and\s+)?(?P<s>{NUMBER})[\s-]*{_SECONDS_UNIT})?)",
            re.I,
        ),
        "minutes",
    ),
    (
        re.compile(
            _JOINING + rf"(?P<core>(?P<n>{NUMBER}){_HALF}{_MORE}(?P<gap>[\s-]*){_SECONDS_UNIT})",
            re.I,
        ),
        "seconds",
    ),
]
_LONG = re.compile(
    r"^(?:[\s-]+long\b|[\s-]+in\s+length\b|[\s-]+duration\b|\s+each\b|\s+apiece\b)", re.I
)


def _is_decade(text: str, match: re.Match[str]) -> bool:
    """`80s`, `1990s`, `the 70s`, `a 60s look`: a decade, not a length."""
    core = match.group("core")
    if match.group("gap") or not core.lower().endswith("s") or not core[:-1].isdigit():
        return False
    value = int(core[:-1])
    if not (value >= 1000 or (20 <= value <= 90 and value % 10 == 0)):
        return False
    before = text[: match.start("core")].lower()
    if re.search(r"(?:\bthe|')\s*$", before):
        return True
    return re.match(_DECADE_LOOKS, text[match.end() :], re.I) is not None


def find_seconds(text: str) -> Found | None:
    """The first length written in `text`, in seconds ("7 seconds", "half a minute", "0:30")."""
    best: tuple[int, Found] | None = None
    clock = _CLOCK.search(text)
    if clock is not None and not is_ratio(clock.group("core")):
        clock_seconds = int(clock.group("m")) * 60 + int(clock.group("s"))
        best = (clock.start(), _found(text, clock, float(clock_seconds)))
    for pattern, kind in _DURATIONS:
        for match in pattern.finditer(text):
            if kind == "seconds" and _is_decade(text, match):
                continue
            if best is not None and match.start("core") >= best[0]:
                break
            value = _duration(match, kind)
            if value is None:
                continue
            end = match.end()
            tail = _LONG.match(text[end:])
            if tail is not None:
                end += tail.end()
            more = bool(match.groupdict().get("by") or match.groupdict().get("more"))
            found = Found(value, match.group("core").strip(), _cut(text, match.start(), end), more)
            best = (match.start("core"), found)
            break
    return None if best is None else best[1]


def _duration(match: re.Match[str], kind: str) -> float | None:
    if kind not in ("minutes", "seconds"):
        return float(kind)
    value = number_value(match.group("n")) + (0.5 if match.group("half") else 0.0)
    if kind == "minutes":
        value *= 60
        if match.group("s"):
            value += number_value(match.group("s"))
    return value if 0 < value <= 36_000 else None


# shapes ----------------------------------------------------------------------------------------

COMMON_RATIOS = frozenset(
    [
        "16:9",
        "9:16",
        "1:1",
        "4:3",
        "3:4",
        "4:5",
        "5:4",
        "21:9",
        "9:21",
        "3:2",
        "2:3",
        "2:1",
        "1:2",
        "16:10",
        "10:16",
        "2.39:1",
        "2.35:1",
        "1.85:1",
    ]
)
"""Ratios that read as shapes even where they look like a clock time (`16:10`)."""
_SHAPE_END = (
    r"(?:\s+(?:format|orientation|mode|aspect\s+ratio|aspect|ratio|screen|layout|framing|frame|"
    r"resolution|shape|size))?"
)
_LEAD = r"(?:\b(?:in|as|for|with|at|on)\s+(?:an?\s+|the\s+|my\s+|our\s+)?)?"
_RATIO = re.compile(
    _LEAD
    + r"(?P<core>(?<![\d:.])(?P<w>\d{1,2}(?:\.\d{1,2})?)\s*[:x]\s*(?P<h>\d{1,2})(?![\d:]))"
    + _SHAPE_END,
    re.I,
)
_PIXELS = re.compile(
    _LEAD + r"(?P<core>\b(?P<w>\d{3,4})\s*[x×]\s*(?P<h>\d{3,4})\b)" + _SHAPE_END, re.I
)
_RESOLUTION = re.compile(
    _LEAD
    + r"(?P<core>\b(?:(?P<p>480|540|720|1080|1440|2160)p|(?P<k>4k|uhd)|(?P<fhd>full[\s-]?hd))\b)"
    + _SHAPE_END,
    re.I,
)
_FOLLOWS_SHAPE = (
    r"(?=\s*(?:(?:video|clip|film|movie|format|orientation|mode|aspect|ratio|version|"
    r"view|layout|framing|frame|shape|crop|screen|animation|short|reel)\b))"
)


def _shape_word(word: str) -> str:
    """A word that is a shape only in some places ("in portrait", "…, landscape", "landscape
    video"), and a thing in others ("a portrait of", "a mountain landscape")."""
    alone = rf"(?:(?<=,\s)|^){word}(?=\s*(?:[,.;]|$))|\b{word}(?=\s*:)"
    after = "|".join(rf"(?<=\b{lead}\s){word}\b" for lead in ("it", "in", "as"))
    return rf"{alone}|{after}|\b{word}{_FOLLOWS_SHAPE}"


_SHAPES: list[tuple[str, str]] = [
    ("vertical", r"\bvertical(?:ly)?\b"),
    ("vertical", r"\b(?:tik\s?tok|snapchat)\b"),
    ("vertical", r"\b(?:youtube|yt)\s+shorts?\b|\bfor\s+shorts\b|\bshorts\s+format\b"),
    ("vertical", r"\b(?:instagram|insta|ig|facebook|fb)\s+(?:reels?|stor(?:y|ies))\b"),
    ("vertical", r"\bfor\s+(?:reels?|stories)\b|\breels?\s+format\b"),
    ("vertical", r"\bfor\s+(?:a\s+|the\s+|my\s+)?(?:phone|mobile|smartphone|cell\s?phone)s?\b"),
    ("vertical", r"\b(?:phone|mobile|smartphone)[\s-]+(?:format|screen|sized?|aspect|wallpaper)\b"),
    ("vertical", r"\b(?:tall|upright)" + _FOLLOWS_SHAPE),
    ("portrait", _shape_word("portrait")),
    ("horizontal", r"\bhorizontal(?:ly)?\b(?!\s+(?:lines?|stripes?|bars?))"),
    ("widescreen", r"\bwide[\s-]?screen\b|\bwide\s+format\b|\bcinemascope\b"),
    ("16:9", r"\b(?:for\s+)?(?:youtube|yt)\b(?!\s+shorts?)"),
    ("landscape", _shape_word("landscape")),
    ("square", _shape_word("square") + r"|(?<=\bin\sa\s)square\b|\bsquare(?=\s*[.!]?\s*$)"),
    (
        "square",
        r"\b(?:for\s+)?(?:instagram|insta)(?:\s+(?:post|feed|grid))?\b(?!\s+(?:reels?|stor))",
    ),
]
_SHAPE_PATTERNS = [
    (word, re.compile(_LEAD + rf"(?P<core>{pattern})" + _SHAPE_END, re.I))
    for word, pattern in _SHAPES
]
_SHORT_SIDES = {"480": 480, "540": 540, "720": 720, "1080": 1080, "1440": 1440, "2160": 2160}


def is_ratio(text: str) -> bool:
    """Whether `16:9`, `9:16`, `4:3` … (not a clock time such as `1:30`)."""
    compact = re.sub(r"\s+", "", text).replace("/", ":").replace("x", ":")
    return compact in COMMON_RATIOS


def find_shape(text: str) -> Found | None:
    """The shape or size asked: a size word or ratio `resolve_size` knows, or a `WxH`.

    A resolution ("1080p", "4k") becomes a `WxH` in the orientation also asked (landscape when
    none is), so a model's sizes are matched by shape and then by area.
    """
    pixels = _PIXELS.search(text)
    if pixels is not None:
        return _found(text, pixels, f"{int(pixels.group('w'))}x{int(pixels.group('h'))}")
    for match in _RATIO.finditer(text):
        ratio = f"{match.group('w')}:{match.group('h')}"
        if ":" in match.group("core") and not is_ratio(ratio):
            continue  # a clock time
        if "x" in match.group("core").lower() and not is_ratio(ratio):
            continue
        return _found(text, match, ratio)
    shape = next(
        (
            (word, named)
            for word, pattern in _SHAPE_PATTERNS
            if (named := pattern.search(text)) is not None
        ),
        None,
    )
    resolution = _RESOLUTION.search(text)
    if resolution is None:
        return None if shape is None else _found(text, shape[1], shape[0])
    short = _SHORT_SIDES.get(resolution.group("p") or "", 2160 if resolution.group("k") else 1080)
    long_side = short * 16 // 9
    rest = _cut(text, resolution.start(), resolution.end())
    words = resolution.group("core").strip()
    if shape is not None:
        again = next(
            (m for w, p in _SHAPE_PATTERNS if w == shape[0] and (m := p.search(rest))), None
        )
        if again is not None:
            rest = _cut(rest, again.start(), again.end())
            words = f"{words} {shape[1].group('core').strip()}"
    upright = shape is not None and shape[0] in ("vertical", "portrait")
    size = f"{short}x{long_side}" if upright else f"{long_side}x{short}"
    if shape is not None and shape[0] == "square":
        size = f"{short}x{short}"
    return Found(size, words, rest)


# takes -----------------------------------------------------------------------------------------

TAKE_NOUNS = (
    r"(?:versions?|variations?|variants?|takes?|options?|alternatives?|videos?|clips?|renders?|"
    r"tries|attempts|images?|pictures?|photos?|stills?|drafts?|ideas?)"
)
_COUNT = r"(?:\d{1,3}|" + _NUMBER_WORD + r"|a\s+couple(?:\s+of)?|a\s+pair\s+of|a\s+dozen)"
_TAKES = re.compile(
    r"(?:\bin\s+|,\s*)?(?<!\bthese\s)(?<!\bthose\s)(?<!\bthe\s)(?<!\bmy\s)(?<!\bboth\s)"
    r"(?<!\bwith\s)(?<!\busing\s)(?<!\bfrom\s)"
    rf"(?P<core>\b(?P<n>{_COUNT})\s+(?:(?:different|distinct|separate|alternative|unique|"
    rf"more|other)\s+)?{TAKE_NOUNS})\b(?:\s*(?:of|on|showing|with|for|:)(?=\s))?",
    re.I,
)
_VAGUE = re.compile(
    r"(?:\bin\s+|,\s*)?(?P<core>\b(?:a\s+few|several|some|multiple|a\s+handful\s+of|a\s+bunch\s+of|"
    r"a\s+number\s+of|a\s+range\s+of|various)\s+(?:different\s+)?"
    r"(?:versions|variations|variants|takes|options|alternatives|videos|clips|images|pictures|"
    r"photos|stills|drafts|ideas))\b(?:\s*(?:of|on|showing|with|for|:)(?=\s))?",
    re.I,
)
_BARE = re.compile(
    r"(?P<core>\b(?:(?:give|show|make|generate|create|try|render)\s+(?:me\s+|us\s+)?)?"
    r"(?:variations|options|alternatives))\b(?:\s*(?:of|for|on|:)(?=\s))?",
    re.I,
)


def find_takes(text: str) -> Found | None:
    """How many takes are asked: a number ("3 versions") as a float, or vague words as a str."""
    for match in _TAKES.finditer(text):
        count = match.group("n")
        value = number_value(count)
        if value >= 2 or re.search(
            r"version|variation|variant|take|option", match.group("core"), re.I
        ):
            return _found(text, match, value)
    for pattern in (_VAGUE, _BARE):
        vague = pattern.search(text)
        if vague is not None:
            return _found(text, vague, vague.group("core").strip().lower())
    return None

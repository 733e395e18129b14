"""Style presets: `{anime}`, `{retro}`, … in a prompt, turned into modifier sentences.

sora2api offers these tags and sends them as the consumer app's `style_id`; the Videos API has no
such field, so here each tag becomes words the model reads. The rules, in order:

- `{name}` (letters, digits, `-` or `_`; case and inner spaces ignored) is a style tag. The tag is
  taken out where it stands, and its modifier sentence is added after the prompt, each style once,
  in the order the tags first appear.
- `{{` and `}}` are literal braces, as in `str.format`: `{{anime}}` leaves `{anime}` in the prompt.
- Any other brace (`{a sign}`, `{% … %}`, `{"json": 1}`) is left as it is.
- An unknown tag is an error that lists the known ones: a typo must not reach a paid render.

Storyboard templates are Jinja2, whose `{{ var }}` is rendered *before* styles are applied, so a
tag may come from the template, a variable, the storyboard's style or the scene's prompt alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from sorakit.errors import InvalidRequestError

STYLES: Mapping[str, str] = MappingProxyType(
    {
        # The ten that sora2api accepts, in its order.
        "festive": "Festive holiday mood: warm string lights, garlands and gentle snowfall, "
        "cosy saturated reds and golds, joyful celebratory energy.",
        "kakalaka": "Loud, chaotic, meme-like energy: punchy saturated colours, snap zooms, "
        "exaggerated reactions and comedic timing.",
        "news": "Styled as a broadcast news report: steady tripod framing, a presenter-style "
        "composition, crisp even studio lighting and a lower-third caption area.",
        "selfie": "Filmed as a front-camera selfie video: held at arm's length, the subject "
        "close to the lens, slight wide-angle distortion and natural phone handshake.",
        "handheld": "Handheld documentary camera: organic shake, quick reframing, natural "
        "available light and an intimate, in-the-moment feel.",
        "golden": "Golden hour light: a low warm sun, long soft shadows, glowing rim light and "
        "a gentle lens flare.",
        "anime": "Anime style: hand-drawn cel shading, clean expressive line art, vivid flat "
        "colours and painted backgrounds, as in a Japanese animated film.",
        "retro": "Retro 1980s look: VHS texture, slight colour bleed and scan lines, neon "
        "accents and a warm analog palette.",
        "nostalgic": "Nostalgic home-movie feel: faded warm colours, soft focus, visible film "
        "grain and light leaks, like a memory from decades ago.",
        "comic": "Comic-book style: bold ink outlines, halftone dots, flat punchy colours and "
        "dynamic panel-like framing.",
        # sorakit's own.
        "cinematic": "Cinematic: shot on a large-format camera with anamorphic lenses, shallow "
        "depth of field, motivated lighting and a graded film look.",
        "pixel": "Pixel art: a low-resolution sprite look with a limited palette, crisp square "
        "pixels and stepped, frame-by-frame animation as in a 16-bit video game.",
        "noir": "Film noir: high-contrast black and white, hard shadows through blinds, smoky "
        "low-key lighting and Dutch angles.",
        "claymation": "Claymation: handmade plasticine figures with visible fingerprints, "
        "miniature sets and charming stop-motion movement.",
        "watercolor": "Watercolour painting: soft bleeding washes, paper texture and loose "
        "brushwork in gentle pastel tones.",
        "documentary": "Nature-documentary style: long-lens wildlife photography, patient "
        "locked-off shots and rich natural colour.",
    }
)
"""Style name -> the modifier sentence added to a prompt that carries `{name}`."""

_TOKEN = re.compile(r"\{\{|\}\}|\{[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*\}")
_MARK = "\x00"
_AROUND_MARK = re.compile(r"[ \t]*\x00(?:[ \t]*\x00)*[ \t]*([,;])?")


def known_styles() -> str:
    """The known tags, for messages and help: `{anime}, {cinematic}, …`."""
    return ", ".join(f"{{{name}}}" for name in sorted(STYLES))


def _tidy(text: str) -> str:
    """Close the gap a removed tag leaves: nothing at a line's edge or before punctuation."""

    def gap(match: re.Match[str]) -> str:
        before = text[match.start() - 1] if match.start() else "\n"
        after = text[match.end()] if match.end() < len(text) else "\n"
        if match.group(1):  # `a, {tag}, b` and `{tag}, b` lose the comma; `a {tag}, b` keeps it
            return "" if before in "\n([{,;" else match.group(1)
        if before in "\n([{" or after in "\n,.;:!?)]}":
            return ""
        return " "

    return _AROUND_MARK.sub(gap, text).strip()


def apply_styles(prompt: str) -> tuple[str, list[str]]:
    """The prompt with its style tags turned into modifier sentences, and the styles applied."""
    names: list[str] = []
    prompt = prompt.replace(_MARK, "")

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1).lower()
        if name not in STYLES:
            raise InvalidRequestError(
                f"Unknown style {{{match.group(1)}}}; the known styles are {known_styles()} "
                "(write {{ and }} for literal braces).",
                param="prompt",
                allowed=sorted(STYLES),
            )
        if name not in names:
            names.append(name)
        return _MARK

    text = _tidy(_TOKEN.sub(replace, prompt))
    if not names:
        return text, names
    modifiers = " ".join(STYLES[name] for name in names)
    if not text:
        return modifiers, names
    if text[-1] not in ".!?…":
        text += "."
    return f"{text} {modifiers}", names

"""Style tags: modifiers added once each, escapes and Jinja left alone, unknown tags refused."""

from __future__ import annotations

import pytest

from sorakit.errors import InvalidRequestError
from sorakit.pipelines.styles import STYLES, apply_styles, known_styles

SORA2API_STYLES = {
    "festive", "kakalaka", "news", "selfie", "handheld",
    "golden", "anime", "retro", "nostalgic", "comic",
}  # fmt: skip


def test_every_sora2api_style_and_the_brief_ones_exist() -> None:
    assert SORA2API_STYLES | {"cinematic", "pixel"} <= set(STYLES)
    for name, modifier in STYLES.items():
        assert name == name.lower() and modifier.endswith(".") and len(modifier) > 40
        prompt, names = apply_styles(f"a lighthouse at dusk {{{name}}}")
        assert names == [name]
        assert prompt == f"a lighthouse at dusk. {modifier}"
    with pytest.raises(TypeError):
        STYLES["mine"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("{anime} a cat on a roof", "a cat on a roof."),
        ("a cat on a roof {anime}", "a cat on a roof."),
        ("a cat {anime} on a roof", "a cat on a roof."),
        ("a cat on a roof {anime}.", "a cat on a roof."),
        ("a cat, {anime}, on a roof!", "a cat, on a roof!"),
        ("{anime}, a cat on a roof", "a cat on a roof."),
        ("a cat {anime}, on a roof", "a cat, on a roof."),
        ("a (cat {anime}) on a roof", "a (cat) on a roof."),
        ("a cat {ANIME}{ anime } on a roof", "a cat on a roof."),
        ("first line {anime}\n{anime} second line", "first line\nsecond line."),
    ],
)
def test_tags_are_taken_out_and_the_gap_closed(prompt: str, text: str) -> None:
    result, names = apply_styles(prompt)
    assert names == ["anime"]
    assert result == f"{text} {STYLES['anime']}"


def test_several_styles_keep_their_order_once_each() -> None:
    result, names = apply_styles("{retro} a diner {anime} at night {retro}")
    assert names == ["retro", "anime"]
    assert result == f"a diner at night. {STYLES['retro']} {STYLES['anime']}"
    assert apply_styles("{noir}") == (STYLES["noir"], ["noir"])


def test_plain_prompts_and_other_braces_are_untouched() -> None:
    for prompt in (
        "a cat on a roof",
        "a sign reading {hello world}",
        'a screen showing {"score": 3}',
        "{% if night %}moonlit{% endif %} street",
        "{# a comment #}",
        "a {1st} place trophy",
    ):
        assert apply_styles(prompt) == (prompt, [])


def test_doubled_braces_are_literal_and_never_styles() -> None:
    assert apply_styles("a banner saying {{anime}}") == ("a banner saying {anime}", [])
    assert apply_styles("{{ style }} shot of {{ prompt }}") == ("{ style } shot of { prompt }", [])
    assert apply_styles("{{{anime}}} banner") == (f"{{}} banner. {STYLES['anime']}", ["anime"])


def test_unknown_tags_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        apply_styles("a cat {animee} on a roof")
    message = str(caught.value)
    assert message.startswith("Unknown style {animee}; the known styles are {anime}, ")
    assert "{watercolor}" in message and "{{ and }}" in message
    assert caught.value.param == "prompt"
    assert caught.value.allowed == tuple(sorted(STYLES))
    assert known_styles().split(", ") == [f"{{{name}}}" for name in sorted(STYLES)]

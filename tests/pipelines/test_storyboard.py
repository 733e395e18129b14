"""Storyboards: the `[5s]` syntax, YAML/JSON files, templates, styles, snapping, trims and splits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from PIL import Image

from sorakit.catalog import ModelCapabilities, build_catalog
from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.pipelines.storyboard import (
    CUT,
    DEFAULT_CROSSFADE,
    Scene,
    Transition,
    load_storyboard,
    load_storyboard_file,
    parse_storyboard_data,
    parse_storyboard_text,
    plan_shots,
    timeline_seconds,
)
from sorakit.pipelines.styles import STYLES
from sorakit.settings import Settings

CapsFor = Callable[[str], ModelCapabilities]


@pytest.fixture
def caps_for(settings: Settings) -> CapsFor:
    catalog = build_catalog(settings)
    return lambda name: catalog.resolve(name).capabilities


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


FOX_YAML = """\
title: The fox
model: sora-2
size: "16:9"
style: "{anime} A red fox in a snowy forest"
transition: crossfade
template: "{{ style }}. {{ prompt }}, {{ camera }}"
vars:
  camera: slow dolly in
scenes:
  - prompt: the fox wakes up
    seconds: 5.5
    reference: frames/start.png
  - prompt: the fox runs
    seconds: 8
    vars: {camera: tracking shot}
    transition: {type: crossfade, seconds: 0.25}
  - prompt: the fox sleeps
    model: veo-3.1-generate-001
    size: portrait
    transition: cut
  - the fox dreams
"""


@pytest.fixture
def fox_file(tmp_path: Path) -> Path:
    (tmp_path / "frames").mkdir()
    Image.new("RGB", (64, 36), "white").save(tmp_path / "frames" / "start.png")
    return write(tmp_path / "fox.yaml", FOX_YAML)


def test_text_syntax_with_a_leading_style(caps_for: CapsFor) -> None:
    board = parse_storyboard_text(
        "{retro} A fox story\n\n[5s] a fox  wakes,\n  stretching [ 8.5S ]it runs [close-up]\n[4s]it sleeps."
    )
    assert [s.prompt for s in board.scenes] == [
        "a fox wakes, stretching",
        "it runs [close-up]",
        "it sleeps.",
    ]
    assert [s.seconds for s in board.scenes] == [5.0, 8.5, 4.0]
    assert [s.line for s in board.scenes] == [3, 4, 5]
    assert {s.style for s in board.scenes} == {"{retro} A fox story"}
    shots = plan_shots(board, caps_for, model="sora-2")
    assert [(s.seconds, s.trim_to) for s in shots] == [(8, 5.0), (12, 8.5), (4, 4.0)]
    assert shots[0].prompt == f"A fox story. a fox wakes, stretching. {STYLES['retro']}"
    assert shots[2].prompt == f"A fox story. it sleeps. {STYLES['retro']}"
    assert all(s.styles == ("retro",) and s.size == "720x1280" for s in shots)
    assert shots[0].changes == ("5 s renders as 8 s, trimmed to 5 s",)
    assert shots[2].changes == ()
    assert timeline_seconds(shots) == 17.5


def test_text_syntax_without_a_style_and_its_errors() -> None:
    board = parse_storyboard_text("[5.5s] a cat")
    assert board.scenes == [Scene(prompt="a cat", seconds=5.5, line=1)]
    for text, message in [
        ("a cat on a roof", "has no shots: start each one with its length in brackets"),
        ("[5s] a cat\n[4s]   \n", r"Shot 2 \(\[4s\] at line 2\) has no prompt"),
        ("[5s] a cat [0s] a dog", r"Shot 2 \(\[0s\] at line 1\) must last more than 0 s"),
    ]:
        with pytest.raises(InvalidRequestError, match=message):
            parse_storyboard_text(text)


def test_yaml_file_defaults_overrides_and_templates(fox_file: Path, caps_for: CapsFor) -> None:
    board = load_storyboard(str(fox_file))
    assert (board.title, board.source) == ("The fox", fox_file)
    first, second, third, fourth = board.scenes
    assert first.reference == fox_file.parent / "frames" / "start.png"
    assert first.transition == CUT  # the first scene joins nothing
    assert second.transition == Transition("crossfade", 0.25)
    assert third.transition == CUT and fourth.transition == Transition(
        "crossfade", DEFAULT_CROSSFADE
    )
    assert (first.size, third.size, third.model) == ("16:9", "portrait", "veo-3.1-generate-001")
    assert first.vars == {"camera": "slow dolly in"} and second.vars == {"camera": "tracking shot"}
    assert fourth.seconds is None and fourth.line == 21

    shots = plan_shots(board, caps_for)
    anime = STYLES["anime"]
    assert [s.prompt for s in shots] == [
        f"A red fox in a snowy forest. the fox wakes up, slow dolly in. {anime}",
        f"A red fox in a snowy forest. the fox runs, tracking shot. {anime}",
        f"A red fox in a snowy forest. the fox sleeps, slow dolly in. {anime}",
        f"A red fox in a snowy forest. the fox dreams, slow dolly in. {anime}",
    ]
    assert [(s.model, s.size, s.seconds, s.trim_to) for s in shots] == [
        ("sora-2", "1280x720", 8, 5.5),
        ("sora-2", "1280x720", 8, 8.0),
        ("veo-3.1-generate-001", "720x1280", 8, 8.0),  # veo's default length
        ("sora-2", "1280x720", 4, 4.0),  # sora-2's default length
    ]
    assert shots[0].reference == first.reference and shots[1].reference is None
    assert shots[0].changes == (
        "size 16:9 -> 1280x720 (sora-2 allows 720x1280, 1280x720)",
        "5.5 s renders as 8 s, trimmed to 5.5 s",
    )
    assert timeline_seconds(shots) == 5.5 + 8 + 8 + 4 - 0.25 - DEFAULT_CROSSFADE


def test_json_and_yaml_give_the_same_storyboard(fox_file: Path) -> None:
    data = yaml.safe_load(FOX_YAML)
    data["size"] = "16:9"
    json_file = write(fox_file.with_suffix(".json"), json.dumps(data, indent=2))
    from_yaml, from_json = load_storyboard(fox_file), load_storyboard(json_file)
    strip = [Scene(**{**vars(s), "line": None}) for s in from_yaml.scenes]
    assert [Scene(**{**vars(s), "line": None}) for s in from_json.scenes] == strip
    assert from_json.scenes[1].line is not None  # JSON is YAML enough to have line numbers


def test_size_ratio_stays_text_in_yaml(tmp_path: Path) -> None:
    board = load_storyboard(write(tmp_path / "b.yml", "size: 16:9\nscenes: [a cat]\n"))
    assert board.scenes[0].size == "16:9"  # not 969, YAML 1.1's base-60 reading


def test_a_bare_list_and_string_scenes(caps_for: CapsFor) -> None:
    board = parse_storyboard_data(["a cat", {"prompt": "a dog", "seconds": "6s"}])
    assert [(s.prompt, s.seconds) for s in board.scenes] == [("a cat", None), ("a dog", 6.0)]
    shots = plan_shots(board, caps_for, model="veo-3.1-generate-001", size="landscape")
    assert [(s.seconds, s.trim_to, s.size) for s in shots] == [
        (8, 8.0, "1280x720"),
        (6, 6.0, "1280x720"),
    ]
    with_default = parse_storyboard_data({"seconds": 5, "scenes": ["a cat", {"prompt": "b"}]})
    assert [s.seconds for s in with_default.scenes] == [5.0, 5.0]
    shots = plan_shots(with_default, caps_for, model="veo-3.1-generate-001")
    assert [(s.seconds, s.trim_to) for s in shots] == [(6, 5.0), (6, 5.0)]


BAD_FILES = [
    ("scenes:\n  - prompt: a\n    promt: b\n", "line 3: scene 1: 'promt' is not a scene field"),
    (
        "scenes:\n  - prompt: a\n  - prompt: b\n    seconds: abc\n",
        "line 4: scene 2: 'seconds' must be a number",
    ),
    ("scenes:\n  - prompt: a\n    seconds: -3\n", "line 3: scene 1: 'seconds' must be more than 0"),
    ("scenes:\n  - seconds: 4\n", "line 2: scene 1 has no 'prompt'"),
    ("scenes:\n  - prompt: '  '\n", "line 2: scene 1: 'prompt' must be a non-empty string"),
    ("scenes:\n  - 42\n", "line 2: scene 1 must be a mapping with a 'prompt'"),
    ("scene:\n  - a\n", "line 1: 'scene' is not a storyboard field"),
    ("scenes: []\n", "line 1: 'scenes' must be a non-empty list"),
    ("just text\n", "must be a mapping with a 'scenes' list"),
    (
        "scenes:\n  - prompt: a\n    reference: nope.png\n",
        "line 3: scene 1: 'reference' names no file",
    ),
    ("transition: wipe\nscenes: [a, b]\n", "line 1: 'transition' must be 'cut' or 'crossfade'"),
    (
        "scenes:\n  - prompt: a\n    transition: {type: crossfade, secs: 1}\n",
        "line 3: scene 1: 'transition' has unknown keys \\['secs'\\]",
    ),
    ("vars: {prompt: x}\nscenes: [a]\n", "line 1: 'prompt' is reserved"),
    ("vars: {2x: x}\nscenes: [a]\n", "'2x' is not a valid variable name"),
    (
        "template: '{{ prompt }'\nscenes: [a]\n",
        "line 1: 'template' has a template error at its line 1",
    ),
    (
        "template: '{{ prompt }}, {{ camra }}'\nvars: {camera: pan}\nscenes: [a]\n",
        "line 1: 'template' uses camra, which is not defined; defined: camera, model, part",
    ),
    (
        "style: noir\nscenes:\n  - prompt: a\n    template: 'title card: {{ prompt }}'\n",
        "line 4: scene 1: 'template' never uses {{ style }}",
    ),
    ("scenes:\n  - prompt: a\n   seconds: 4\n", "line 3: not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_files_name_the_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        load_storyboard(write(tmp_path / "board.yaml", text))
    assert str(caught.value).startswith("board.yaml")
    assert message in str(caught.value) or caught.match(message)


def test_bad_json_and_error_params(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match=r"board.json line 3: not valid JSON"):
        load_storyboard(write(tmp_path / "board.json", '{"scenes": [\n "a",\n ]}'))
    with pytest.raises(InvalidRequestError) as caught:
        load_storyboard(
            write(tmp_path / "b.json", '{"scenes": ["a", {"prompt": "b", "seconds": 0}]}')
        )
    assert caught.value.param == "scenes[1].seconds"
    assert "b.json line 1: scene 2: 'seconds'" in str(caught.value)


def test_style_can_be_cleared_per_scene(caps_for: CapsFor) -> None:
    board = parse_storyboard_data(
        {
            "style": "{noir}",
            "scenes": [
                "a detective",
                {"prompt": "THE END", "style": "", "template": "title card: {{ prompt }}"},
            ],
        }
    )
    shots = plan_shots(board, caps_for, model="sora-2")
    assert shots[0].prompt == f"a detective. {STYLES['noir']}" and shots[0].styles == ("noir",)
    assert shots[1].prompt == "title card: THE END" and shots[1].styles == ()


def test_templates_fail_clearly_at_render(caps_for: CapsFor) -> None:
    typo = parse_storyboard_data(
        {"vars": {"camera": "pan"}, "template": "{{ prompt }} {{ camera.angle }}", "scenes": ["a"]}
    )
    with pytest.raises(InvalidRequestError, match="scene 1: the template failed: .*angle"):
        plan_shots(typo, caps_for, model="sora-2")
    unsafe = parse_storyboard_data({"template": "{{ prompt.__class__.__mro__ }}", "scenes": ["a"]})
    with pytest.raises(InvalidRequestError, match="scene 1: the template failed"):
        plan_shots(unsafe, caps_for, model="sora-2")
    built_ins = parse_storyboard_data(
        {
            "template": "{{ scene }}/{{ part }}/{{ parts }} {{ seconds }} {{ model }} {{ size }}"
            " {{ title }}: {{ prompt }} {{ '{{retro}}' }}",
            "scenes": [{"prompt": "a", "seconds": 30, "title": "Run"}],
        }
    )
    shots = plan_shots(built_ins, caps_for, model="sora-2")
    assert [s.prompt for s in shots] == [
        "1/1/2 30.0 sora-2 720x1280 Run: a {retro}",
        "1/2/2 30.0 sora-2 720x1280 Run: a {retro}",
    ]


def test_long_scenes_are_split_or_refused(caps_for: CapsFor) -> None:
    board = parse_storyboard_data(
        {"scenes": [{"prompt": "a long run", "seconds": 30, "transition": "crossfade"}]}
    )
    shots = plan_shots(board, caps_for, model="sora-2")
    assert [(s.part, s.parts, s.seconds, s.trim_to, s.continues) for s in shots] == [
        (0, 2, 16, 16.0, False),
        (1, 2, 16, 14.0, True),
    ]
    assert shots[0].changes == ("30 s renders as 16 + 16 s, trimmed to 30 s",)
    assert all(s.transition == CUT for s in shots)
    with pytest.raises(
        InvalidRequestError, match="scene 1 lasts 30 s, longer than sora-2's longest"
    ):
        plan_shots(board, caps_for, model="sora-2", split=False)
    cases = {
        ("veo-3.1-generate-001", 21.0): [(8, 8.0), (8, 8.0), (6, 5.0)],
        ("veo-3.1-generate-001", 20.5): [(8, 8.0), (8, 8.0), (6, 4.5)],
        ("fal/hailuo-2.3", 13.0): [(10, 10.0), (6, 3.0)],
        ("sora-2", 40.0): [(20, 20.0), (20, 20.0)],
        ("sora-2", 41.0): [(16, 16.0), (16, 16.0), (12, 9.0)],
    }
    for (model, seconds), expected in cases.items():
        scene = parse_storyboard_data([{"prompt": "x", "seconds": seconds}])
        planned = plan_shots(scene, caps_for, model=model)
        assert [(s.seconds, s.trim_to) for s in planned] == expected, (model, seconds)
        assert sum(s.trim_to for s in planned) == seconds


def test_plan_refusals(caps_for: CapsFor) -> None:
    board = parse_storyboard_data(
        ["a", {"prompt": "b", "seconds": 4, "transition": {"seconds": 4}}]
    )
    with pytest.raises(InvalidRequestError, match="scene 1 names no model"):
        plan_shots(board, caps_for)
    with pytest.raises(
        InvalidRequestError, match="scene 2: a crossfade of 4 s does not fit in shots of 4 s"
    ):
        plan_shots(board, caps_for, model="sora-2")
    with pytest.raises(NotFoundError, match="sora-3"):
        plan_shots(board, caps_for, model="sora-3")
    with pytest.raises(InvalidRequestError, match="Unknown style {anme}"):
        plan_shots(parse_storyboard_text("[4s] a {anme} cat"), caps_for, model="sora-2")
    with pytest.raises(InvalidRequestError, match="32000"):
        plan_shots(parse_storyboard_text("[4s] " + "x" * 32001), caps_for, model="sora-2")


def test_load_storyboard_dispatch(tmp_path: Path, fox_file: Path) -> None:
    text_file = write(tmp_path / "shots.txt", "[4s] a cat\n[8s] a dog\n")
    assert [s.prompt for s in load_storyboard(str(text_file)).scenes] == ["a cat", "a dog"]
    assert load_storyboard(text_file).source == text_file
    assert load_storyboard_file(fox_file).title == "The fox"
    assert load_storyboard("[4s] a cat").scenes[0].prompt == "a cat"
    with pytest.raises(InvalidRequestError, match="No such storyboard file: missing.yaml"):
        load_storyboard("missing.yaml")
    with pytest.raises(InvalidRequestError, match="has no shots"):
        load_storyboard("a cat on a roof")
    with pytest.raises(InvalidRequestError, match="Cannot read the storyboard"):
        load_storyboard_file(tmp_path / "nope.json")

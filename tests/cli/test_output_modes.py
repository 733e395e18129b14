"""What the CLI writes and says: file modes from the umask, honest --help, one warning, plans."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import sorakit

WIDE = {"COLUMNS": "200"}


@pytest.fixture
def umask_027() -> Iterator[None]:
    """The test runs (and its subprocesses start) under umask 027."""
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode)
        for path in folder.rglob("*")
        if path.is_file()
    }


def _last_line(result: object) -> Path:
    stdout = getattr(result, "stdout", "")
    assert getattr(result, "returncode", 1) == 0, getattr(result, "stderr", "")
    return Path(stdout.strip().splitlines()[-1])


@pytest.mark.usefixtures("umask_027")
def test_every_output_follows_the_umask(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    clip = _last_line(sorakit("generate", "a red kite", "-q", "-s", "4", "-o", str(out), home=home))
    long = _last_line(
        sorakit(
            "long", "a fox in snow", "--seconds", "8", "-n", "2", "-q", "-o", str(out), home=home
        )
    )
    keyframes = _last_line(
        sorakit(
            "long", "a boat", "--seconds", "8", "-n", "2", "--mode", "keyframes", "-q", "-o", str(out),
            home=home,
        )
    )  # fmt: skip
    _last_line(sorakit("variations", "a cup", "-n", "2", "-q", "-o", str(out), home=home))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "a kettle", "seconds": 4}\n')
    report = out / "report.csv"
    _last_line(
        sorakit("batch", str(rows), "--report", str(report), "-q", "-o", str(out), home=home)
    )
    media = out / "media"
    frame = _last_line(
        sorakit("media", "frame", str(clip), "--first", "-o", str(media / "f.png"), home=home)
    )
    for args in (
        ["stitch", str(clip), str(long), "-o", str(media / "joined.mp4")],
        ["trim", str(clip), "-s", "2", "-o", str(media / "trim.mp4")],
        ["preview", str(clip), "-o", str(media / "preview.gif"), "-s", "1"],
        ["preview", str(clip), "-o", str(media / "preview.webm"), "-s", "1"],
        ["montage", str(frame), str(frame), "-o", str(media / "sheet.jpg")],
        ["fit", str(frame), "--size", "64x64", "-o", str(media / "fit.png")],
    ):
        _last_line(sorakit("media", *args, home=home))

    written = _modes(out)
    assert keyframes.name in {Path(name).name for name in written}
    for kind in ("keyframes/01.png", "contact.png", "report.json", "report.csv", "plan.json"):
        assert any(name.endswith(kind) for name in written), (kind, written)
    assert {name: mode for name, mode in written.items() if mode != 0o640} == {}
    assets = _modes(home / "assets")
    assert assets and set(assets.values()) == {0o640}, assets


def test_outputs_under_umask_022_are_world_readable(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        home = tmp_path / "home"
        clip = _last_line(sorakit("generate", "a kite", "-q", "-s", "4", home=home))
        preview = _last_line(
            sorakit("media", "preview", str(clip), "-o", str(tmp_path / "p.webm"), home=home)
        )
        long = _last_line(sorakit("long", "a fox", "--seconds", "8", "-n", "2", "-q", home=home))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(preview.stat().st_mode) == 0o644
    assert set(_modes(long.parent).values()) == {0o644}


def test_help_shows_flags_and_counters_as_flags(tmp_path: Path) -> None:
    helped = sorakit("jobs", "--help", home=tmp_path, env=WIDE)
    assert helped.returncode == 0, helped.stderr
    [verbose] = [line for line in helped.stdout.splitlines() if "--verbose" in line]
    assert "<int>" not in verbose and "[default: 0]" not in verbose
    assert "-vv" in verbose
    [as_json] = [line for line in helped.stdout.splitlines() if "--json" in line]
    assert "<bool>" not in as_json
    assert "<bool>" not in sorakit("--help", home=tmp_path, env=WIDE).stdout
    generate = sorakit("generate", "--help", home=tmp_path, env=WIDE).stdout
    [repeated] = [line for line in generate.splitlines() if "--reference-image" in line]
    assert "<path>" in repeated and "list[" not in repeated
    assert sorakit("jobs", "-vv", home=tmp_path).returncode == 0


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "a lighthouse", "-s", "4"],
        ["long", "a lighthouse", "--seconds", "8"],
        ["variations", "a lighthouse", "-n", "1"],
    ],
    ids=["generate", "long", "variations"],
)
def test_the_enhancement_fallback_is_said_once(tmp_path: Path, command: list[str]) -> None:
    result = sorakit(*command, "--enhance", "director", "-q", home=tmp_path / "home", env=WIDE)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("the original prompt is used") == 1, result.stderr


def test_a_keyframes_plan_does_not_continue_from_the_previous_shot(tmp_path: Path) -> None:
    prompts = {}
    for mode in ("chain", "keyframes"):
        folder = tmp_path / mode
        made = sorakit(
            "long", "a paper boat on a river", "--seconds", "12", "-n", "3", "--mode", mode,
            "--planner", "offline", "--plan-only", "-o", str(folder), home=tmp_path / "home",
        )  # fmt: skip
        plan = json.loads(_last_line(made).read_text())
        prompts[mode] = [segment["prompt"] for segment in plan["segments"]]
    assert len(prompts["keyframes"]) == 3
    assert all("previous shot" in prompt for prompt in prompts["chain"][1:])
    assert not any("previous shot" in prompt for prompt in prompts["keyframes"])
    assert not any("next shot continues" in prompt for prompt in prompts["keyframes"])
    assert all("own start image" in prompt for prompt in prompts["keyframes"])


def test_a_chat_planner_failure_is_said_once(tmp_path: Path) -> None:
    unreachable = {
        "SORAKIT_CHAT_API_KEY": "sk-test",
        "SORAKIT_CHAT_BASE_URL": "http://127.0.0.1:9/v1",
    }
    result = sorakit(
        "long", "a boat", "--seconds", "8", "-n", "2", "--plan-only", "-o", str(tmp_path),
        home=tmp_path / "home", env={**WIDE, **unreachable},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("the chat planner failed") == 1, result.stderr

"""The `sorakit` command, run for real: the path is the last stdout line, errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from sorakit.cli import main


def sorakit(
    *args: str, home: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in a subprocess, on a fast simulator."""
    environment = {
        **os.environ,
        "SORAKIT_HOME": str(home),
        "SORAKIT_SIMULATOR_RENDER_SECONDS": "0.3",
    }
    environment.update(env or {})
    script = Path(sys.executable).with_name("sorakit")
    return subprocess.run(
        [str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_generate_prints_the_saved_path_last(isolated_env: Path, tmp_path: Path) -> None:
    result = sorakit(
        "generate",
        "a calico cat playing a piano",
        "--seconds",
        "4",
        "--size",
        "1280x720",
        "--out",
        str(tmp_path / "out"),
        home=isolated_env,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path / "out" and path.suffix == ".mp4"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
        assert float(container.duration or 0) / 1e6 == pytest.approx(4.0, abs=0.1)
    assert "completed" in result.stderr

    listing = sorakit("jobs", "--json", home=isolated_env)
    [job] = json.loads(listing.stdout)
    assert job["status"] == "completed" and job["assets"]["video"]["size"] > 0
    shown = sorakit("jobs", "show", job["id"], home=isolated_env)
    assert "completed" in shown.stdout and "video:" in shown.stdout

    remix = sorakit("remix", job["id"], "make it night", "-q", home=isolated_env)
    assert remix.returncode == 0, remix.stderr
    assert Path(remix.stdout.strip().splitlines()[-1]).is_file()
    extended = sorakit("extend", job["id"], "and then?", "--seconds", "4", "-q", home=isolated_env)
    assert extended.returncode == 0, extended.stderr
    assert "8 s" in extended.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "x", "--seconds", "5"], 2, "allows '4', '8', '12', '16', or '20'"),
        (["generate", "x", "--model", "sora-3"], 3, "does not exist"),
        (["generate", "x", "--reference", "missing.png"], 2, "No such reference image"),
        (["generate", "x", "--last-frame", "missing.png"], 2, "sora-2 does not take a last frame"),
        (["generate", "x", "-R", "a.png", "-R", "b.png"], 2, "sora-2 takes no reference images"),
        (["jobs", "show", "video_nope"], 3, "No video found"),
        (["remix", "video_nope", "x"], 3, "No video found"),
    ],
)
def test_user_errors_are_one_line_and_an_exit_code(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("sorakit: ") and message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_failed_job_exits_4_with_the_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_SIMULATOR_RENDER_SECONDS", "0.2")
    with pytest.raises(SystemExit) as exited:
        main(["generate", "a cat [[moderation_blocked]]", "-q"])
    assert exited.value.code == 4
    assert "moderation_blocked" in capsys.readouterr().err


def test_snap_says_what_it_changed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_SIMULATOR_RENDER_SECONDS", "0.2")
    with pytest.raises(SystemExit) as exited:
        main(["generate", "a cat", "--seconds", "5", "--size", "16:9", "--snap", "-q"])
    assert exited.value.code == 0
    captured = capsys.readouterr()
    assert "note: seconds 5 -> 8" in captured.err and "note: size 16:9 -> 1280x720" in captured.err
    assert captured.out.strip().endswith(".mp4")


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["models", "--json"])
    listing = json.loads(capsys.readouterr().out)
    models = {m["name"]: m for m in listing["models"]}
    assert models["sora-2"]["configured"] is True and listing["aliases"] == {}
    assert models["sora-2"]["provider"] == "simulator"
    assert models["sora-2-pro"]["capabilities"]["price_per_second"]["1792x1024"] == 0.5


def test_long_plans_lets_the_user_edit_and_renders_the_edited_plan(
    isolated_env: Path, tmp_path: Path
) -> None:
    planned = sorakit(
        "long",
        "a fox crosses a frozen lake",
        "--seconds",
        "8",
        "-n",
        "2",
        "--plan-only",
        "--out",
        str(tmp_path),
        home=isolated_env,
    )
    assert planned.returncode == 0, planned.stderr
    plan_path = Path(planned.stdout.strip().splitlines()[-1])
    plan = json.loads(plan_path.read_text())
    assert [s["seconds"] for s in plan["segments"]] == [4, 4]
    plan["segments"][1]["prompt"] = "The fox reaches the far shore and looks back."
    plan_path.write_text(json.dumps(plan))

    made = sorakit(
        "long",
        "a fox crosses a frozen lake",
        "--seconds",
        "8",
        "-n",
        "2",
        "--plan",
        str(plan_path),
        "-q",
        home=isolated_env,
    )
    assert made.returncode == 0, made.stderr
    video = Path(made.stdout.strip().splitlines()[-1])
    assert video.name == "video.mp4" and (video.parent / "segments" / "02.mp4").is_file()
    assert "2 segments, 8 s" in made.stderr
    listing = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)
    assert "The fox reaches the far shore and looks back." in [j["prompt"] for j in listing]

    pipelines = json.loads(sorakit("jobs", "pipelines", "--json", home=isolated_env).stdout)
    assert [(p["kind"], p["status"], p["output"]) for p in pipelines] == [
        ("long", "completed", str(video))
    ]
    assert pipelines[0]["spend"]["committed"] == pytest.approx(0.8)  # two 4 s clips at $0.10/s

    wrong = sorakit(
        "long", "x", "--seconds", "12", "--plan", str(plan_path), "-q", home=isolated_env
    )
    assert wrong.returncode == 2 and "segments" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_bad_option_values_are_usage_errors_not_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args in (["long", "x", "--mode", "sideways"], ["generate", "x", "--fit", "stretch"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "Invalid value" in err

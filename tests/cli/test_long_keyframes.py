"""`sorakit long --mode keyframes` offline: its start images are `sim-image` jobs, said with
the plan and paid with the video."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.test_cli import sorakit

NOTE = "note: keyframes: 2 start images drawn first with sim-image ($0.00, in the estimate)"


def test_a_keyframes_video_renders_offline_with_its_images_in_the_ledger(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    planned = sorakit(
        "long", "a boat at dawn", "--seconds", "8", "-n", "2", "--mode", "keyframes",
        "--plan-only", "-o", str(out), home=home,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert NOTE in planned.stderr.splitlines()

    made = sorakit(
        "long", "a boat at dawn", "--seconds", "8", "-n", "2", "--mode", "keyframes", "-q",
        "-o", str(out), home=home,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    video = Path(made.stdout.strip().splitlines()[-1])
    assert video.is_file() and video.name == "video.mp4"
    assert sorted(p.name for p in (video.parent / "keyframes").iterdir()) == ["01.png", "02.png"]
    assert NOTE in made.stderr.splitlines()
    assert "completed: 2 segments, 8 s" in made.stderr
    with sqlite3.connect(home / "sorakit.db") as db:
        rows = db.execute(
            "SELECT kind, model, pipeline_step FROM jobs WHERE pipeline_id = ? ORDER BY id",
            (video.parent.name,),
        ).fetchall()
    assert sorted(rows) == [
        ("generate", "sora-2", "segment-1"),
        ("generate", "sora-2", "segment-2"),
        ("image", "sim-image", "keyframe-1"),
        ("image", "sim-image", "keyframe-2"),
    ]

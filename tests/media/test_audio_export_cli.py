from __future__ import annotations

import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sorakit.cli import media as media_cli
from sorakit.media import preview, zip_outputs
from sorakit.media.audio import decode_audio, integrated_loudness

from .media_clips import MakeClip, decode_all


def test_loudness_of_a_known_tone() -> None:
    t = np.arange(48_000 * 3) / 48_000
    tone = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    assert integrated_loudness(np.stack([tone, tone]), 48_000) == pytest.approx(-20.0, abs=0.05)
    assert integrated_loudness(np.stack([tone]), 48_000) == pytest.approx(-23.01, abs=0.05)
    assert integrated_loudness(np.zeros((2, 48_000), np.float32), 48_000) == float("-inf")


def test_loudness_agrees_with_ffmpeg_ebur128(make_clip: MakeClip) -> None:
    from av.filter.loudnorm import stats

    path = make_clip(seconds=2.0, amplitude=0.2, tone=300)
    ours = integrated_loudness(decode_audio(path, 48_000, "stereo"), 48_000)
    with av.open(str(path)) as container:
        ffmpeg = float(
            __import__("json").loads(stats("i=-23", container.streams.audio[0]))["input_i"]
        )
    assert ours == pytest.approx(ffmpeg, abs=0.2)


def test_previews_and_zip(make_clip: MakeClip, tmp_path: Path) -> None:
    clip = make_clip(seconds=1.0)
    webm = preview(clip, tmp_path / "p.webm", seconds=0.5, width=160)
    assert len(decode_all(webm)) == 12 and decode_all(webm)[0].shape == (90, 160, 3)
    gif = preview(clip, tmp_path / "p.gif", "gif", seconds=1.0, width=80)
    with Image.open(gif) as image:
        assert image.size == (80, 44) and image.n_frames == 12
    archive = zip_outputs([clip, gif, clip], tmp_path / "out.zip")
    assert zipfile.ZipFile(archive).namelist() == ["clip.mp4", "p.gif", "clip-2.mp4"]


def test_cli_commands_print_the_path_last(make_clip: MakeClip, tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = make_clip("a.mp4", seed=1), make_clip("b.mp4", seed=2)
    out = tmp_path / "ab.mp4"
    result = runner.invoke(
        media_cli.app, ["stitch", str(a), str(b), "--out", str(out), "--chained"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out)
    png = tmp_path / "last.png"
    result = runner.invoke(media_cli.app, ["frame", str(out), "--last", "--out", str(png)])
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1] == str(png)
    with Image.open(png) as image:
        assert np.array_equal(np.asarray(image), decode_all(out)[-1])
    result = runner.invoke(media_cli.app, ["probe", str(out), "--json"])
    assert '"frames": 47' in result.stdout
    fitted = tmp_path / "fit.jpg"
    result = runner.invoke(
        media_cli.app,
        ["fit", str(png), "--size", "100x100", "--mode", "letterbox", "--out", str(fitted)],
    )
    assert result.exit_code == 0
    with Image.open(fitted) as image:
        assert image.size == (100, 100)
    sheet = tmp_path / "m.png"
    result = runner.invoke(
        media_cli.app, ["montage", str(png), str(png), "--layout", "1xN", "--out", str(sheet)]
    )
    assert result.exit_code == 0
    with Image.open(sheet) as image:
        assert image.size == (320, 360)
    short = tmp_path / "short.mp4"
    result = runner.invoke(
        media_cli.app, ["trim", str(out), "--seconds", "0.5", "--out", str(short)]
    )
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1] == str(short)
    gif = tmp_path / "p.gif"
    result = runner.invoke(
        media_cli.app, ["preview", str(out), "--out", str(gif), "--seconds", "0.5"]
    )
    assert result.exit_code == 0 and gif.exists()


def test_cli_lets_errors_through(tmp_path: Path) -> None:
    from sorakit.errors import MediaError

    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    result = CliRunner().invoke(media_cli.app, ["probe", str(bad)])
    assert isinstance(result.exception, MediaError)

"""Size words (`vertical`, `landscape`, `square`...) and a reference's shape choose the size."""

from __future__ import annotations

import json
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit


def picture(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (width, height), (200, 90, 30)).save(path)
    return path


def video_size(result_stdout: str) -> tuple[int, int]:
    with av.open(result_stdout.strip().splitlines()[-1]) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height


@pytest.mark.parametrize(
    ("model", "word", "expected"),
    [
        ("sora-2", "vertical", (720, 1280)),
        ("sora-2", "landscape", (1280, 720)),
        ("sora-2", "horizontal", (1280, 720)),
        ("sora-2", "widescreen", (1280, 720)),
        ("sora-2", "16:9", (1280, 720)),
        ("sora-2-pro", "landscape", (1280, 720)),  # the default's tier, not a dearer one
    ],
)
def test_a_size_word_picks_the_models_size_of_that_shape(
    isolated_env: Path, model: str, word: str, expected: tuple[int, int]
) -> None:
    result = sorakit("generate", "x", "--model", model, "--size", word, home=isolated_env)
    assert result.returncode == 0, result.stderr
    assert video_size(result.stdout) == expected
    assert f"note: size {word} -> {expected[0]}x{expected[1]}" in result.stderr


def test_a_shape_the_model_lacks_is_refused_in_one_line(isolated_env: Path) -> None:
    result = sorakit("generate", "x", "--size", "square", home=isolated_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sorakit: Invalid value for 'size': sora-2 allows '720x1280' or '1280x720', "
        "but got 'square'."
    ]


def test_a_references_shape_picks_the_size_when_none_is_given(
    isolated_env: Path, tmp_path: Path
) -> None:
    wide = str(picture(tmp_path / "wide.png", 1600, 900))
    result = sorakit("generate", "x", "--reference", wide, home=isolated_env)
    assert result.returncode == 0, result.stderr
    assert video_size(result.stdout) == (1280, 720)  # not cropped into the portrait default
    assert "nearest the reference's 1600x900 shape" in " ".join(result.stderr.split())


def test_size_words_in_long_and_batch(isolated_env: Path, tmp_path: Path) -> None:
    long = sorakit(
        "long", "a walk", "--seconds", "8", "--size", "landscape", "-q", home=isolated_env,
        env={"SORAKIT_BUDGET_USD": "50"},
    )  # fmt: skip
    assert long.returncode == 0, long.stderr
    assert video_size(long.stdout) == (1280, 720)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "x", "size": "vertical"}) + "\n")
    batch = sorakit(
        "batch", str(rows), "--out", str(tmp_path / "out"), home=isolated_env,
        env={"SORAKIT_BUDGET_USD": "50"},
    )  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    [job] = json.loads(sorakit("jobs", "--json", home=isolated_env).stdout)[:1]
    assert job["size"] == "720x1280"


def test_size_words_and_reference_shape_over_http(
    isolated_env: Path, tmp_path: Path, serve: object
) -> None:
    settings = get_settings(home=isolated_env, simulator_render_seconds=0.3)
    wide = picture(tmp_path / "wide.png", 1280, 720)
    with serve(settings) as url:  # type: ignore[operator]
        worded = httpx.post(
            f"{url}/v1/videos",
            json={"prompt": "x", "model": "sora-2-pro", "size": "vertical"},
            timeout=30,
        )
        assert worded.status_code == 200, worded.text
        assert worded.json()["size"] == "720x1280"
        assert json.loads(worded.headers["x-sorakit-changes"]) == [
            "size vertical -> 720x1280 (sora-2-pro allows 720x1280, 1280x720, 1024x1792, "
            "1792x1024, 1080x1920, 1920x1080)"
        ]
        with wide.open("rb") as image:
            shaped = httpx.post(
                f"{url}/v1/videos",
                data={"prompt": "x"},
                files={"input_reference": ("wide.png", image, "image/png")},
                timeout=30,
            )
        assert shaped.status_code == 200, shaped.text
        assert shaped.json()["size"] == "1280x720"
        assert "nearest the reference's 1280x720 shape" in shaped.headers["x-sorakit-changes"]

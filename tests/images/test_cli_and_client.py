"""`sorakit image` (a real subprocess) and the library's `Client.image`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorakit import Client
from sorakit.errors import InvalidRequestError
from sorakit.settings import Settings
from tests.cli.test_cli import sorakit
from tests.images.conftest import decode, image_bytes, left_half_mask


def test_image_prints_every_saved_path_the_last_one_last(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = sorakit(
        "image", "a fox in snow", "-n", "2", "--size", "512x512", "--format", "webp",
        "--out", str(out), home=isolated_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 2 and all(path.parent == out for path in paths)
    for path in paths:
        picture = decode(path.read_bytes())
        assert (picture.format, picture.size) == ("WEBP", (512, 512))


def test_image_edit_and_its_refusals_are_one_line(isolated_env: Path, tmp_path: Path) -> None:
    source, mask = tmp_path / "in.png", tmp_path / "mask.png"
    source.write_bytes(image_bytes((400, 300), "red"))
    mask.write_bytes(left_half_mask((400, 300)))
    edited = sorakit(
        "image", "a boat", "--edit", str(source), "--mask", str(mask), home=isolated_env
    )
    assert edited.returncode == 0, edited.stderr
    assert decode(Path(edited.stdout.splitlines()[-1]).read_bytes()).size == (1024, 1024)
    for args, words in (
        (["image", "x", "--size", "13x13"], "sim-image allows"),
        (["image", "x", "-m", "sora-2"], "sora-2 makes videos"),
        (["generate", "x", "-m", "gpt-image-1"], "gpt-image-1 makes images"),
        (["image", "x", "--mask", str(mask)], "A mask needs an image"),
    ):
        refused = sorakit(*args, home=isolated_env)
        assert refused.returncode != 0 and refused.stdout == ""
        assert words in refused.stderr and "Traceback" not in refused.stderr


def test_models_lists_image_models_apart(isolated_env: Path) -> None:
    import json

    listing = json.loads(sorakit("models", "--json", home=isolated_env).stdout)
    images = {row["name"] for row in listing["image_models"]}
    assert "sim-image" in images and not images & {row["name"] for row in listing["models"]}
    assert all(row["capabilities"]["output"] == "image" for row in listing["image_models"])


def test_the_library_makes_images(settings: Settings) -> None:
    with Client(settings=settings) as client:
        jobs = client.image("a red kite", n=2, size="1024x1536", output_format="jpeg")
        assert [decode(Path(job.assets["image"].path).read_bytes()).size for job in jobs] == [
            (1024, 1536),
            (1024, 1536),
        ]
        with pytest.raises(InvalidRequestError, match="makes videos"):
            client.image("x", model="sora-2")

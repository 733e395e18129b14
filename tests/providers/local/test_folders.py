"""Local model folders to catalog entries, without torch: families, rules and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sorakit.catalog import build_catalog
from sorakit.cli import main
from sorakit.errors import ConfigurationError
from sorakit.providers.local._families import LTX, WAN
from sorakit.settings import get_settings
from tests.providers.local.conftest import write_index


def catalog_for(monkeypatch: pytest.MonkeyPatch, *folders: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SORAKIT_LOCAL_MODELS", ",".join(map(str, folders)))
    return build_catalog(get_settings())


def test_a_wan_folder_becomes_a_model_with_wans_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = catalog_for(monkeypatch, write_index(tmp_path / "Wan2.1-T2V-1.3B", "WanPipeline"))
    entry = catalog.resolve("local-wan2.1-t2v-1.3b")
    caps = entry.capabilities
    assert entry.provider == "local"
    assert caps.sizes == ("832x480", "480x832", "1280x720", "720x1280")
    assert caps.seconds == (1, 2, 3, 4, 5)  # 81 frames at 16 fps at most
    assert caps.text_to_video and not caps.image_reference and not caps.audio
    assert caps.price("832x480", 5) == 0.0


def test_frame_counts_follow_each_familys_rule() -> None:
    assert [WAN.frames_for(s) for s in (1, 2, 5)] == [17, 33, 81]  # 4k+1 at 16 fps
    assert [LTX.frames_for(s) for s in (1, 5, 9)] == [25, 121, 161]  # 8k+1, at most 161
    assert all((WAN.frames_for(s / 3) - 1) % 4 == 0 for s in range(1, 20))


def test_a_shelf_of_folders_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shelf = tmp_path / "models"
    write_index(shelf / "LTX-Video", "LTXPipeline")
    write_index(shelf / "wan-i2v", "WanImageToVideoPipeline")
    (shelf / "notes").mkdir()
    tuned = write_index(tmp_path / "tuned", "WanPipeline")
    (tuned / "sorakit-model.json").write_text(json.dumps({"name": "my-wan", "sizes": ["640x352"]}))
    catalog = catalog_for(monkeypatch, shelf, tuned)
    ltx = catalog.resolve("local-ltx-video").capabilities
    assert ltx.text_to_video and ltx.image_reference  # LTX's image pipeline reuses the weights
    i2v = catalog.resolve("local-wan-i2v").capabilities
    assert i2v.image_reference and i2v.last_frame and not i2v.text_to_video
    assert catalog.resolve("my-wan").capabilities.sizes == ("640x352",)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "nowhere", "which is not a folder"),
        (lambda p: write_index(p / "sd", "StableDiffusionPipeline"), "not a video pipeline"),
        (lambda p: write_index(p / "ltx2", "LTX2Pipeline"), "LTX-2 renders audio"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no model_index.json"),
    ],
)
def test_a_wrong_folder_is_an_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: object, expected: str
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigurationError) as refused:
        catalog_for(monkeypatch, folder)
    assert "SORAKIT_LOCAL_MODELS" in refused.value.message and expected in refused.value.message


def test_a_size_the_family_cannot_render_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_index(tmp_path / "wan", "WanPipeline")
    (folder / "sorakit-model.json").write_text(json.dumps({"sizes": ["100x100"]}))
    with pytest.raises(ConfigurationError, match="multiples of 16"):
        catalog_for(monkeypatch, folder)


def test_models_says_how_to_enable_local_models_without_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sorakit.providers.local.extra_installed", lambda: False)
    with pytest.raises(SystemExit):
        main(["models"])
    assert "pip install 'sorakit[local]'" in capsys.readouterr().out


def test_without_the_extra_the_provider_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sorakit.providers.local import LocalProvider

    monkeypatch.setattr("sorakit.providers.local._provider.extra_installed", lambda: False)
    with pytest.raises(ConfigurationError, match=r"sorakit\[local\]"):
        LocalProvider.from_settings(get_settings())

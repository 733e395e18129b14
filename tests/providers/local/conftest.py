"""Fixtures for the local provider: a tiny Wan pipeline saved once per session, and settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sorakit.settings import Settings, get_settings

EXTRA_MISSING = "needs the local extra (pip install 'sorakit[local]'): torch, diffusers"
TINY_OVERRIDES = {"name": "local-tiny-wan", "sizes": ["32x32", "48x32"], "fps": 8, "steps": 2}
"""Sizes a CPU renders in a second; 8 fps makes one second 9 frames (4k+1)."""


def needs_extra() -> None:
    """Skip the calling test, with the reason, where torch or diffusers is not installed."""
    pytest.importorskip("torch", reason=EXTRA_MISSING)
    pytest.importorskip("diffusers", reason=EXTRA_MISSING)


@pytest.fixture(scope="session")
def tiny_wan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wan text-to-video pipeline, saved as a diffusers folder (built once)."""
    needs_extra()
    from tests.providers.local.tiny import save_tiny_wan

    folder = save_tiny_wan(tmp_path_factory.mktemp("models") / "tiny-wan")
    (folder / "sorakit-model.json").write_text(json.dumps(TINY_OVERRIDES))
    return folder


@pytest.fixture
def tiny_wan(tiny_wan_folder: Path, tmp_path: Path) -> Path:
    """A copy of the tiny pipeline the test may change."""
    return Path(shutil.copytree(tiny_wan_folder, tmp_path / "tiny-wan"))


@pytest.fixture
def local_settings(tiny_wan: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that serve the tiny pipeline (on the CPU) as `local-tiny-wan`."""
    monkeypatch.setenv("SORAKIT_LOCAL_MODELS", str(tiny_wan))
    monkeypatch.setenv("SORAKIT_LOCAL_DEVICE", "cpu")
    return get_settings()


def write_index(folder: Path, class_name: str, **extra: object) -> Path:
    """A folder with only a `model_index.json` (enough for the catalog, not for rendering)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name, **extra}))
    return folder

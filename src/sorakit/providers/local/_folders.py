"""Finding the open-weight models named by `SORAKIT_LOCAL_MODELS`, without importing torch.

The setting lists folders (separated by the platform's path separator or commas). A folder with a
`model_index.json` is one model; any other folder is a shelf whose sub-folders with one are
models. The pipeline class in `model_index.json` (`_class_name`) picks the family. An optional
`sorakit-model.json` beside it overrides what the family implies, for fine-tunes and tests:
`{"name": "...", "sizes": ["832x480"], "fps": 16, "steps": 30, "guidance": 5.0}`.

A named folder that is missing, or that holds no video pipeline sorakit serves, is a
`ConfigurationError` naming the setting: nothing is ever downloaded in its place.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sorakit.errors import ConfigurationError
from sorakit.providers.local._families import FAMILIES, NOT_YET, Family, family_for
from sorakit.settings import Settings

SETTING = "SORAKIT_LOCAL_MODELS"
INDEX = "model_index.json"
OVERRIDES = "sorakit-model.json"
EXTRA_HINT = "pip install 'sorakit[local]'"
"""How a user gets torch, diffusers and transformers for local models."""


@dataclass(frozen=True)
class LocalModel:
    """One folder of weights: its public name, pipeline class and the constraints it renders in."""

    name: str
    folder: Path
    class_name: str
    family: Family
    sizes: tuple[str, ...]
    fps: int
    steps: int
    guidance: float

    @property
    def takes_text(self) -> bool:
        return not self.family.takes_image

    @property
    def takes_image(self) -> bool:
        return self.family.takes_image or self.family.image_pipeline is not None

    def frames_for(self, seconds: float) -> int:
        return self.family.frames_for(seconds, self.fps)


def setting_folders(settings: Settings) -> list[Path]:
    """The folders the setting names, in order."""
    parts = re.split(rf"[,{re.escape(os.pathsep)}\n]", settings.local_models or "")
    return [Path(part.strip()).expanduser() for part in parts if part.strip()]


def discover(settings: Settings) -> list[LocalModel]:
    """Every model the setting names; raises `ConfigurationError` for a folder that is wrong."""
    found: dict[str, LocalModel] = {}
    for folder in setting_folders(settings):
        if not folder.is_dir():
            raise ConfigurationError(f"{SETTING} names {folder}, which is not a folder")
        if (folder / INDEX).is_file():
            models = [read_model(folder)]
        else:
            models = [read_model(child) for child in sorted(folder.iterdir()) if _is_model(child)]
            if not models:
                raise ConfigurationError(
                    f"{SETTING} names {folder}, which holds no {INDEX} (a diffusers model folder)"
                    " nor sub-folders with one"
                )
        for model in models:
            if model.name in found and found[model.name].folder != model.folder:
                raise ConfigurationError(
                    f"{SETTING}: {found[model.name].folder} and {model.folder} are both named "
                    f"{model.name!r}; give one a name in its {OVERRIDES}"
                )
            found[model.name] = model
    return list(found.values())


def find_model(settings: Settings, name: str) -> LocalModel:
    """The model called `name` in the setting's folders (read again: a folder may have changed)."""
    for model in discover(settings):
        if model.name == name:
            return model
    raise ConfigurationError(f"no folder in {SETTING} holds the local model {name!r}")


def read_model(folder: Path) -> LocalModel:
    """The model in `folder`, from its `model_index.json` (and `sorakit-model.json`)."""
    index = _json(folder / INDEX)
    class_name = str(index.get("_class_name", ""))
    family = family_for(class_name, index)
    if family is None:
        why = NOT_YET.get(class_name)
        served = ", ".join(sorted(FAMILIES))
        raise ConfigurationError(
            f"{SETTING}: {folder} holds a {class_name or 'pipeline of no known class'}"
            + (f" ({why})" if why else ", not a video pipeline sorakit serves")
            + f"; served: {served}"
        )
    overrides = _json(folder / OVERRIDES) if (folder / OVERRIDES).is_file() else {}
    model = LocalModel(
        name=str(overrides.get("name") or model_name(folder)),
        folder=folder.resolve(),
        class_name=class_name,
        family=family,
        sizes=tuple(overrides.get("sizes") or family.sizes),
        fps=int(overrides.get("fps") or family.fps),
        steps=int(overrides.get("steps") or family.steps),
        guidance=float(overrides.get("guidance", family.guidance)),
    )
    for size in model.sizes:
        _check_size(model, size)
    return replace(model, sizes=tuple(dict.fromkeys(model.sizes)))


def model_name(folder: Path) -> str:
    """`local-` and the folder's name, lower case, in the characters a model name uses."""
    slug = re.sub(r"[^a-z0-9.]+", "-", folder.name.lower()).strip("-.")
    return f"local-{slug or 'model'}"


def _is_model(folder: Path) -> bool:
    return folder.is_dir() and (folder / INDEX).is_file()


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{SETTING}: {path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{SETTING}: {path} is not a JSON object")
    return data


def _check_size(model: LocalModel, size: str) -> None:
    width, _, height = size.partition("x")
    multiple = model.family.size_multiple
    if (
        not (width.isdigit() and height.isdigit())
        or int(width) % multiple
        or int(height) % multiple
    ):
        raise ConfigurationError(
            f"{SETTING}: {model.folder}/{OVERRIDES} offers the size {size!r}; "
            f"{model.family.label} needs WxH in multiples of {multiple}"
        )

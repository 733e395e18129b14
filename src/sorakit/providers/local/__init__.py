"""Open-weight video models (Wan, LTX-Video, CogVideoX) on this machine's GPU, through diffusers.

`SORAKIT_LOCAL_MODELS` names the folders of weights; `sorakit[local]` installs torch, diffusers
and transformers. The catalog lists the folders' models without importing torch.
"""

from sorakit.providers.local._folders import EXTRA_HINT, SETTING, LocalModel, discover
from sorakit.providers.local._provider import LocalProvider, extra_installed


def local_hint() -> str | None:
    """What `sorakit models` says when the `local` extra is missing (None when it is there)."""
    if extra_installed():
        return None
    return (
        "local: open-weight models (Wan, LTX-Video, CogVideoX) on your own GPU need "
        f"{EXTRA_HINT}, then {SETTING}=/path/to/model-folder"
    )


__all__ = [
    "EXTRA_HINT",
    "SETTING",
    "LocalModel",
    "LocalProvider",
    "discover",
    "extra_installed",
    "local_hint",
]

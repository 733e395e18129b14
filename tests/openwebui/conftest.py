"""A virtualenv with the real `open-webui` package, made once and cached outside the repo.

Open WebUI pins its own dependency versions, so it gets its own venv: `open-webui` without its
dependencies, then only what its function loader and file store import (found by trial: each
import of `open_webui.utils.plugin`, `open_webui.models.files` and `open_webui.storage.provider`
until none fails), at the versions Open WebUI pins. The venv lives under
`~/.cache/sorakit-tests/` (or `OPEN_WEBUI_TEST_CACHE`), keyed by those versions, so later runs reuse
it. Without the package registry the tests are skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

OPEN_WEBUI = "open-webui==0.12.4"
NEEDED = (
    # Open WebUI 0.12.4's own pins for what its loader and file store import.
    "aiohttp==3.14.5",
    "aiosqlite==0.22.1",
    "alembic==1.18.4",
    "authlib==1.7.2",
    "bcrypt==5.0.0",
    "beautifulsoup4==4.14.3",
    "boto3==1.42.62",
    "cryptography==48.0.1",
    "fastapi==0.136.3",
    "httpx==0.28.1",
    "markdown==3.10.2",
    "orjson==3.11.9",
    "pillow==13.0.0",
    "pydantic==2.13.4",
    "python-mimeparse==2.0.0",
    "python-socketio==5.16.2",
    "redis==8.0.1",
    "requests==2.34.2",
    "sqlalchemy==2.0.50",
    "typer==0.25.1",
    "uvicorn==0.54.0",
)
PYTHON = "3.11"
DRIVER = Path(__file__).with_name("driver.py")
UNREACHABLE = ("failed to fetch", "dns error", "connection refused", "network is unreachable")


@dataclass(frozen=True)
class OpenWebUI:
    """The venv's python and what making it cost."""

    python: Path
    setup_seconds: float
    cached: bool


def _cache_root() -> Path:
    return Path(os.environ.get("OPEN_WEBUI_TEST_CACHE") or Path.home() / ".cache" / "sorakit-tests")


def _uv(*args: str, venv: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    uv = shutil.which("uv") or "uv"
    return subprocess.run([uv, *args], capture_output=True, text=True, env=env, timeout=900)


def build_venv(root: Path) -> OpenWebUI:
    """The cached venv, made first when missing (in a scratch folder, then renamed)."""
    key = hashlib.sha256(json.dumps([PYTHON, OPEN_WEBUI, *NEEDED]).encode()).hexdigest()[:12]
    venv = root / f"open-webui-0.12.4-{key}"
    python = venv / "bin" / "python"
    started = time.monotonic()
    if (venv / ".ready").exists():
        return OpenWebUI(python, time.monotonic() - started, cached=True)
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f".building-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    steps = [
        ("venv", "-q", "--python", PYTHON, str(scratch)),
        ("pip", "install", "-q", "--no-deps", OPEN_WEBUI),
        ("pip", "install", "-q", *NEEDED),
    ]
    for step in steps:
        done = _uv(*step, venv=scratch)
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            if any(words in done.stderr.lower() for words in UNREACHABLE):
                pytest.skip(f"the package registry is unreachable: {done.stderr.strip()[-300:]}")
            raise RuntimeError(f"uv {' '.join(step)} failed:\n{done.stderr[-2000:]}")
    (scratch / ".ready").write_text(json.dumps([OPEN_WEBUI, *NEEDED]))
    try:
        scratch.rename(venv)
    except OSError:  # another run made it meanwhile: use theirs
        shutil.rmtree(scratch, ignore_errors=True)
    return OpenWebUI(python, time.monotonic() - started, cached=False)


def build_slim_venv(root: Path) -> OpenWebUI:
    """A venv for a whole `open-webui serve`: Open WebUI's own slim requirements (its file
    `requirements-slim.txt`: no local models, no cloud storage SDKs), cached like the small one."""
    venv = root / "open-webui-0.12.4-slim"
    python = venv / "bin" / "python"
    started = time.monotonic()
    if (venv / ".ready").exists():
        return OpenWebUI(python, time.monotonic() - started, cached=True)
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / f".building-slim-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    site = scratch / "lib" / f"python{PYTHON}" / "site-packages"
    steps = [
        ("venv", "-q", "--python", PYTHON, str(scratch)),
        ("pip", "install", "-q", "--no-deps", OPEN_WEBUI),
        ("pip", "install", "-q", "-r", str(site / "requirements-slim.txt")),
    ]
    for step in steps:
        done = _uv(*step, venv=scratch)
        if done.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            if any(words in done.stderr.lower() for words in UNREACHABLE):
                pytest.skip(f"the package registry is unreachable: {done.stderr.strip()[-300:]}")
            raise RuntimeError(f"uv {' '.join(step)} failed:\n{done.stderr[-2000:]}")
    (scratch / ".ready").write_text(OPEN_WEBUI)
    try:
        scratch.rename(venv)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return OpenWebUI(python, time.monotonic() - started, cached=False)


def open_webui_env(home: Path) -> dict[str, str]:
    """Open WebUI's settings for a test: its data in `home`, offline, no pip installs."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "DATA_DIR": str(home),
        "FROM_INIT_PY": "true",  # find its bundled frontend, as `open-webui serve` does
        "USE_SLIM_DOCKER": "true",  # no Azure or Google storage SDKs
        "OFFLINE_MODE": "true",
        "ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS": "false",
        "ENABLE_OLLAMA_API": "false",
        "WEBUI_SECRET_KEY": "sorakit-tests",
    }


@pytest.fixture(scope="session")
def open_webui() -> OpenWebUI:
    """The Open WebUI venv (made on first use, then reused from the cache)."""
    if shutil.which("uv") is None:
        pytest.skip("uv is needed to make the Open WebUI venv")
    return build_venv(_cache_root())


Drive = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def drive(open_webui: OpenWebUI, tmp_path: Path) -> Drive:
    """Run `driver.py` with a scenario in Open WebUI's venv, its data in a fresh folder."""

    def run(scenario: dict[str, Any]) -> dict[str, Any]:
        data = tmp_path / "open-webui-data"
        data.mkdir(exist_ok=True)
        env = open_webui_env(data)
        done = subprocess.run(
            [str(open_webui.python), str(DRIVER)],
            input=json.dumps(scenario),
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"the driver failed:\n{done.stderr[-4000:]}")
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        report["data_dir"] = str(data)
        report["stderr"] = done.stderr
        return report

    return run

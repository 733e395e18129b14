"""A job remembers the server and the credential that made it: `sorakit generate --base-url URL
--api-key KEY` killed mid-wait is finished by a bare `sorakit jobs resume`, on that server.

The upstreams are real `sorakit serve` gateways on loopback (simulators that render for a few
seconds); the CLI runs as a subprocess with no OPENAI_* variable, and is SIGKILLed once its job
is at the upstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

import sorakit
from sorakit.security.secretbox import generate_key
from sorakit.server import create_app
from sorakit.settings import Settings, get_settings
from tests.cli.test_cli import sorakit as run_cli
from tests.conftest import ThreadedServer
from tests.gateway.test_tenants import creates, gateway, make_key

RENDER_SECONDS = 3.0


@contextlib.contextmanager
def upstream(
    home: Path, *, keyed: bool, port: int | None = None
) -> Iterator[tuple[str, str | None, Settings]]:
    """Another `sorakit serve` on loopback: its URL, the key it wants (None: open), its settings."""
    settings = get_settings(home=home, simulator_render_seconds=RENDER_SECONDS)
    key = make_key(settings, "client") if keyed else None
    if port is None:
        with gateway(settings) as url:
            yield url, key, settings
        return
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1", key, settings


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def submitted_row(home: Path, column: str, value: str) -> tuple[str, str] | None:
    """The id and remote id of the job whose `column` is `value`, once it reached the upstream."""
    database = home / "sorakit.db"
    if not database.exists():
        return None
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
        try:
            row = connection.execute(
                f"SELECT id, remote_id FROM jobs WHERE {column} = ?", (value,)
            ).fetchone()
        except sqlite3.OperationalError:  # the ledger is being created
            return None
    return (row[0], row[1]) if row and row[1] else None


def killed_when(
    home: Path,
    args: list[str],
    column: str,
    value: str,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> tuple[str, str]:
    """Run `sorakit ARGS`, SIGKILL it once the job whose `column` is `value` is at the upstream;
    returns that job's id and remote id."""
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("sorakit")), *args],
        env={**os.environ, "SORAKIT_HOME": str(home), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (found := submitted_row(home, column, value)) is not None:
                process.kill()  # SIGKILL: no cleanup of any kind
                return found
            assert process.poll() is None, f"{args[0]} ended before it was killed"
            time.sleep(0.05)
        raise AssertionError(f"the job with {column} {value!r} never reached the upstream")
    finally:
        process.kill()
        process.wait()


def killed_generate(
    home: Path, prompt: str, url: str, key: str | None, env: dict[str, str] | None = None
) -> tuple[str, str]:
    """Run `sorakit generate --base-url URL [--api-key KEY]`, SIGKILL it once its job is submitted."""
    args = ["generate", prompt, "-s", "4", "-q", "--base-url", url]
    if key is not None:
        args += ["--api-key", key]
    return killed_when(home, args, "prompt", prompt, env, timeout=60)


def status_at(url: str, key: str | None, remote_id: str) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}/videos/{remote_id}", headers=headers).status_code


def ledger_bytes(home: Path) -> bytes:
    """The SQLite ledger as stored on disk, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("sorakit.db*")))


def test_jobs_on_two_servers_with_two_keys_resume_with_no_flags(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    sealed = {"SORAKIT_SECRET_KEY": generate_key()}
    with (
        upstream(tmp_path / "a", keyed=True) as (url_a, key_a, settings_a),
        upstream(tmp_path / "b", keyed=True) as (url_b, key_b, settings_b),
    ):
        job_a, remote_a = killed_generate(home, "a cat on server a", url_a, key_a, sealed)
        job_b, remote_b = killed_generate(home, "a dog on server b", url_b, key_b, sealed)

        resumed = run_cli("jobs", "resume", "-q", home=home, env=sealed)
        assert resumed.returncode == 0, resumed.stderr
        paths = [Path(line) for line in resumed.stdout.splitlines()]
        assert len(paths) == 2 and all(p.is_file() for p in paths)
        assert creates(settings_a) == 1 and creates(settings_b) == 1  # nothing made twice

        for job_id in (job_a, job_b):
            shown = run_cli("jobs", "show", job_id, "--json", home=home)
            assert shown.returncode == 0, shown.stderr
            assert json.loads(shown.stdout)["status"] == "completed"

        # A remix goes to the server its source is on, with its key, and no flag either.
        remixed = run_cli("remix", job_b, "now at night", "-q", home=home, env=sealed)
        assert remixed.returncode == 0, remixed.stderr
        assert creates(settings_a) == 1 and creates(settings_b) == 2

        # Deleting goes back to the server that made the job, with no flag either.
        assert status_at(url_a, key_a, remote_a) == 200
        library = get_settings(home=home, secret_key=sealed["SORAKIT_SECRET_KEY"])
        with sorakit.Client(settings=library) as client:
            client.delete(job_a)
        assert status_at(url_a, key_a, remote_a) == 404
        assert status_at(url_b, key_b, remote_b) == 200

    stored = ledger_bytes(home)
    assert key_a and key_b
    assert key_a.encode() not in stored and key_b.encode() not in stored
    assert url_b.encode() in stored  # the endpoint is kept in the clear; only keys are sealed


def test_without_a_secret_key_resume_reuses_the_endpoint_and_asks_for_the_key(
    tmp_path: Path,
) -> None:
    home = tmp_path / "cli"
    with (
        upstream(tmp_path / "open", keyed=False) as (url_open, _, settings_open),
        upstream(tmp_path / "keyed", keyed=True) as (url_keyed, key, settings_keyed),
    ):
        job_open, _ = killed_generate(home, "on the open server", url_open, None)
        job_keyed, _ = killed_generate(home, "on the keyed server", url_keyed, key)

        resumed = run_cli("jobs", "resume", "-q", home=home)
        assert resumed.returncode == 4
        assert resumed.stdout.strip().splitlines() == [
            str(home / "assets" / job_open / "video.mp4")
        ], resumed.stderr
        [asked] = [line for line in resumed.stderr.splitlines() if "could not be resumed" in line]
        assert job_keyed in asked and url_keyed in asked
        assert "--api-key" in asked and "OPENAI_API_KEY" in asked

        assert key is not None
        # A key given with another server is meant for that server: it is not sent to this one.
        elsewhere = run_cli(
            "jobs", "resume", "-q", "--base-url", url_open, "--api-key", key, home=home
        )
        assert elsewhere.returncode == 4 and "another server" in elsewhere.stderr
        again = run_cli("jobs", "resume", "-q", "--api-key", key, home=home)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == str(home / "assets" / job_keyed / "video.mp4")
        assert creates(settings_open) == 1 and creates(settings_keyed) == 1
    assert key.encode() not in ledger_bytes(home)


@pytest.mark.parametrize(
    ("flag", "env", "blamed"),
    [
        (True, {}, "--api-key"),
        (False, {"OPENAI_API_KEY": "sk-wrong-from-the-environment"}, "OPENAI_API_KEY"),
    ],
)
def test_a_refused_key_is_blamed_with_where_it_came_from(
    tmp_path: Path, flag: bool, env: dict[str, str], blamed: str
) -> None:
    with upstream(tmp_path / "keyed", keyed=True) as (url, _, settings):
        args = ["generate", "x", "-s", "4", "-q", "--base-url", url]
        if flag:
            args += ["--api-key", "sk-wrong-on-the-command-line"]
        refused = run_cli(*args, home=tmp_path / "cli", env=env)
    assert refused.returncode == 6
    [line] = refused.stderr.strip().splitlines()
    assert blamed in line and "refused" in line and "OPENAI_BASE_URL" not in line
    assert creates(settings) == 0


def test_wrong_keys_on_the_command_line_do_not_lock_out_the_right_one(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    with upstream(tmp_path / "keyed", keyed=True) as (url, key, settings):
        base = ["generate", "x", "-s", "4", "-q", "--base-url", url]
        for attempt in range(4):  # more than SORAKIT_POOL_AUTH_FAILURES
            refused = run_cli(*base, "--api-key", f"sk-typo-{attempt}", home=home)
            assert refused.returncode == 6 and "disabled" not in refused.stderr
        missing = run_cli(*base, home=home)
        assert missing.returncode == 6
        assert "no key (set OPENAI_API_KEY)" in missing.stderr, missing.stderr
        assert key is not None
        made = run_cli(*base, "--api-key", key, home=home)
        assert made.returncode == 0, made.stderr
        assert creates(settings) == 1


def test_a_job_never_sent_waits_for_its_key_instead_of_failing(tmp_path: Path) -> None:
    home, port = tmp_path / "cli", free_port()
    url = f"http://127.0.0.1:{port}/v1"  # nothing listens there yet
    once = {"SORAKIT_TRANSIENT_RETRIES": "0"}
    made = run_cli(
        "generate",
        "x",
        "-s",
        "4",
        "-q",
        "--base-url",
        url,
        "--api-key",
        "sk-a-typo",
        home=home,
        env=once,
    )
    assert made.returncode == 6, made.stderr
    resumed = run_cli("jobs", "resume", "-q", home=home)
    assert resumed.returncode == 4 and "--api-key" in resumed.stderr
    [job] = json.loads(run_cli("jobs", "--json", home=home).stdout)
    assert job["status"] == "pending"  # nothing was sent: it is still there to be made

    with upstream(tmp_path / "late", keyed=True, port=port) as (_, key, settings):
        assert key is not None
        again = run_cli("jobs", "resume", "-q", "--api-key", key, home=home)
        assert again.returncode == 0, again.stderr
        assert creates(settings) == 1

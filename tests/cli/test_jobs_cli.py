"""`sorakit jobs` in a subprocess: user text shown as typed, costs as charged, `jobs delete`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sorakit.security.secretbox import generate_key
from tests.cli.test_cli import sorakit

WIDE = {"COLUMNS": "400"}  # one table row per line, nothing folded
BLOCKED = "a [[moderation_blocked]] thing"
MARKUP = "[red]alert[/red] and [bold]loud[/bold]"


def _jobs(home: Path) -> list[dict[str, Any]]:
    listing = sorakit("jobs", "--json", home=home)
    assert listing.returncode == 0, listing.stderr
    data: list[dict[str, Any]] = json.loads(listing.stdout)
    return data


def _row(table: str, job_id: str) -> str:
    [line] = [line for line in table.splitlines() if job_id in line]
    return line


def _deleted_at_simulator(home: Path, remote_id: str) -> bool:
    record = json.loads((home / "simulator" / "jobs" / f"{remote_id}.json").read_text())
    return bool(record["deleted"])


def _running_job(home: Path, tmp_path: Path) -> dict[str, Any]:
    """A job the provider is still rendering: its `generate` is stopped while it waits."""
    environment = {
        **os.environ,
        "SORAKIT_HOME": str(home),
        "SORAKIT_SIMULATOR_RENDER_SECONDS": "600",
    }
    script = Path(sys.executable).with_name("sorakit")
    process = subprocess.Popen(
        [str(script), "generate", "a slow render", "-q", "-s", "4"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = (
                [j for j in _jobs(home) if j["prompt"] == "a slow render"] if home.exists() else []
            )
            if found and found[0]["remote_id"]:
                return found[0]
            time.sleep(0.3)
        raise AssertionError("the slow job never reached the provider")
    finally:
        process.kill()
        process.wait()


def test_tables_show_user_text_as_typed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    blocked = sorakit("generate", BLOCKED, "-q", "-s", "4", home=home)
    assert blocked.returncode == 4
    made = sorakit("generate", MARKUP, "-q", "-s", "4", home=home)
    assert made.returncode == 0, made.stderr
    by_prompt = {j["prompt"]: j for j in _jobs(home)}

    table = sorakit("jobs", home=home, env=WIDE)
    assert table.returncode == 0, table.stderr
    assert BLOCKED in _row(table.stdout, by_prompt[BLOCKED]["id"])
    assert MARKUP in _row(table.stdout, by_prompt[MARKUP]["id"])

    shown = sorakit("jobs", "show", by_prompt[MARKUP]["id"], home=home, env=WIDE)
    assert shown.returncode == 0, shown.stderr
    assert MARKUP in shown.stdout

    created = sorakit("keys", "create", "[green]team[/green] a", home=home)
    assert created.returncode == 0, created.stderr
    keys = sorakit("keys", "list", home=home, env=WIDE)
    assert "[green]team[/green] a" in keys.stdout, keys.stdout

    env = {**WIDE, "SORAKIT_SECRET_KEY": generate_key()}
    added = sorakit(
        "pools", "add", "fal", "--label", "[b]acct[/b]", home=home, env=env, stdin="id:secret-x\n"
    )
    assert added.returncode == 0, added.stderr
    pools = sorakit("pools", "list", home=home, env=env)
    assert "[b]acct[/b]" in pools.stdout, pools.stdout


def test_failed_job_shows_no_charge_and_running_job_an_estimate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert sorakit("generate", BLOCKED, "-q", "-s", "4", home=home).returncode == 4
    assert sorakit("generate", "a fine one", "-q", "-s", "4", home=home).returncode == 0
    running = _running_job(home, tmp_path)
    by_prompt = {j["prompt"]: j for j in _jobs(home)}
    failed, completed = by_prompt[BLOCKED], by_prompt["a fine one"]
    # JSON keeps what was charged and what was estimated apart.
    assert failed["cost"] is None and failed["estimated_cost"] == 0.4
    assert completed["cost"] == 0.4 and running["cost"] is None

    table = sorakit("jobs", home=home, env=WIDE).stdout
    assert "$0.40" not in _row(table, failed["id"])
    assert "$0.40" in _row(table, completed["id"]) and "est" not in _row(table, completed["id"])
    assert "$0.40 est." in _row(table, running["id"])

    shown = sorakit("jobs", "show", failed["id"], home=home, env=WIDE).stdout
    assert "cost: nothing charged (estimate was $0.40)" in shown, shown
    shown = sorakit("jobs", "show", completed["id"], home=home, env=WIDE).stdout
    assert "cost: $0.40 charged" in shown, shown


def test_jobs_delete(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert sorakit("generate", "one", "-q", "-s", "4", home=home).returncode == 0
    assert sorakit("generate", "two", "-q", "-s", "4", home=home).returncode == 0
    assert sorakit("generate", "kept", "-q", "-s", "4", home=home).returncode == 0
    by_prompt = {j["prompt"]: j for j in _jobs(home)}
    one, two, kept = by_prompt["one"], by_prompt["two"], by_prompt["kept"]
    folders = {name: Path(job["assets"]["video"]["path"]).parent for name, job in by_prompt.items()}

    unknown = sorakit("jobs", "delete", one["id"], "video_nope", home=home)
    assert unknown.returncode == 3
    assert unknown.stderr.strip().count("\n") == 0 and "video_nope" in unknown.stderr
    assert folders["one"].is_dir()  # nothing was deleted: one id was wrong

    deleted = sorakit("jobs", "delete", one["id"], two["id"], home=home)
    assert deleted.returncode == 0, deleted.stderr
    assert not folders["one"].exists() and not folders["two"].exists()
    assert folders["kept"].is_dir()
    assert [j["id"] for j in _jobs(home)] == [kept["id"]]

    assert not _deleted_at_simulator(home, one["remote_id"])  # its provider copy is kept
    remote = sorakit("jobs", "delete", kept["id"], "--remote-too", home=home)
    assert remote.returncode == 0, remote.stderr
    assert "here and at the provider" in remote.stderr
    assert _jobs(home) == []
    assert _deleted_at_simulator(home, kept["remote_id"])

    running = _running_job(home, tmp_path)
    refused = sorakit("jobs", "delete", running["id"], home=home)
    assert refused.returncode == 2
    assert "--cancel" in refused.stderr and refused.stderr.strip().count("\n") == 0
    cancelled = sorakit("jobs", "delete", running["id"], "--cancel", home=home)
    assert cancelled.returncode == 0, cancelled.stderr
    assert _jobs(home) == []

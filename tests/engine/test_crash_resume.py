"""kill -9 at any moment, then `sorakit jobs resume`: every job finishes, none is created twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = str(Path(sys.executable).with_name("sorakit"))


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "SORAKIT_HOME": str(home), "SORAKIT_SIMULATOR_RENDER_SECONDS": "1.5"}


def creates(home: Path) -> int:
    log = home / "simulator" / "creates.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def wait_for_submitted_job(home: Path, timeout: float = 30.0) -> None:
    """Block until the ledger holds a job the provider has accepted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(home / "sorakit.db") as db:
                if db.execute("select 1 from jobs where remote_id is not null").fetchone():
                    return
        except sqlite3.OperationalError:
            pass  # not created or not migrated yet
        time.sleep(0.05)
    raise AssertionError("no job was submitted in time")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0.6, 1.2, 2.0, 2.8, 3.4])
def test_kill_minus_nine_then_resume(tmp_path: Path, kill_after: float) -> None:
    home = tmp_path / "home"
    env = environment(home)
    child = subprocess.Popen(
        [SCRIPT, "generate", "a crash test", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    resumed = subprocess.run(
        [SCRIPT, "jobs", "resume", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    listing = subprocess.run(
        [SCRIPT, "jobs", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    jobs = json.loads(listing.stdout)
    assert len(jobs) <= 1
    assert all(job["status"] == "completed" for job in jobs)
    for job in jobs:
        assert Path(job["assets"]["video"]["path"]).stat().st_size == job["assets"]["video"]["size"]
    assert creates(home) == len(jobs)  # a job in the ledger was created exactly once


@pytest.mark.slow
@pytest.mark.serial  # Ctrl-C must land mid-render
def test_ctrl_c_leaves_the_job_resumable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home)
    # A render long enough that Ctrl-C lands mid-render even when the machine is busy (with
    # 1.5 s, a loaded run sometimes saw the job finish first and exit 0).
    interrupted = {**env, "SORAKIT_SIMULATOR_RENDER_SECONDS": "5"}
    child = subprocess.Popen(
        [SCRIPT, "generate", "interrupted", "-q"],
        env=interrupted,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_submitted_job(home)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130
    assert "sorakit jobs resume" in err and "Traceback" not in err
    resumed = subprocess.run(
        [SCRIPT, "jobs", "resume", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0 and resumed.stdout.strip().endswith(".mp4")
    assert creates(home) == 1

"""A pipeline remembers the server its models went to: `sorakit long --base-url URL` killed after
its first segment is finished by a bare `sorakit jobs resume` on that server, never quietly on the
simulator that `sora-2` routes to without `--base-url`.

The upstream is a real `sorakit serve` gateway on loopback (a simulator that renders for a few
seconds); the CLI runs as a subprocess with no OPENAI_* variable, and is SIGKILLed once its
second segment is at the upstream (so the first is finished and the third not yet made).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sorakit
from sorakit.security.secretbox import generate_key
from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit as run_cli
from tests.cli.test_resume_endpoints import killed_when, ledger_bytes, upstream
from tests.gateway.test_tenants import creates

SEGMENTS = ["segment-1", "segment-2", "segment-3"]


def killed_at(home: Path, args: list[str], step: str, env: dict[str, str] | None = None) -> str:
    """Run `sorakit ARGS`, SIGKILL it once the pipeline step's job is at the upstream; returns
    that job's id."""
    return killed_when(home, args, "pipeline_step", step, env)[0]


def killed_long(home: Path, url: str, key: str, env: dict[str, str] | None = None) -> str:
    """`sorakit long … --base-url URL --api-key KEY` in three segments, SIGKILLed once the second
    segment is at the upstream; returns that segment's job id."""
    args = ["long", "a lighthouse through one night", "--seconds", "12", "--segments", "3"]
    args += ["--planner", "offline", "-q", "--base-url", url, "--api-key", key]
    return killed_at(home, args, "segment-2", env)


def in_flight_pipeline(home: Path) -> str:
    [pipeline_id] = {job["pipeline_id"] for job in pipeline_jobs(home)}
    return str(pipeline_id)


def pipeline_jobs(home: Path) -> list[dict[str, Any]]:
    listed = run_cli("jobs", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    return [job for job in json.loads(listed.stdout) if job["pipeline_id"]]


def test_a_killed_long_video_resumes_on_its_server_with_no_flags(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    sealed = {"SORAKIT_SECRET_KEY": generate_key()}
    with upstream(tmp_path / "up", keyed=True) as (url, key, settings):
        assert key is not None
        killed_long(home, url, key, sealed)

        resumed = run_cli("jobs", "resume", "-q", home=home, env=sealed)
        assert resumed.returncode == 0, resumed.stderr
        video = Path(resumed.stdout.strip().splitlines()[-1])
        assert video.name == "video.mp4" and video.is_file()

        jobs = pipeline_jobs(home)
        assert sorted(job["pipeline_step"] for job in jobs) == SEGMENTS
        assert {job["provider"] for job in jobs} == {"openai"}
        assert {job["status"] for job in jobs} == {"completed"}
        assert creates(settings) == 3  # every segment made at the upstream, and once
    assert creates(get_settings(home=home)) == 0  # nothing rendered on the local simulator
    assert key.encode() not in ledger_bytes(home)


def test_a_key_not_kept_is_asked_for_and_nothing_goes_to_the_simulator(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    with upstream(tmp_path / "up", keyed=True) as (url, key, settings):
        assert key is not None
        in_flight = killed_long(home, url, key)  # no SORAKIT_SECRET_KEY: the key is not kept
        with sorakit.Client(home=home, api_key=key) as client:
            client.cancel(in_flight)  # so the resume has a segment to make anew

        bare = run_cli("jobs", "resume", "-q", home=home)
        assert bare.returncode == 4
        [asked] = bare.stderr.strip().splitlines()  # one line, asking for the key
        assert asked.startswith(f"{in_flight_pipeline(home)}: stopped: ")
        assert url in asked and "--api-key" in asked and "OPENAI_API_KEY" in asked
        assert creates(get_settings(home=home)) == 0  # nothing rendered on the local simulator
        assert {job["provider"] for job in pipeline_jobs(home)} == {"openai"}
        assert creates(settings) == 2

        again = run_cli("jobs", "resume", "-q", "--api-key", key, home=home)
        assert again.returncode == 0, again.stderr
        jobs = pipeline_jobs(home)
        assert {job["provider"] for job in jobs} == {"openai"}
        made = sorted(job["pipeline_step"] for job in jobs if job["status"] == "completed")
        assert made == ["segment-1", "segment-2#2", "segment-3"]
        assert creates(settings) == 4  # the cancelled segment, made again, and the rest once
    assert creates(get_settings(home=home)) == 0
    assert key.encode() not in ledger_bytes(home)


def test_a_batch_row_made_again_goes_to_the_batch_server(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    sealed = {"SORAKIT_SECRET_KEY": generate_key()}
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "a kite over the dunes", "seconds": 4}) + "\n")
    with upstream(tmp_path / "up", keyed=True) as (url, key, settings):
        assert key is not None
        args = ["batch", str(rows), "-q", "--base-url", url, "--api-key", key]
        in_flight = killed_at(home, args, "row-1", sealed)
        with sorakit.Client(home=home, api_key=key) as client:
            client.cancel(in_flight)  # so the resume has a row to make anew

        resumed = run_cli("jobs", "resume", "-q", home=home, env=sealed)
        assert resumed.returncode == 0, resumed.stderr
        jobs = pipeline_jobs(home)
        assert sorted(job["pipeline_step"] for job in jobs) == ["row-1", "row-1#2"]
        assert {job["provider"] for job in jobs} == {"openai"}
        assert creates(settings) == 2
    assert creates(get_settings(home=home)) == 0
    assert key.encode() not in ledger_bytes(home)

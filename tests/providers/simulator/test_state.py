"""The simulator's records: clock-derived status, atomic files, one job per idempotency key."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sorakit.providers.simulator.state import (
    MODERATION_CODE,
    MODERATION_MESSAGE,
    CharacterRecord,
    FailPlan,
    JobRecord,
    SegmentSpec,
    SimulatorStore,
    curve_progress,
    job_state,
    new_character_id,
    new_job_id,
)

T0 = 1_800_000_000.0


def record(**changes: object) -> JobRecord:
    base = JobRecord(
        id=new_job_id(),
        kind="generate",
        model="sora-2",
        prompt="a calico cat",
        size="1280x720",
        seconds=4,
        total_seconds=4,
        created_at=T0,
        render_seconds=100.0,
        progress_curve="linear",
        seed=42,
        idempotency_key="key-1",
        segments=(
            SegmentSpec("a calico cat", 4, 42, label="sora-2 · generate", characters=("mochi",)),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_ids_have_the_documented_shapes() -> None:
    job, character = new_job_id(), new_character_id()
    assert job.startswith("sim_") and len(job) == 4 + 24 and int(job[4:], 16) >= 0
    assert character.startswith("char_") and len(character) == 5 + 24
    assert new_job_id() != job


def test_lifecycle_is_a_pure_function_of_the_clock() -> None:
    job = record()

    assert job_state(job, T0 - 5).status == "queued"
    assert job_state(job, T0).status == "queued"
    assert job_state(job, T0 + 9.9).progress == 0
    states = [job_state(job, T0 + t) for t in (11, 30, 60, 99.9)]
    assert all(s.status == "in_progress" for s in states)
    progress = [s.progress for s in states]
    assert progress == sorted(progress) and progress[0] >= 1 and progress[-1] <= 99
    assert states[1].remaining == pytest.approx(70.0)
    done = job_state(job, T0 + 100)
    assert (done.status, done.progress, done.finished_at) == ("completed", 100, T0 + 100)
    assert job_state(job, T0 + 1e6) == done


def test_curves_linear_ease_and_stall() -> None:
    assert curve_progress("linear", 0.5) == pytest.approx(0.5)
    assert curve_progress("ease", 0.5) < 0.5 < curve_progress("stall", 0.5)
    assert curve_progress("ease", 1.0) == pytest.approx(1.0)
    assert curve_progress("stall", 0.3) == pytest.approx(0.9)
    assert curve_progress("stall", 0.99) == pytest.approx(0.9), "sits at 90 until the end"
    stall = record(progress_curve="stall")
    assert job_state(stall, T0 + 40).progress == 90
    assert job_state(stall, T0 + 99).progress == 90
    assert job_state(stall, T0 + 100).status == "completed"


def test_a_fail_plan_fails_the_job_at_its_fraction() -> None:
    job = record(fail=FailPlan(fraction=0.5))

    assert job_state(job, T0 + 49).status == "in_progress"
    assert job_state(job, T0 + 49).remaining == pytest.approx(1.0)
    failed = job_state(job, T0 + 50)
    assert failed.status == "failed"
    assert (failed.error_code, failed.error_message) == (MODERATION_CODE, MODERATION_MESSAGE)
    assert failed.finished_at == T0 + 50
    assert 1 <= failed.progress < 100
    assert job_state(job, T0 + 500).status == "failed"


def test_zero_render_time_completes_at_once() -> None:
    assert job_state(record(render_seconds=0.0), T0).status == "completed"
    assert job_state(record(render_seconds=0.0, fail=FailPlan(0.5)), T0).status == "failed"


def test_records_round_trip_through_json(tmp_path: Path) -> None:
    store = SimulatorStore(tmp_path)
    job = record(fail=FailPlan(0.3), characters=("char_1",), reference="x.png", prompt="ünïcødé ✓")

    store.save_job(job)

    assert store.load_job(job.id) == job
    assert JobRecord.from_json(job.to_json()) == job
    assert [p.name for p in store.jobs.iterdir()] == [f"{job.id}.json"], "no temp files remain"
    assert store.load_job("sim_missing") is None
    assert store.load_job("../../etc/passwd") is None
    deleted = store.mark_deleted(job)
    assert deleted.deleted and store.load_job(job.id) == deleted


def test_one_key_binds_one_job_even_under_contention(tmp_path: Path) -> None:
    stores = [SimulatorStore(tmp_path) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    winners: list[str] = []

    def claim(index: int) -> None:
        barrier.wait()
        winners.append(stores[index].claim_key("the-key", f"sim_{index:024x}"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(winners)) == 1
    assert stores[0].job_for_key("the-key") == winners[0]
    assert stores[0].job_for_key("another-key") is None
    assert len(list(stores[0].idempotency.iterdir())) == 1, "no temp files remain"


def test_the_creates_log_counts_creates(tmp_path: Path) -> None:
    store = SimulatorStore(tmp_path)
    jobs = [record(), record()]

    for job in jobs:
        store.log_create(job)

    assert store.created_ids() == [job.id for job in jobs]
    assert SimulatorStore(tmp_path / "empty").created_ids() == []


def test_characters_are_stored(tmp_path: Path) -> None:
    store = SimulatorStore(tmp_path)
    character = CharacterRecord(id=new_character_id(), name="Mochi", created_at=int(T0))

    store.save_character(character)

    assert store.load_character(character.id) == character
    assert store.load_character("char_missing") is None


def test_media_files_and_their_removal(tmp_path: Path) -> None:
    store = SimulatorStore(tmp_path)
    files = store.media_files("sim_1")
    assert not files.complete()
    files.video.parent.mkdir(parents=True)
    for path in (files.video, files.thumbnail, files.spritesheet):
        path.write_bytes(b"x")
    assert files.complete()
    assert files.path("thumbnail") == files.thumbnail

    store.remove_media("sim_1")

    assert not files.video.parent.exists()


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")
def test_the_render_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    store = SimulatorStore(tmp_path)
    events: list[str] = []

    def second() -> None:
        with store.render_lock("sim_1"):
            events.append("second")

    with store.render_lock("sim_1"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        events.append("first done")
    thread.join(timeout=5)

    assert events == ["first done", "second"]

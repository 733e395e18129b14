"""Every pipeline kind made for an API key: its steps are that key's jobs on that key's budget,
refused whole up front when the budget cannot pay, and still the key's after a resume."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sorakit.engine import Engine, Owner
from sorakit.errors import BudgetExceededError, NotFoundError, SorakitError
from sorakit.ledger import JobStatus, PipelineStatus
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.remixes import RemixChainRequest, RemixChains
from sorakit.pipelines.resume import resume_pipelines, runner_for
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.steps import owner_fields, owner_of
from sorakit.pipelines.variations import Variations, VariationsRequest
from sorakit.providers.simulator import SimulatorProvider
from sorakit.providers.simulator.faults import FaultInjector
from sorakit.settings import Settings
from tests.pipelines.test_long import creates

# Every kind below is two 4 s sora-2 videos at $0.10/s: $0.80 in all.
WHOLE = 0.8


@dataclass
class Kind:
    """How to start one pipeline kind for a key."""

    name: str
    start: Callable[[Engine, dict[str, Any], Path], Any]
    extend: bool = False


def _batch(engine: Engine, owner: dict[str, Any], folder: Path) -> Any:
    file = folder / "rows.jsonl"
    rows = [{"prompt": f"a lantern number {i}", "seconds": 4} for i in (1, 2)]
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return Batches(engine).start(BatchRequest(str(file), **owner))


KINDS = [
    Kind(
        "long",
        lambda e, o, _: LongVideos(e).start(
            LongRequest("a lighthouse in a storm", 8, segments=2, planner="offline", **o)
        ),
    ),
    Kind(
        "long-extend",
        lambda e, o, _: LongVideos(e).start(
            LongRequest("a train crosses a bridge", 8, mode="extend", segments=2, **o)
        ),
    ),
    Kind(
        "storyboard",
        lambda e, o, _: Storyboards(e).start(
            StoryboardRequest("[4s] a door opens [4s] a dog runs out", text_only=True, **o)
        ),
    ),
    Kind(
        "remix_chain",
        lambda e, o, _: RemixChains(e).start(
            RemixChainRequest("a red kite", ["make it blue"], seconds=4, **o)
        ),
    ),
    Kind(
        "variations",
        lambda e, o, _: Variations(e).start(VariationsRequest("a koi pond", 2, seconds=4, **o)),
    ),
    Kind("batch", _batch),
]
IDS = [kind.name for kind in KINDS]


class SecondCreateModerated(FaultInjector):
    """The simulator's second new job fails moderation; every other one renders."""

    def __init__(self) -> None:
        super().__init__()
        self.made = 0

    def moderation(self) -> bool:
        self.made += 1
        return self.made == 2


async def _key(engine: Engine, budget: float | None = None) -> Owner:
    key, _ = await engine.ledger.create_key("tenant", budget_usd=budget)
    return Owner(key.id, budget)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_every_step_is_the_keys_job_and_the_pipeline_is_the_keys(
    kind: Kind, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _key(engine, budget=WHOLE)  # exactly enough
        pipeline = await kind.start(engine, owner_fields(owner), tmp_path)
        assert pipeline.owner == owner.key_id
        assert owner_of(pipeline.spec) == owner
        resumed = await runner_for(pipeline.kind, engine).resume(pipeline.id)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED, resumed.error
        assert (await engine.ledger.get_pipeline(pipeline.id)).owner == owner.key_id
        jobs = await engine.ledger.pipeline_jobs(pipeline.id)
        assert len(jobs) == 2
        assert {job.owner for job in jobs} == {owner.key_id}
        assert (await engine.ledger.spend(owner=owner.key_id)).total == pytest.approx(WHOLE)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_a_key_budget_that_cannot_pay_the_whole_refuses_it_with_nothing_sent(
    kind: Kind, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _key(engine, budget=1.0)
        # $0.40 of the key's budget is already reserved: $0.80 more passes $1.00.
        await engine.create("elsewhere", seconds=4, submit=False, owner=owner)
        with pytest.raises(BudgetExceededError, match=r"this API key's budget of \$1\.00"):
            await kind.start(engine, owner_fields(owner), tmp_path)
        assert await engine.ledger.list_pipelines() == []
        jobs, _ = await engine.ledger.list_jobs(owner=owner.key_id)
        assert len(jobs) == 1  # only that one
    assert creates(settings) == 0


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_a_resume_after_a_restart_keeps_the_owner(
    kind: Kind, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _key(engine, budget=5.0)
        simulator = engine.providers.get("simulator")
        assert isinstance(simulator, SimulatorProvider)
        simulator.faults = SecondCreateModerated()
        pipeline = await kind.start(engine, owner_fields(owner), tmp_path)
        with contextlib.suppress(SorakitError):  # some kinds raise, some end failed
            await runner_for(pipeline.kind, engine).resume(pipeline.id)
        stopped = await engine.ledger.get_pipeline(pipeline.id)
        assert stopped.status is PipelineStatus.FAILED
        failed = [j for j in await engine.ledger.pipeline_jobs(pipeline.id) if j.status.finished]
        assert any(job.status is JobStatus.FAILED for job in failed)
    # A new process (a restart) resumes it from the ledger alone.
    async with await Engine.open(settings) as engine:
        (resumed,) = await resume_pipelines(engine)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED, resumed.error
        jobs = await engine.ledger.pipeline_jobs(pipeline.id)
        assert len(jobs) == 3  # two steps and one retry
        assert {job.owner for job in jobs} == {owner.key_id}
        assert resumed.pipeline.owner == owner.key_id


async def test_a_chain_never_starts_from_another_keys_video(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        mine, theirs = await _key(engine), await _key(engine)
        video = await engine.create("their kite", seconds=4, owner=theirs)
        video = await engine.wait(video.id)
        request = RemixChainRequest(video.id, ["make it blue"], **owner_fields(mine))
        with pytest.raises(NotFoundError, match="No video found"):
            await RemixChains(engine).start(request)
        admin = Owner(mine.key_id, sees_all=True)
        pipeline = await RemixChains(engine).start(
            RemixChainRequest(video.id, ["make it blue"], **owner_fields(admin))
        )
        assert pipeline.owner == mine.key_id


async def test_the_same_batch_file_from_two_keys_is_two_batches(
    settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        first, second = await _key(engine), await _key(engine)
        one = await _batch(engine, owner_fields(first), tmp_path)
        other = await _batch(engine, owner_fields(second), tmp_path)
        again = await _batch(engine, owner_fields(first), tmp_path)
        plain = await _batch(engine, owner_fields(None), tmp_path)
    assert one.id != other.id and again.id == one.id and plain.id not in (one.id, other.id)
    assert (one.owner, other.owner, plain.owner) == (first.key_id, second.key_id, None)

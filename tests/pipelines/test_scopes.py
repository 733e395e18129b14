"""Every pipeline kind made under a project (a budget scope): its steps count against that
project, after a restart too, and a project's cap that cannot pay the whole pipeline refuses it
up front, naming the project, with nothing sent. And the remix chain's own estimate."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from sorakit.engine import Engine, Owner
from sorakit.errors import BudgetExceededError, NotFoundError, SorakitError
from sorakit.ledger import PipelineStatus
from sorakit.pipelines.remixes import RemixChainRequest, RemixChains
from sorakit.pipelines.resume import resume_pipelines, runner_for
from sorakit.pipelines.steps import owner_fields, owner_of
from sorakit.providers.simulator import SimulatorProvider
from sorakit.settings import Settings
from tests.pipelines.test_long import creates
from tests.pipelines.test_owners import IDS, KINDS, WHOLE, Kind, SecondCreateModerated


async def _project(
    engine: Engine, cap: float | None, *, keyed: bool = True, name: str = "Trailer"
) -> Owner:
    """A key (or the keyless ledger, as on an open studio) working under a new project."""
    key_id = (await engine.ledger.create_key("tenant"))[0].id if keyed else None
    scope = await engine.ledger.create_scope(name, owner=key_id, cap_usd=cap)
    return Owner(key_id, None, not keyed, scope.id, cap)


@pytest.mark.parametrize("keyed", [True, False], ids=["key", "keyless"])
@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_every_step_counts_against_the_project(
    kind: Kind, keyed: bool, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _project(engine, WHOLE, keyed=keyed)  # exactly enough
        assert owner.scope_id is not None
        pipeline = await kind.start(engine, owner_fields(owner), tmp_path)
        assert owner_of(pipeline.spec) == owner
        assert pipeline.owner == owner.key_id
        resumed = await runner_for(pipeline.kind, engine).resume(pipeline.id)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED, resumed.error
        assert len(await engine.ledger.pipeline_jobs(pipeline.id)) == 2
        in_project = await engine.ledger.spend(scope_id=owner.scope_id)
        assert in_project.total == pytest.approx(WHOLE)
        assert (await engine.ledger.spend(pipeline.id)).total == pytest.approx(WHOLE)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_a_project_cap_that_cannot_pay_the_whole_refuses_it_naming_the_project(
    kind: Kind, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _project(engine, 1.0)
        # $0.40 of the project's cap is already reserved: $0.80 more passes $1.00.
        await engine.create("elsewhere", seconds=4, submit=False, owner=owner)
        with pytest.raises(BudgetExceededError, match=r'project "Trailer"\'s budget of \$1\.00'):
            await kind.start(engine, owner_fields(owner), tmp_path)
        assert await engine.ledger.list_pipelines() == []
        assert (await engine.ledger.spend(scope_id=owner.scope_id)).total == pytest.approx(0.4)
        # The key itself has no budget: without the project the same pipeline is taken.
        plain = await kind.start(engine, owner_fields(Owner(owner.key_id)), tmp_path)
        assert plain.owner == owner.key_id
    assert creates(settings) == 0


async def test_another_projects_spend_does_not_count(settings: Settings, tmp_path: Path) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _project(engine, WHOLE)
        other = await engine.ledger.create_scope("Teaser", owner=owner.key_id)
        elsewhere = Owner(owner.key_id, scope_id=other.id)
        await engine.create("in the other project", seconds=4, submit=False, owner=elsewhere)
        pipeline = await KINDS[0].start(engine, owner_fields(owner), tmp_path)  # $0.80 fits
        assert owner_of(pipeline.spec) == owner


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
async def test_a_resume_after_a_restart_keeps_the_project(
    kind: Kind, settings: Settings, tmp_path: Path
) -> None:
    async with await Engine.open(settings) as engine:
        owner = await _project(engine, 5.0)
        simulator = engine.providers.get("simulator")
        assert isinstance(simulator, SimulatorProvider)
        simulator.faults = SecondCreateModerated()
        pipeline = await kind.start(engine, owner_fields(owner), tmp_path)
        with contextlib.suppress(SorakitError):  # some kinds raise, some end failed
            await runner_for(pipeline.kind, engine).resume(pipeline.id)
    async with await Engine.open(settings) as engine:  # a new process resumes from the ledger
        (resumed,) = await resume_pipelines(engine)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED, resumed.error
        jobs = await engine.ledger.pipeline_jobs(pipeline.id)
        assert len(jobs) == 3  # two steps and one retry (the failed one is not billed)
        assert (await engine.ledger.spend(scope_id=owner.scope_id)).total == pytest.approx(WHOLE)


# RemixChains.estimate


async def test_a_chain_from_a_prompt_is_priced_base_and_remixes(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        chains = RemixChains(engine)
        request = RemixChainRequest("a red kite", ["blue", "green", "at night"], seconds=4)
        assert await chains.estimate(request) == pytest.approx(4 * 0.4)  # base + 3 remixes
        longer = RemixChainRequest("a red kite", ["blue"], seconds=8)
        assert await chains.estimate(longer) == pytest.approx(2 * 0.8)
        # `start` refuses by that estimate: a cent under it is refused, the estimate is taken.
        with pytest.raises(BudgetExceededError, match=r"estimated at \$1\.60"):
            await chains.start(RemixChainRequest("a red kite", ["blue"] * 3, budget_usd=1.59))
        with pytest.raises(BudgetExceededError):
            await chains.start(
                RemixChainRequest("a kite", ["blue"] * 3, seconds=4, budget_usd=1.59)
            )
        await chains.start(RemixChainRequest("a kite", ["blue"] * 3, seconds=4, budget_usd=1.6))


async def test_a_chain_from_a_video_is_priced_at_that_videos_length(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        mine = (await engine.ledger.create_key("me"))[0].id
        theirs = (await engine.ledger.create_key("them"))[0].id
        video = await engine.wait((await engine.create("a kite", seconds=8, owner=Owner(mine))).id)
        chains = RemixChains(engine)
        # Only the remixes are made, each at the source's 8 s, whatever the request says.
        request = RemixChainRequest(
            video.id, ["blue", "green"], seconds=4, **owner_fields(Owner(mine))
        )
        assert await chains.estimate(request) == pytest.approx(2 * 0.8)
        stranger = RemixChainRequest(video.id, ["blue"], **owner_fields(Owner(theirs)))
        with pytest.raises(NotFoundError, match="No video found"):
            await chains.estimate(stranger)
        unfinished = await engine.create("still rendering", seconds=4, submit=False)
        with pytest.raises(SorakitError, match="completed video"):
            await chains.estimate(RemixChainRequest(unfinished.id, ["blue"]))

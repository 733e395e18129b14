"""Budget scopes (projects): their spend, their cap kept in the insert's transaction, starting
anew, closing, and one owner never reaching another's."""

from __future__ import annotations

import os

import anyio
import pytest

from sorakit.engine import Engine, Owner
from sorakit.errors import (
    BudgetExceededError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
)
from sorakit.ledger import JobStatus
from sorakit.settings import Settings
from tests.conftest import FakeProvider
from tests.ledger.test_postgres import fresh_database

# sora-2 lists at $0.10 per second: a 4 s clip reserves $0.40.


def under(scope_id: str, cap: float | None, key_id: str | None = None) -> Owner:
    return Owner(key_id, sees_all=key_id is None, scope_id=scope_id, scope_budget_usd=cap)


async def test_a_project_counts_its_own_jobs_and_keeps_its_cap(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        ledger = engine.ledger
        trailer = await ledger.create_scope("  Trailer  ", cap_usd=1.0)
        assert (trailer.name, trailer.cap_usd, trailer.owner, trailer.open) == (
            "Trailer",
            1.0,
            None,
            True,
        )
        first = await engine.create("one", seconds=4, owner=under(trailer.id, 1.0))
        await engine.create("two", seconds=4, owner=under(trailer.id, 1.0), submit=False)
        await engine.create("outside the project", seconds=12, submit=False)
        assert (await ledger.spend(scope_id=trailer.id)).reserved == pytest.approx(0.8)

        with pytest.raises(BudgetExceededError) as refused:
            await engine.create("three", seconds=4, owner=under(trailer.id, 1.0))
        assert str(refused.value) == (
            "sora-2 at 720x1280 is estimated at $0.40; with $0.80 already spent or reserved "
            'that passes project "Trailer"\'s budget of $1.00, so it was not sent.'
        )
        assert len(await ledger.unfinished()) == 3  # the refused job left no row
        assert fake.creates == 1

        assert (await engine.wait(first.id)).status is JobStatus.COMPLETED
        spend = await ledger.spend(scope_id=trailer.id)
        assert (spend.committed, spend.reserved) == (pytest.approx(0.4), pytest.approx(0.4))
        [listed] = await ledger.list_scopes()
        assert listed.scope == trailer and listed.spend == spend
        assert listed.left == pytest.approx(0.2)


async def test_starting_anew_keeps_the_history_and_starts_at_zero(settings: Settings) -> None:
    async with await Engine.open(settings, providers={"simulator": FakeProvider()}) as engine:
        ledger = engine.ledger
        old = await ledger.create_scope("Trailer", cap_usd=0.5)
        await engine.create("one", seconds=4, owner=under(old.id, 0.5), submit=False)
        with pytest.raises(BudgetExceededError, match="Trailer"):
            await engine.create("two", seconds=4, owner=under(old.id, 0.5), submit=False)

        new = await ledger.restart_scope(old.id)
        assert (new.name, new.cap_usd, new.open) == ("Trailer", 0.5, True) and new.id != old.id
        assert (await ledger.spend(scope_id=new.id)).total == 0
        await engine.create("two, anew", seconds=4, owner=under(new.id, 0.5), submit=False)

        closed = await ledger.get_scope(old.id)
        assert (closed.open, closed.replaced_by) == (False, new.id)
        assert (await ledger.spend(scope_id=old.id)).total == pytest.approx(0.4)  # history
        assert await ledger.find_scope("Trailer") == new
        assert [s.scope.id for s in await ledger.list_scopes()] == [new.id]
        history = await ledger.list_scopes(include_closed=True)
        assert [(s.scope.id, s.spend.total) for s in history] == [
            (new.id, pytest.approx(0.4)),
            (old.id, pytest.approx(0.4)),
        ]
        with pytest.raises(InvalidStateError, match="already closed"):
            await ledger.restart_scope(old.id)

        raised = await ledger.restart_scope(new.id, cap_usd=2.0)  # anew, with another cap
        assert raised.cap_usd == 2.0
        uncapped = await ledger.restart_scope(raised.id, cap_usd=None)
        assert uncapped.cap_usd is None

        await ledger.close_scope(uncapped.id)
        assert await ledger.open_scope("Trailer") is None
        with pytest.raises(NotFoundError, match='No open project named "Trailer"'):
            await ledger.find_scope("Trailer")
        again = await ledger.create_scope("Trailer")  # the name is free once closed
        assert again.cap_usd is None


async def test_names_are_per_owner_and_owners_reach_only_their_own(settings: Settings) -> None:
    async with await Engine.open(settings, providers={"simulator": FakeProvider()}) as engine:
        ledger = engine.ledger
        mine = await ledger.create_scope("Trailer", owner="key_a", cap_usd=1.0)
        theirs = await ledger.create_scope("Trailer", owner="key_b")
        keyless = await ledger.create_scope("Trailer")
        assert len({mine.id, theirs.id, keyless.id}) == 3
        with pytest.raises(InvalidRequestError, match='"Trailer" is already open'):
            await ledger.create_scope("Trailer", owner="key_a")
        with pytest.raises(InvalidRequestError, match="already open"):
            await ledger.create_scope("Trailer")  # the keyless ledger's names are unique too

        assert [s.scope.id for s in await ledger.list_scopes(owner="key_a")] == [mine.id]
        assert [s.scope.id for s in await ledger.list_scopes()] == [keyless.id]
        for action in (ledger.get_scope, ledger.restart_scope, ledger.close_scope):
            with pytest.raises(NotFoundError, match="No project found"):
                await action(theirs.id, owner="key_a")
            with pytest.raises(NotFoundError):
                await action(mine.id)  # the keyless ledger does not reach a key's project
        assert (await ledger.find_scope("Trailer", owner="key_b")).id == theirs.id
        assert (await ledger.find_scope(mine.id, owner="key_a")).id == mine.id
        with pytest.raises(NotFoundError):
            await ledger.find_scope(mine.id, owner="key_b")


@pytest.mark.parametrize(
    ("name", "cap", "message"),
    [
        ("", None, "1 to 128 characters"),
        ("   ", None, "1 to 128 characters"),
        ("x" * 129, None, "1 to 128 characters"),
        ("bad\x00name", None, "control characters"),
        ("Trailer", 0.0, "positive amount in USD"),
        ("Trailer", -5.0, "positive amount in USD"),
        ("Trailer", float("nan"), "positive amount in USD"),
        ("Trailer", float("inf"), "positive amount in USD"),
    ],
)
async def test_bad_names_and_caps_are_refused_readably(
    settings: Settings, name: str, cap: float | None, message: str
) -> None:
    async with await Engine.open(settings) as engine:
        with pytest.raises(InvalidRequestError, match=message):
            await engine.ledger.create_scope(name, cap_usd=cap)
        assert await engine.ledger.list_scopes(include_closed=True) == []
        assert await engine.ledger.open_scope("bad\x00name") is None
        with pytest.raises(NotFoundError):
            await engine.ledger.get_scope("scope_\x00")


async def test_spend_views_read_a_project_a_key_and_the_ledger_at_once(
    settings: Settings,
) -> None:
    async with await Engine.open(settings, providers={"simulator": FakeProvider()}) as engine:
        ledger = engine.ledger
        scope = await ledger.create_scope("Trailer", owner="key_a")
        owner = Owner("key_a", scope_id=scope.id)
        await engine.create("in the project", seconds=4, owner=owner, submit=False)
        await engine.create("the key, no project", seconds=8, owner=Owner("key_a"), submit=False)
        await engine.create("another key", seconds=12, owner=Owner("key_b"), submit=False)
        views = await ledger.spend_views(scope_id=scope.id, owner="key_a", whole=True)
        assert views.scope is not None and views.scope.total == pytest.approx(0.4)
        assert views.owner is not None and views.owner.total == pytest.approx(1.2)
        assert views.ledger is not None and views.ledger.total == pytest.approx(2.4)
        narrow = await ledger.spend_views(owner="key_a")
        assert (narrow.scope, narrow.ledger) == (None, None)
        assert narrow.owner is not None and narrow.owner.total == pytest.approx(1.2)


async def test_concurrent_creates_never_pass_a_project_cap(settings: Settings) -> None:
    await concurrent_project_creates(settings, settings.ledger_url)


@pytest.mark.postgres
@pytest.mark.skipif(
    "SORAKIT_TEST_POSTGRES_URL" not in os.environ, reason="no Postgres (scripts/postgres start)"
)
async def test_project_caps_and_names_hold_on_postgres(settings: Settings) -> None:
    async with fresh_database() as url:
        await concurrent_project_creates(settings, url)


async def concurrent_project_creates(settings: Settings, url: str) -> None:
    """Two engines (as two processes would) race 20 creates into a project with room for 5."""
    settings = settings.model_copy(update={"database_url": url})
    engines = [await Engine.open(settings, providers={"simulator": FakeProvider()}) for _ in "ab"]
    try:
        scope = await engines[0].ledger.create_scope("Trailer", owner="key_a", cap_usd=2.0)
        owner = Owner("key_a", scope_id=scope.id, scope_budget_usd=2.0)
        accepted: list[str] = []
        refused = 0

        async def one(engine: Engine, index: int) -> None:
            nonlocal refused
            try:
                job = await engine.create(f"job {index}", seconds=4, owner=owner, submit=False)
                accepted.append(job.id)
            except BudgetExceededError:
                refused += 1

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(one, engines[index % 2], index)
        assert (len(accepted), refused) == (5, 15)
        assert (await engines[1].ledger.spend(scope_id=scope.id)).reserved == pytest.approx(2.0)

        # One open project per name, however the creates race (the unique index decides).
        results: list[object] = []

        async def make(engine: Engine) -> None:
            try:
                results.append(await engine.ledger.create_scope("Teaser", owner="key_a"))
            except InvalidRequestError as exc:
                results.append(exc)

        async with anyio.create_task_group() as group:
            for engine in engines * 3:
                group.start_soon(make, engine)
        assert sum(isinstance(r, InvalidRequestError) for r in results) == 5
        restarted = await engines[1].ledger.restart_scope(scope.id, owner="key_a")
        assert (await engines[0].ledger.spend(scope_id=restarted.id)).total == 0
    finally:
        for engine in engines:
            await engine.aclose()

"""`sorakit budgets` in a subprocess: projects opened, listed with their spend, started anew,
closed; every mistake one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sorakit.engine import Engine, Owner
from sorakit.settings import get_settings
from tests.cli.test_cli import sorakit


def _spend_in(home: Path, scope_id: str, cap: float | None, key_id: str | None = None) -> None:
    """A 4 s sora-2 job ($0.40) recorded under the project, as the studio would make it."""

    async def make() -> None:
        settings = get_settings(home=home)
        async with await Engine.open(settings) as engine:
            owner = Owner(key_id, scope_id=scope_id, scope_budget_usd=cap)
            await engine.create("a kite", seconds=4, owner=owner, submit=False)

    asyncio.run(make())


def _listed(home: Path, *args: str) -> list[dict[str, object]]:
    listing = sorakit("budgets", "list", "--json", *args, home=home)
    assert listing.returncode == 0, listing.stderr
    rows: list[dict[str, object]] = json.loads(listing.stdout)
    return rows


def test_budgets_create_list_reset_close(isolated_env: Path) -> None:
    home = isolated_env
    made = sorakit("budgets", "create", "Trailer", "--cap", "$5", home=home)
    assert made.returncode == 0, made.stderr
    scope_id = made.stdout.strip().splitlines()[-1]
    assert scope_id.startswith("scope_")
    assert 'project "Trailer" opened with a cap of $5.00' in made.stderr
    _spend_in(home, scope_id, 5.0)

    [row] = _listed(home)
    assert (row["id"], row["name"], row["cap_usd"]) == (scope_id, "Trailer", 5.0)
    assert row["spend"] == {"committed": 0.0, "reserved": 0.4, "unpriced_jobs": 0}
    assert row["left"] == pytest.approx(4.6)
    table = sorakit("budgets", "list", home=home)
    assert "Trailer" in table.stdout and "$4.60" in table.stdout and "open since" in table.stdout

    reset = sorakit("budgets", "reset", "Trailer", home=home)
    assert reset.returncode == 0, reset.stderr
    new_id = reset.stdout.strip().splitlines()[-1]
    assert new_id != scope_id
    assert "started anew at $0 with a cap of $5.00; the $0.40 it spent before" in reset.stderr
    [fresh] = _listed(home)
    assert (fresh["id"], fresh["cap_usd"], fresh["left"]) == (new_id, 5.0, 5.0)
    history = _listed(home, "--all")
    assert [(r["id"], r["replaced_by"]) for r in history] == [(new_id, None), (scope_id, new_id)]

    recapped = sorakit("budgets", "reset", "Trailer", "--cap", "none", home=home)
    assert recapped.returncode == 0 and "with no cap" in recapped.stderr
    closed = sorakit("budgets", "close", "Trailer", home=home)
    assert closed.returncode == 0 and 'project "Trailer" closed' in closed.stderr
    assert _listed(home) == []
    assert len(_listed(home, "--all")) == 3


def test_a_keys_projects_are_its_own(isolated_env: Path) -> None:
    home = isolated_env
    made = sorakit("keys", "create", "alice", home=home)
    assert made.returncode == 0, made.stderr
    key_id = made.stderr.split(" ", 1)[0]
    assert key_id.startswith("key_")
    assert sorakit("budgets", "create", "Trailer", "--key", key_id, home=home).returncode == 0
    assert sorakit("budgets", "create", "Trailer", home=home).returncode == 0  # keyless: apart
    [row] = _listed(home, "--key", key_id)
    assert row["owner"] == key_id
    [keyless] = _listed(home)
    assert keyless["owner"] is None and keyless["id"] != row["id"]
    # The keyless ledger cannot close the key's project by its id.
    wrong = sorakit("budgets", "close", str(row["id"]), home=home)
    assert wrong.returncode == 3 and "No project found" in wrong.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "Trailer", "--cap", "abc"], 2, "must be an amount in USD, like 5 or 12.50"),
        (["create", "Trailer", "--cap", "5,50"], 2, "must be an amount in USD"),
        (["create", "Trailer", "--cap", "-1"], 2, "must be a positive amount"),
        (["create", "   "], 2, "1 to 128 characters"),
        (["reset", "Nothing"], 3, 'No open project named "Nothing"'),
        (["list", "--key", "key_nope"], 3, "No API key with id 'key_nope'"),
    ],
)
def test_budgets_errors_are_one_line_with_a_non_zero_exit(
    isolated_env: Path, args: list[str], code: int, message: str
) -> None:
    result = sorakit("budgets", *args, home=isolated_env)
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_name_already_open_is_refused_in_one_line(isolated_env: Path) -> None:
    assert sorakit("budgets", "create", "Trailer", home=isolated_env).returncode == 0
    again = sorakit("budgets", "create", "Trailer", "--cap", "3", home=isolated_env)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        'sorakit: A project named "Trailer" is already open; start it anew or pick another name.'
    )

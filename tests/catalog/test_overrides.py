"""Run-time catalog overrides: how they lay over the settings, how they are checked and stored,
how a process keeps them current, and the `sorakit aliases` / `sorakit prices` commands."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest

from sorakit.catalog import Catalog, build_catalog
from sorakit.catalog.overrides import Overrides, PriceOverride, check_alias
from sorakit.catalog.sync import OverrideSync, load_overrides, set_alias, set_price
from sorakit.cli import main
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.ledger import Ledger
from sorakit.ledger.overrides import OverrideRecord
from sorakit.settings import Settings
from tests.catalog.test_aliases import WIDE


def record(kind: str, name: str, value: Any) -> OverrideRecord:
    return OverrideRecord(kind, name, value, 0.0)


def catalog(settings: Settings, aliases: dict[str, str] | None = None) -> Catalog:
    built = build_catalog(settings)
    return Catalog([*built, WIDE], aliases)


def test_admin_aliases_win_over_the_settings_and_can_unset_them(settings: Settings) -> None:
    cat = catalog(settings, {"sora-2": "wide-1", "old": "sora-2-pro"})
    cat.apply(Overrides(aliases={"sora-2": "fal/veo-3.1", "old": "old", "new": "wide-1"}))
    assert cat.route("sora-2")[0].name == "fal/veo-3.1"
    assert cat.route("new") == (WIDE, True)
    with pytest.raises(NotFoundError):  # `old` names no model: mapped to itself it is gone
        cat.route("old")
    assert cat.aliases == {"sora-2": "fal/veo-3.1", "new": "wide-1"}
    assert cat.settings_aliases == {"sora-2": "wide-1", "old": "sora-2-pro"}
    cat.apply(Overrides())  # removing every override restores the settings
    assert cat.route("sora-2") == (WIDE, True) and cat.aliases == cat.settings_aliases


def test_a_price_override_reprices_every_lookup_but_not_the_list(settings: Settings) -> None:
    cat = catalog(settings)
    price = PriceOverride({"1920x1080": 0.5})
    cat.apply(Overrides(prices={"wide-1": price}))
    assert cat.resolve("wide-1").capabilities.price("1920x1080", 10) == pytest.approx(5.0)
    assert cat.resolve("wide-1").capabilities.price("1080x1920", 10) == pytest.approx(2.0)
    assert cat.serving("simulator", "wide-1", "x").capabilities.price_per_second["1920x1080"] == 0.5
    assert next(e for e in cat if e.name == "wide-1").capabilities.price_per_second == {
        "1920x1080": 0.5,
        "1080x1920": 0.2,
    }
    assert cat.listed("wide-1") == WIDE  # the list price stays known
    assert cat.resolve("sora-2") == cat.listed("sora-2")  # others untouched


def test_a_per_second_rate_retires_per_clip_prices_at_its_sizes(settings: Settings) -> None:
    cat = build_catalog(settings)
    hailuo = cat.resolve("fal/hailuo-2.3")
    assert hailuo.capabilities.price("1366x768", 6) == pytest.approx(0.28)
    cat.apply(Overrides(prices={hailuo.name: PriceOverride.parse({"usd_per_second": 0.1}, hailuo)}))
    assert cat.resolve(hailuo.name).capabilities.price("1366x768", 6) == pytest.approx(0.6)
    clip = {"usd_per_clip": [{"size": "1366x768", "seconds": 10, "usd": 0.3}]}
    cat.apply(Overrides(prices={hailuo.name: PriceOverride.parse(clip, hailuo)}))
    caps = cat.resolve(hailuo.name).capabilities
    assert (caps.price("1366x768", 10), caps.price("1366x768", 6)) == (0.3, 0.28)


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"usd_per_second": -0.1}, "usd_per_second", "0 or more"),
        ({"usd_per_second": float("nan")}, "usd_per_second", "number"),
        ({"usd_per_second": False}, "usd_per_second", "number"),
        ({"usd_per_second": {"1x1": 1}}, "usd_per_second", "1920x1080"),
        ({"usd_per_clip": {"size": "1920x1080"}}, "usd_per_clip", "list"),
        ({"usd_per_clip": [{"size": "1920x1080", "seconds": 7, "usd": 1}]}, "usd_per_clip", "5"),
        ({"usd_per_clip": [{"size": "1920x1080", "seconds": 5}]}, "usd_per_clip", "exactly"),
        ({"usd_per_clip": [{"size": "1920x1080", "seconds": 5, "usd": -1}]}, "usd_per_clip", "0"),
        ({"per_second": 1}, "per_second", "Unrecognized"),
        ({}, "usd_per_second", "Give"),
        ([1], None, "object"),
    ],
)
def test_bad_prices_are_refused(body: Any, param: str | None, words: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        PriceOverride.parse(body, WIDE)
    assert refused.value.param == param and words in str(refused.value)


def test_a_good_price_round_trips_through_its_stored_form() -> None:
    body = {
        "usd_per_second": {"1080x1920": 0.3},
        "usd_per_clip": [{"size": "1920x1080", "seconds": "5", "usd": 0}],
    }
    price = PriceOverride.parse(body, WIDE)
    assert price == PriceOverride({"1080x1920": 0.3}, {("1920x1080", 5): 0.0})
    assert PriceOverride.parse(price.to_json(), WIDE) == price
    assert PriceOverride.parse({"usd_per_second": 1}, WIDE).per_second == {
        "1920x1080": 1.0,
        "1080x1920": 1.0,
    }


def test_alias_checks(settings: Settings) -> None:
    cat = catalog(settings, {"sora-2": "wide-1"})
    check_alias(cat, "house", "sora-2-pro")
    check_alias(cat, "sora-2", "sora-2")  # a model's own name back to itself
    check_alias(cat, "sora-2", "sora-2-pro")  # replaces the settings alias
    for name, target, param, words in [
        ("house", "nope", "target", "not a known model"),
        ("house", "sora-2", "target", "itself an alias of 'wide-1'"),
        ("wide-1", "sora-2-pro", "name", "target of the alias 'sora-2'"),
        ("house", "house", "target", "not a known model"),
        ("", "wide-1", "name", "1 to 128"),
        ("x" * 129, "wide-1", "name", "1 to 128"),
    ]:
        with pytest.raises(InvalidRequestError) as refused:
            check_alias(cat, name, target)
        assert refused.value.param == param and words in str(refused.value), (name, target)


def test_stored_rows_the_catalog_cannot_take_are_left_out(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    cat = catalog(settings)
    rows = [
        record("alias", "house", {"target": "wide-1"}),
        record("alias", "gone", {"target": "a-model-since-removed"}),
        record("alias", "broken", "wide-1"),
        record("price", "wide-1", {"usd_per_second": {"1920x1080": 0.9}}),
        record("price", "a-model-since-removed", {"usd_per_second": 1}),
        record("price", "sora-2", {"usd_per_second": {"1920x1080": 1}}),
        record("something-else", "x", {}),
    ]
    with caplog.at_level(logging.WARNING, "sorakit.catalog.overrides"):
        overrides = Overrides.parse(rows, cat)
    assert overrides.aliases == {"house": "wide-1"}
    assert list(overrides.prices) == ["wide-1"]
    ignored = [r.getMessage() for r in caplog.records]
    assert len(ignored) == 4 and all(m.startswith("ignoring the") for m in ignored)


async def test_the_ledger_stores_overrides(settings: Settings) -> None:
    ledger = await Ledger.open(settings.ledger_url)
    try:
        await ledger.set_override("alias", "house", {"target": "sora-2-pro"})
        await ledger.set_override("alias", "house", {"target": "sora-2"})  # replaced, not added
        await ledger.set_override("price", "fal/veo-3.1", {"usd_per_second": 0.3})
        aliases = await ledger.list_overrides("alias")
        assert [(r.name, r.value) for r in aliases] == [("house", {"target": "sora-2"})]
        assert [r.kind for r in await ledger.list_overrides()] == ["alias", "price"]
        price = await ledger.get_override("price", "fal/veo-3.1")
        assert price is not None and price.value == {"usd_per_second": 0.3}
        assert (await ledger.delete_override("alias", "house")).name == "house"
        assert await ledger.get_override("alias", "house") is None
        with pytest.raises(NotFoundError):
            await ledger.delete_override("alias", "house")
        with pytest.raises(InvalidRequestError):
            await ledger.set_override("colour", "x", {})  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            await ledger.set_override("alias", " ", {})
    finally:
        await ledger.close()


async def test_an_engine_opens_with_the_overrides_and_a_sync_follows_changes(
    settings: Settings,
) -> None:
    ledger = await Ledger.open(settings.ledger_url)
    try:
        await set_alias(build_catalog(settings), ledger, "house", "sora-2-pro")
        async with await Engine.open(settings) as engine:
            job = await engine.create("a house", model="house", seconds="4", submit=False)
            assert (job.model, job.provider_model, job.estimated_cost) == (
                "house",
                "sora-2-pro",
                pytest.approx(1.2),
            )
            sync = OverrideSync(engine.catalog, engine.ledger, interval=0.05)
            await sync.start()
            try:
                # Another process (here, another ledger connection) reprices the model.
                await set_price(
                    build_catalog(settings), ledger, "sora-2-pro", {"usd_per_second": 1}
                )
                with anyio.fail_after(5):
                    while engine.catalog.resolve("sora-2-pro").capabilities.price(
                        "720x1280", 4
                    ) != pytest.approx(4.0):
                        await anyio.sleep(0.02)
                job = await engine.create("dearer", model="house", seconds="4", submit=False)
                assert job.estimated_cost == pytest.approx(4.0)
            finally:
                await sync.aclose()
        fresh = build_catalog(settings)
        assert (await load_overrides(fresh, ledger)).aliases == {"house": "sora-2-pro"}
    finally:
        await ledger.close()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `sorakit ARGS` in this process: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_aliases_and_prices_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "aliases", "set", "house", "sora-2-pro")
    assert code == 0 and "house -> sora-2-pro" in err, err
    listed = json.loads(cli(capsys, "aliases", "list", "--json")[1])
    assert listed == [{"alias": "house", "target": "sora-2-pro", "source": "admin"}]
    code, _, err = cli(capsys, "aliases", "set", "old", "no-such-model")
    assert code != 0 and "not a known model" in err

    code, out, err = cli(
        capsys, "prices", "set", "sora-2", "--per-second", "0.2", "--size", "1280x720"
    )
    assert code == 0, err
    assert json.loads(out)["usd_per_second"] == {"720x1280": 0.1, "1280x720": 0.2}
    shown = json.loads(cli(capsys, "prices", "list", "--json")[1])
    assert [(p["model"], p["overridden"]) for p in shown] == [("sora-2", True)]
    code, _, err = cli(capsys, "prices", "set", "sora-2", "--per-second", "-1")
    assert code != 0 and "0 or more" in err
    assert cli(capsys, "prices", "set", "sora-2", "--clip", "720x1280-4")[0] != 0

    assert cli(capsys, "prices", "remove", "sora-2")[0] == 0
    assert json.loads(cli(capsys, "prices", "list", "--json")[1]) == []
    assert cli(capsys, "aliases", "remove", "house")[0] == 0
    assert json.loads(cli(capsys, "aliases", "list", "--json")[1]) == []
    code, _, err = cli(capsys, "aliases", "remove", "house")
    assert code != 0 and "No alias 'house'" in err

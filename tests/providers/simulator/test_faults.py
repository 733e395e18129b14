"""Fault plans parse strictly, and the injector draws each fault at its rate, where it belongs."""

from __future__ import annotations

from collections import Counter

import pytest

from sorakit.errors import ConfigurationError
from sorakit.providers.simulator import Fault, FaultInjector, FaultPlan


def test_parse_rates_moderation_and_retry_after() -> None:
    plan = FaultPlan.parse(
        "rate_limit=0.2, server_error=0.1,reset=0.1,moderation=0.05,truncate=0.2,lost_create=0.1,"
        "retry_after=1.5"
    )

    assert plan.rates == {
        Fault.RATE_LIMIT: 0.2,
        Fault.SERVER_ERROR: 0.1,
        Fault.RESET: 0.1,
        Fault.TRUNCATE: 0.2,
        Fault.LOST_CREATE: 0.1,
    }
    assert plan.moderation == 0.05
    assert plan.retry_after == 1.5
    assert plan.active


def test_all_sets_every_rate_and_named_rates_override_it() -> None:
    plan = FaultPlan.parse("all=0.1,reset=0")

    assert plan.rates == {f: 0.1 for f in Fault if f is not Fault.RESET}
    assert plan.moderation == 0.1
    assert plan.retry_after == 1.0


def test_an_empty_plan_injects_nothing() -> None:
    plan = FaultPlan.parse("  ")
    injector = FaultInjector(plan, seed=1)

    assert not plan.active
    assert all(injector.pick("create") is None for _ in range(100))
    assert not any(injector.moderation() for _ in range(100))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("explode=0.1", "allowed names: rate_limit"),
        ("reset", "not name=rate"),
        ("reset=1.5", "between 0 and 1"),
        ("reset=-0.1", "between 0 and 1"),
        ("reset=often", "not a number"),
        ("retry_after=-1", "retry_after"),
    ],
)
def test_bad_plans_name_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match="SORAKIT_SIMULATOR_FAULTS") as caught:
        FaultPlan.parse(text)
    assert fragment in str(caught.value)


def test_each_fault_happens_at_its_rate() -> None:
    injector = FaultInjector(FaultPlan.parse("rate_limit=0.2,server_error=0.1,reset=0.1"), seed=7)

    counts = Counter(injector.pick("retrieve") for _ in range(20_000))

    assert counts[Fault.RATE_LIMIT] / 20_000 == pytest.approx(0.2, abs=0.015)
    assert counts[Fault.SERVER_ERROR] / 20_000 == pytest.approx(0.1, abs=0.015)
    assert counts[Fault.RESET] / 20_000 == pytest.approx(0.1, abs=0.015)
    assert counts[None] / 20_000 == pytest.approx(0.6, abs=0.015)


def test_lost_create_only_on_create_and_truncate_only_on_download() -> None:
    injector = FaultInjector(FaultPlan.parse("lost_create=1,truncate=1"), seed=1)

    assert injector.pick("create") is Fault.LOST_CREATE
    assert injector.pick("download") is Fault.TRUNCATE
    assert injector.pick("retrieve") is None
    assert injector.pick("other") is None


def test_rates_summing_past_one_always_fault() -> None:
    injector = FaultInjector(FaultPlan.parse("rate_limit=1,reset=1"), seed=3)

    counts = Counter(injector.pick("other") for _ in range(2000))

    assert set(counts) == {Fault.RATE_LIMIT, Fault.RESET}
    assert counts[Fault.RATE_LIMIT] == pytest.approx(1000, abs=150)


def test_seeded_injectors_repeat_their_draws() -> None:
    plan = FaultPlan.parse("all=0.3")
    one, two = FaultInjector(plan, seed=11), FaultInjector(plan, seed=11)

    assert [one.pick("create") for _ in range(50)] == [two.pick("create") for _ in range(50)]


def test_the_helpers_the_wire_uses() -> None:
    injector = FaultInjector(FaultPlan.parse("moderation=0.5"), seed=5)

    assert {injector.status_code() for _ in range(200)} == {500, 503}
    assert {injector.keeps_length() for _ in range(200)} == {True, False}
    cuts = [injector.truncate_at(100_000) for _ in range(200)]
    assert all(10_000 <= cut <= 90_000 for cut in cuts)
    assert injector.truncate_at(10) == 9 and injector.truncate_at(0) == 0
    assert sum(injector.moderation() for _ in range(2000)) == pytest.approx(1000, abs=120)
    assert all(0.2 <= injector.fail_fraction() <= 0.9 for _ in range(100))
    assert FaultInjector().plan == FaultPlan()

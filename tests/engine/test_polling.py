"""The poll schedule: few calls on accurate estimates, tolerance near the end, stalls back off."""

from __future__ import annotations

import pytest

from sorakit.engine.polling import PollSchedule


def simulate(
    render: float, expected: float, *, queue: float = 0.1, stall: bool = False
) -> tuple[int, float]:
    """Status calls and lateness of one job whose progress is linear after a queue phase."""
    schedule = PollSchedule(expected_seconds=expected, started_at=0.0)
    now, calls = 0.0, 0
    while True:
        now += schedule.next_delay(now)
        calls += 1
        if now >= render:
            return calls, now - render
        fraction = max(0.0, (now / render - queue) / (1 - queue))
        progress = min(90, int(100 * fraction)) if stall and fraction > 0.2 else int(100 * fraction)
        schedule.observe(now, progress)


@pytest.mark.parametrize("render", [30, 60, 120, 240, 400])
def test_accurate_estimate_is_few_calls_and_timely(render: float) -> None:
    calls, late = simulate(render, render)
    assert calls <= 5
    assert late <= max(2.0, 0.03 * render) + 1e-9


@pytest.mark.parametrize("factor", [0.6, 1.5])
def test_wrong_estimate_is_corrected_by_progress(factor: float) -> None:
    render = 200.0
    calls, late = simulate(render, render * factor)
    assert calls <= 8
    assert late <= max(2.0, 0.03 * render) + 1e-9


def test_server_hint_is_a_floor() -> None:
    schedule = PollSchedule(expected_seconds=1.0, started_at=0.0)
    assert schedule.next_delay(0.99, server_hint=5.0) == 5.0


def test_tolerance_scales_with_the_job() -> None:
    assert PollSchedule(expected_seconds=0.2, started_at=0).tolerance == pytest.approx(0.05)
    assert PollSchedule(expected_seconds=180, started_at=0).tolerance == pytest.approx(5.4)
    assert PollSchedule(expected_seconds=4, started_at=0).deadline_seconds >= 1800

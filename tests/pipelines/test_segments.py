"""Segment splitting: exact sums, fewest segments, even spread, refusals with the nearest totals."""

from __future__ import annotations

import functools
import itertools
import math
import random
import time
from collections.abc import Sequence

import pytest

from sorakit.catalog.sora import SORA_SECONDS
from sorakit.errors import InvalidRequestError
from sorakit.pipelines.segments import (
    MAX_TOTAL_SECONDS,
    cover_seconds,
    nearest_totals,
    split_seconds,
)

ALLOWED_SETS = [
    (4, 8, 12),
    SORA_SECONDS,
    (5, 10),
    (6, 10, 15),
    (3, 7),
    (5, 6, 8, 10),
    (1,),
    (7,),
    (2, 5, 9),
    (4, 20),
]


def brute(total: int, allowed: Sequence[int], count: int) -> list[tuple[int, ...]]:
    """Every multiset of `count` allowed lengths summing to `total`."""
    return [c for c in itertools.combinations_with_replacement(allowed, count) if sum(c) == total]


@functools.cache
def brute_reachable(allowed: tuple[int, ...], limit: int, count: int | None) -> set[int]:
    """Every total that `count` (or any number of) allowed lengths make, up to `limit`."""
    counts = range(1, limit // min(allowed) + 1) if count is None else [count]
    return {sum(c) for k in counts for c in itertools.combinations_with_replacement(allowed, k)}


def spread(lengths: Sequence[int]) -> int:
    return max(lengths) - min(lengths)


def check_split(result: list[int], total: int, allowed: Sequence[int], count: int) -> None:
    options = brute(total, allowed, count)
    assert options, (total, allowed, count)
    assert sum(result) == total
    assert len(result) == count
    assert set(result) <= set(allowed)
    assert result == sorted(result, reverse=True)
    assert spread(result) == min(spread(o) for o in options)


@pytest.mark.parametrize("allowed", ALLOWED_SETS, ids=str)
def test_fewest_segments_match_brute_force(allowed: tuple[int, ...]) -> None:
    for total in range(1, 61):
        counts = range(1, total // min(allowed) + 1)
        fewest = next((k for k in counts if brute(total, allowed, k)), None)
        if fewest is None:
            below, above = nearest_totals(total, allowed)
            reachable = brute_reachable(allowed, 60 + max(allowed), None)
            assert below == max((t for t in reachable if t <= total), default=None)
            assert above == min(t for t in reachable if t >= total)
            with pytest.raises(InvalidRequestError) as caught:
                split_seconds(total, allowed)
            assert caught.value.param == "seconds"
            assert caught.value.allowed == tuple(str(t) for t in (below, above) if t is not None)
            continue
        check_split(split_seconds(total, allowed), total, allowed, fewest)
        assert nearest_totals(total, allowed) == (total, total)


@pytest.mark.parametrize("allowed", ALLOWED_SETS, ids=str)
def test_exact_count_matches_brute_force(allowed: tuple[int, ...]) -> None:
    for count in range(1, 5):
        reachable = brute_reachable(allowed, 0, count)
        for total in range(1, 50):
            if total in reachable:
                check_split(split_seconds(total, allowed, count=count), total, allowed, count)
                continue
            below, above = nearest_totals(total, allowed, count)
            assert below == max((t for t in reachable if t <= total), default=None)
            assert above == min((t for t in reachable if t >= total), default=None)
            with pytest.raises(InvalidRequestError, match=f"from {count} clips?"):
                split_seconds(total, allowed, count=count)


@pytest.mark.parametrize("allowed", ALLOWED_SETS, ids=str)
def test_cover_uses_the_fewest_clips_then_the_least_overshoot(allowed: tuple[int, ...]) -> None:
    for tenths in range(1, 600, 7):
        length = tenths / 10
        result = cover_seconds(length, allowed)
        count = math.ceil(length / max(allowed))
        options = [
            c for c in itertools.combinations_with_replacement(allowed, count) if sum(c) >= length
        ]
        least = min(sum(c) for c in options)
        assert len(result) == count and sum(result) == least, (length, result)
        assert spread(result) == min(spread(c) for c in options if sum(c) == least)
        assert result == sorted(result, reverse=True) and set(result) <= set(allowed)


def test_cover_examples_and_refusals() -> None:
    assert cover_seconds(5.5, SORA_SECONDS) == [8]
    assert cover_seconds(20, SORA_SECONDS) == [20]
    assert cover_seconds(30, SORA_SECONDS) == [16, 16]
    assert cover_seconds(41, SORA_SECONDS) == [16, 16, 12]
    assert cover_seconds(9, (3, 10)) == [10]  # one clip, not 3 + 3 + 3
    assert cover_seconds(21, (3, 10)) == [10, 10, 3]  # three clips, not seven threes
    for length in (0, -1.5, float("nan"), float("inf"), MAX_TOTAL_SECONDS + 0.5):
        with pytest.raises(InvalidRequestError, match="A length must be more than 0"):
            cover_seconds(length, SORA_SECONDS)


def test_even_segments_are_preferred_and_order_is_deterministic() -> None:
    assert split_seconds(24, SORA_SECONDS) == [12, 12]
    assert split_seconds(60, SORA_SECONDS) == [20, 20, 20]
    assert split_seconds(44, SORA_SECONDS) == [16, 16, 12]
    assert split_seconds(60, SORA_SECONDS, count=5) == [12, 12, 12, 12, 12]
    assert split_seconds(28, (4, 8, 12), count=3) == [12, 8, 8]
    shuffled = list(SORA_SECONDS) * 2
    random.Random(7).shuffle(shuffled)
    for total in range(4, 200, 4):
        assert split_seconds(total, shuffled) == split_seconds(total, SORA_SECONDS)


def test_refusal_names_the_nearest_totals() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        split_seconds(62, (4, 8, 12))
    assert str(caught.value) == (
        "62 s cannot be made from clips of 4, 8 or 12 s; the nearest possible totals are 60 s and 64 s."
    )
    assert caught.value.allowed == ("60", "64")
    with pytest.raises(InvalidRequestError) as caught:
        split_seconds(62, (4, 8, 12), count=3)
    assert str(caught.value) == (
        "62 s cannot be made from 3 clips of 4, 8 or 12 s; "
        "the nearest possible total for 3 clips is 36 s."
    )
    with pytest.raises(InvalidRequestError, match="the nearest possible total is 4 s"):
        split_seconds(3, (4, 8))
    with pytest.raises(InvalidRequestError, match="1 clip of 4 or 8 s; .* are 4 s and 8 s"):
        split_seconds(5, (4, 8), count=1)


def test_bad_arguments_are_refused() -> None:
    for total in (0, -4, 4.0, True, MAX_TOTAL_SECONDS + 1):
        with pytest.raises(InvalidRequestError) as caught:
            split_seconds(total, SORA_SECONDS)  # type: ignore[arg-type]
        assert caught.value.param == "seconds"
    for count in (0, -1, 2.0):
        with pytest.raises(InvalidRequestError) as caught:
            split_seconds(8, SORA_SECONDS, count=count)  # type: ignore[arg-type]
        assert caught.value.param == "count"
    for allowed in ((), (0, 4), (-4,)):
        with pytest.raises(ValueError, match="positive"):
            split_seconds(8, allowed)


def test_long_totals_are_instant() -> None:
    started = time.perf_counter()
    longest = split_seconds(MAX_TOTAL_SECONDS, SORA_SECONDS)
    assert longest == [20] * (MAX_TOTAL_SECONDS // 20)
    odd = split_seconds(3001, (4, 7, 8, 12))
    # 250 twelves make 3000; 251 clips cannot lose the 11 s needed (12 -> 8, 7 or 4 loses 4, 5
    # or 8), so 252 is the fewest: 248 twelves and 4 others losing 23 s.
    assert sum(odd) == 3001 and len(odd) == 252
    many = split_seconds(3000, (4, 8, 12), count=600)
    assert sum(many) == 3000 and len(many) == 600 and spread(many) == 4
    with pytest.raises(InvalidRequestError, match="2996 s and 3000 s"):
        split_seconds(2999, SORA_SECONDS)
    assert nearest_totals(35_999, SORA_SECONDS) == (35_996, 36_000)
    assert time.perf_counter() - started < 2.0

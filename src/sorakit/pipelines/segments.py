"""Split a total length into clips a model can render, so the total is met exactly.

A model renders only some clip lengths (Sora: 4, 8, 12, 16 or 20 s), so a 60 s video is a sum of
allowed lengths. `split_seconds` finds one, before anything is paid for:

- the fewest segments (or exactly `count` of them, when given);
- among those, the smallest spread between the longest and the shortest segment (even segments
  keep the story's pace even);
- within that, each segment is the allowed length nearest to the average of what is left (ties go
  to the longer one), and the list is given longest first.

`cover_seconds` is the other question, asked by storyboards: which clips cover a length that need
not be a possible total (5.5 s, 30 s), to be trimmed back after rendering.

An impossible total is refused with the nearest totals that are possible (for that count, when a
count is given). Reachable sums are kept as Python integers used as bit sets, one per segment
count, so totals of several thousand seconds are planned in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sorakit.errors import InvalidRequestError

MAX_TOTAL_SECONDS = 36_000
"""The longest total accepted (10 hours): bounds the work a request can ask for."""


def _bit(mask: int, index: int) -> bool:
    return index >= 0 and bool(mask >> index & 1)


def _step(mask: int, allowed: Sequence[int], limit: int) -> int:
    """The sums reachable with one more segment, up to `limit`."""
    out = 0
    for length in allowed:
        out |= mask << length
    return out & ((1 << (limit + 1)) - 1)


def _layers(allowed: Sequence[int], count: int, limit: int) -> list[int]:
    """`layers[j]`: the sums up to `limit` that exactly j segments can make."""
    layers = [1]
    for _ in range(count):
        layers.append(_step(layers[-1], allowed, limit))
    return layers


def _check(total: int, allowed: Sequence[int], count: int | None) -> tuple[int, ...]:
    if isinstance(total, bool) or not isinstance(total, int):
        raise InvalidRequestError(
            f"The total length must be a whole number of seconds, got {total!r}.", param="seconds"
        )
    if total <= 0 or total > MAX_TOTAL_SECONDS:
        raise InvalidRequestError(
            f"The total length must be between 1 and {MAX_TOTAL_SECONDS} s, got {total} s.",
            param="seconds",
        )
    lengths = tuple(sorted({int(a) for a in allowed}))
    if not lengths or lengths[0] <= 0:
        raise ValueError(f"allowed clip lengths must be positive, got {list(allowed)!r}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise InvalidRequestError(
            f"The segment count must be a positive whole number, got {count!r}.", param="count"
        )
    return lengths


def _min_count(total: int, lengths: Sequence[int]) -> int | None:
    """The fewest segments that make exactly `total`, or None where no count does."""
    mask = 1
    for count in range(1, total // lengths[0] + 1):
        mask = _step(mask, lengths, total)
        if _bit(mask, total):
            return count
    return None


def nearest_totals(
    total: int, allowed: Sequence[int], count: int | None = None
) -> tuple[int | None, int | None]:
    """The largest possible total <= `total` and the smallest >= it (both `total` when possible).

    With `count`, only totals made of exactly that many segments count. None stands where there is
    no such total (nothing below the shortest clip; nothing above `count` longest clips).
    """
    lengths = _check(total, allowed, count)
    limit = total + lengths[-1]
    if count is not None:
        reach = _layers(lengths, count, count * lengths[-1])[-1]
    else:
        reach, mask = 0, 1
        for _ in range(limit // lengths[0]):
            mask = _step(mask, lengths, limit)
            if not mask:
                break
            reach |= mask
    low = reach & ((1 << (total + 1)) - 1)  # the highest set bit at or under `total`
    high = reach >> total  # the lowest set bit at or over it
    below = low.bit_length() - 1 if low else None
    above = total + (high & -high).bit_length() - 1 if high else None
    return below, above


def _phrase(lengths: Sequence[int]) -> str:
    names = [str(length) for length in lengths]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def _refuse(total: int, lengths: Sequence[int], count: int | None) -> InvalidRequestError:
    below, above = nearest_totals(total, lengths, count)
    options = [t for t in dict.fromkeys((below, above)) if t is not None]
    clips = "clips" if count is None else f"{count} clip{'s' if count != 1 else ''}"
    scope = "" if count is None else f" for {clips}"
    verb = "total" + scope + " is" if len(options) == 1 else "totals" + scope + " are"
    nearest = f"the nearest possible {verb} " + " and ".join(f"{t} s" for t in options)
    return InvalidRequestError(
        f"{total} s cannot be made from {clips} of {_phrase(lengths)} s; {nearest}.",
        param="seconds",
        allowed=[str(t) for t in options],
    )


def _windows(lengths: Sequence[int]) -> list[tuple[int, int]]:
    """Every (shortest, longest) pair, the narrowest first."""
    pairs = [(lo, hi) for lo in lengths for hi in lengths if lo <= hi]
    return sorted(pairs, key=lambda pair: (pair[1] - pair[0], -pair[0]))


def _pick(total: int, lengths: Sequence[int], count: int) -> list[int] | None:
    """`count` segments summing to `total` with the smallest spread, or None."""
    for lo, hi in _windows(lengths):
        if not count * lo <= total <= count * hi:
            continue
        window = [length for length in lengths if lo <= length <= hi]
        layers = _layers(window, count, total)
        if not _bit(layers[count], total):
            continue
        out: list[int] = []
        left = total
        for remaining in range(count, 0, -1):
            fits = [a for a in window if a <= left and _bit(layers[remaining - 1], left - a)]
            mean = left / remaining
            choice = min(fits, key=lambda a: (abs(a - mean), -a))
            out.append(choice)
            left -= choice
        return sorted(out, reverse=True)
    return None


def split_seconds(total: int, allowed: Sequence[int], *, count: int | None = None) -> list[int]:
    """Segment lengths from `allowed` that sum to exactly `total`, longest first.

    The fewest segments, or exactly `count`; the most even among those (see the module docstring).
    InvalidRequestError names the nearest possible totals when there is no such split.
    """
    lengths = _check(total, allowed, count)
    if count is None:
        wanted = _min_count(total, lengths)
    else:  # one pass over every length first, so an impossible count costs no window search
        wanted = count if _bit(_layers(lengths, count, total)[count], total) else None
    picked = None if wanted is None else _pick(total, lengths, wanted)
    if picked is None:
        raise _refuse(total, lengths, count)
    return picked


def cover_seconds(length: float, allowed: Sequence[int]) -> list[int]:
    """The clips that cover `length` seconds, longest first, to be trimmed back to it.

    The fewest clips that can (one, the shortest long enough, when one suffices); among those,
    the smallest total, so the least is paid for frames that are trimmed away; split evenly.
    """
    if not math.isfinite(length) or not 0 < length <= MAX_TOTAL_SECONDS:
        raise InvalidRequestError(
            f"A length must be more than 0 and at most {MAX_TOTAL_SECONDS} s, got {length!r}.",
            param="seconds",
        )
    lengths = _check(math.ceil(length), allowed, None)
    count = math.ceil(length / lengths[-1])
    above = nearest_totals(math.ceil(length), lengths, count)[1]
    assert above is not None  # `count` longest clips reach `length`
    return split_seconds(above, lengths, count=count)

"""When to ask a provider again: few status calls, yet completion noticed quickly.

The peers poll at a fixed 1-15 s. A 3-minute render then costs up to 180 calls at 1 s, or is
noticed up to 15 s late. `PollSchedule` instead aims at the moment the job should finish:

- It starts from the expected render time (the provider's figure, else the catalog's).
- Once progress is reported it re-estimates the finish from the observed rate (two reports) or
  from elapsed/progress (one report).
- It sleeps half the expected time before any progress is known, then most of the estimated
  remaining time (`approach`), so each call shrinks the uncertainty about five-fold; near the
  estimated finish it aims just past it, then polls every `tolerance`.
- A server's `openai-poll-after-ms` is a floor; a stall (progress not moving) backs off.

The tolerance is max(3 % of the expected render, min(2 s, a quarter of it)): a 3-minute render is
noticed within about 5 s, a 0.2 s test render within 50 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PollSchedule:
    """The next delay for one job, from its expected duration and what it reported so far."""

    expected_seconds: float
    """How long the whole job (queue + render) is expected to take."""
    started_at: float
    """When the job was created (the clock of `observe`/`next_delay`)."""
    approach: float = 0.8
    """The share of the estimated remaining time slept in one go, once progress is known."""
    blind_approach: float = 0.5
    """The same until two progress reports give a rate: the expected time may be off by half."""
    max_interval: float = 300.0
    min_interval: float = 0.02
    _points: list[tuple[float, int]] = field(default_factory=list)
    _stalled: int = 0

    @property
    def tolerance(self) -> float:
        """How late completion may be noticed."""
        expected = max(self.expected_seconds, 0.01)
        return max(0.03 * expected, min(2.0, 0.25 * expected))

    @property
    def deadline_seconds(self) -> float:
        """A generous limit after which tracking stops (the job stays resumable)."""
        return max(10 * self.expected_seconds, self.expected_seconds + 1800.0)

    def observe(self, now: float, progress: int | None) -> None:
        """Record a status report."""
        if progress is None:
            return
        if self._points and progress <= self._points[-1][1]:
            self._stalled += 1 if progress < 100 else 0
        else:
            self._stalled = 0
        self._points.append((now, progress))

    def estimated_remaining(self, now: float) -> float:
        """Seconds until the job should be done, by the best estimate available."""
        elapsed = now - self.started_at
        moving = [p for p in self._points if p[1] > 0]
        distinct = [p for i, p in enumerate(moving) if i == 0 or p[1] > moving[i - 1][1]]
        if len(distinct) >= 2:
            # The latest rate, not the average: renders often speed up or slow down.
            (t0, p0), (t1, p1) = distinct[-2], distinct[-1]
            rate = (p1 - p0) / max(t1 - t0, 1e-6)
            return max((100 - p1) / rate - (now - t1), 0.0)
        if moving:
            t1, p1 = moving[-1]
            total = (t1 - self.started_at) / (p1 / 100)
            return max(total - elapsed, 0.0)
        return max(self.expected_seconds - elapsed, 0.0)

    def next_delay(self, now: float, server_hint: float | None = None) -> float:
        """Seconds to wait before the next status call."""
        tolerance = self.tolerance
        elapsed = now - self.started_at
        remaining = self.estimated_remaining(now)
        informed = sum(1 for _, progress in self._points if progress > 0) >= 2
        if not informed or self._stalled >= 2:
            # One report (queue time mixed in) or a stall says little: never sleep past the
            # expected finish on it; past that finish, back off with the time already spent.
            left = self.expected_seconds - elapsed
            remaining = min(remaining, left) if left > tolerance else max(tolerance, 0.1 * elapsed)
        if remaining > tolerance:
            share = self.approach if informed else self.blind_approach
            delay = max(remaining * share, tolerance)
        elif remaining > 0.25 * tolerance:
            delay = remaining + 0.1 * tolerance  # aim just past the estimated finish
        else:
            delay = tolerance
        if server_hint is not None:
            delay = max(delay, server_hint)
        return min(max(delay, self.min_interval), self.max_interval)

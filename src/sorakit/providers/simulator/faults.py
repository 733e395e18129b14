"""Fault injection for the simulator, parsed from `SORAKIT_SIMULATOR_FAULTS`.

`FaultPlan.parse("rate_limit=0.2,server_error=0.1,reset=0.1,moderation=0.05")` gives each fault
a rate; `all=0.1` sets every rate at once (named rates override it) and `retry_after=1.5` sets
the 429's Retry-After in seconds. `FaultInjector.pick(operation)` draws the fault (or None) for
one call. It is transport-neutral: the simulator provider turns a fault into the error the
engine would see, and the HTTP server's middleware can turn the same fault into bytes on the
wire (429 + Retry-After, 500/503, a dropped connection, a truncated body).

Moderation is not a wire fault: `FaultInjector.moderation()` is asked once, when a job is made,
and the job later fails with `moderation_blocked`.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from sorakit.errors import ConfigurationError

logger = logging.getLogger(__name__)

Operation: TypeAlias = Literal["create", "retrieve", "download", "other"]

ENV_NAME = "SORAKIT_SIMULATOR_FAULTS"


class Fault(enum.StrEnum):
    """A failure on the wire."""

    RATE_LIMIT = "rate_limit"
    """HTTP 429 with Retry-After."""
    SERVER_ERROR = "server_error"
    """HTTP 500 or 503 (picked at random)."""
    RESET = "reset"
    """The connection drops before a full answer arrives."""
    LOST_CREATE = "lost_create"
    """The create succeeds but its answer is lost (creates only)."""
    TRUNCATE = "truncate"
    """A download ends early (downloads only)."""


_FAULTS_FOR: dict[Operation, tuple[Fault, ...]] = {
    "create": (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.RESET, Fault.LOST_CREATE),
    "retrieve": (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.RESET),
    "download": (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.RESET, Fault.TRUNCATE),
    "other": (Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.RESET),
}
MODERATION = "moderation"
ALLOWED_NAMES = (*(f.value for f in Fault), MODERATION, "all", "retry_after")


@dataclass(frozen=True)
class FaultPlan:
    """The rate of each fault (0 to 1) and the Retry-After a 429 carries."""

    rates: dict[Fault, float] = field(default_factory=dict)
    moderation: float = 0.0
    retry_after: float = 1.0

    @property
    def active(self) -> bool:
        """Whether any fault can happen at all."""
        return self.moderation > 0 or any(rate > 0 for rate in self.rates.values())

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """Parse `name=rate,...`; unknown names or rates outside [0, 1] raise ConfigurationError."""
        values: dict[str, float] = {}
        for item in text.replace(";", ",").split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, raw = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in ALLOWED_NAMES:
                raise ConfigurationError(
                    f"{ENV_NAME}: {item!r} is not name=rate with a known name; "
                    f"allowed names: {', '.join(ALLOWED_NAMES)}"
                )
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"{ENV_NAME}: {name}={raw.strip()!r} is not a number"
                ) from None
            if name == "retry_after":
                if not 0 <= value <= 3600:
                    raise ConfigurationError(f"{ENV_NAME}: retry_after must be 0 to 3600 seconds")
            elif not 0.0 <= value <= 1.0:
                raise ConfigurationError(
                    f"{ENV_NAME}: the rate of {name} must be between 0 and 1, got {value:g}"
                )
            values[name] = value
        every = values.pop("all", 0.0)
        rates = {fault: values.get(fault.value, every) for fault in Fault}
        return cls(
            rates={fault: rate for fault, rate in rates.items() if rate > 0},
            moderation=values.get(MODERATION, every),
            retry_after=values.get("retry_after", 1.0),
        )


class FaultInjector:
    """Draws faults by a plan's rates; `seed` makes the draws repeatable."""

    def __init__(self, plan: FaultPlan | None = None, seed: int | None = None) -> None:
        self.plan = plan or FaultPlan()
        self.rng = random.Random(seed)

    def pick(self, operation: Operation) -> Fault | None:
        """The fault for one call of this kind, or None.

        The operation's rates are laid end to end on [0, 1) (scaled down if they sum past 1),
        so each fault happens at its own rate and at most one happens per call.
        """
        candidates = [(f, self.plan.rates.get(f, 0.0)) for f in _FAULTS_FOR[operation]]
        total = sum(rate for _, rate in candidates)
        if total <= 0:
            return None
        draw = self.rng.random() * max(1.0, total)
        for fault, rate in candidates:
            if draw < rate:
                logger.debug("injecting %s into %s", fault.value, operation)
                return fault
            draw -= rate
        return None

    def moderation(self) -> bool:
        """Whether a new job is to fail moderation."""
        return self.plan.moderation > 0 and self.rng.random() < self.plan.moderation

    def status_code(self) -> int:
        """The status of a SERVER_ERROR: 500 or 503."""
        return self.rng.choice((500, 503))

    def truncate_at(self, size: int) -> int:
        """How many of `size` bytes a TRUNCATE lets through (at least one short)."""
        if size <= 16:
            return max(0, size - 1)
        return self.rng.randint(size // 10, size * 9 // 10)

    def keeps_length(self) -> bool:
        """Whether a truncated download still announces the full length (half of the time)."""
        return self.rng.random() < 0.5

    def fail_fraction(self) -> float:
        """When, as a fraction of its render time, a moderated job fails."""
        return self.rng.uniform(0.2, 0.9)

"""What every pipeline shares: steps created once and retried under a new name, budgets checked
before anything is sent, the API key a pipeline is made for, the output folder, and joining clips
with a seam of its own at each cut.

A pipeline made for a gateway API key (a tenant), or under a project (a budget scope), stores
both in its request (`owner`, `owner_budget_usd`, `owner_sees_all`, `owner_scope_id`,
`owner_scope_budget_usd`); `owner_of` turns them back into the engine's `Owner` on every run, so
each step is that key's job on that key's and that project's budgets, after a restart too.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sorakit.catalog.capabilities import HOW_TO_PRICE
from sorakit.engine import Engine, Owner, Step
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import BudgetExceededError, JobFailedError, NotFoundError
from sorakit.ledger import Budget, JobRecord, JobStatus, PipelineRecord, PipelineStatus

logger = logging.getLogger(__name__)

StepMaker = Callable[[Step], Awaitable[JobRecord]]


class StepRunner:
    """One run of one pipeline: its steps, each created once, and what the user should be told."""

    def __init__(
        self, engine: Engine, pipeline: PipelineRecord, on_progress: ProgressCallback | None
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.on_progress = on_progress
        self.notes: list[str] = list(pipeline.state.get("notes", []))
        self.attempts: dict[str, int] = dict(pipeline.state.get("attempts", {}))
        self.described: list[str] = list(pipeline.state.get("described", []))
        self.started_at = time.time()
        for text in pipeline.spec.get("notes", []):  # what planning found, told on every run
            self.note(text)

    def note(self, text: str) -> None:
        """Keep a note for the user (once), in the pipeline's state when it is saved."""
        if text not in self.notes:
            self.notes.append(text)
            logger.info("%s: %s", self.pipeline.id, text)

    async def step(self, name: str, make: StepMaker) -> JobRecord:
        """Create (or find) the step's job and track it; a failed job is retried under a new name."""
        attempt = self.attempts.get(name, 1)
        label = name if attempt == 1 else f"{name}#{attempt}"
        job = await make(Step(self.pipeline.id, label, self.pipeline.budget_usd))
        if (
            job.status in (JobStatus.FAILED, JobStatus.CANCELLED)
            and (job.completed_at or 0) < self.started_at
        ):
            # It failed in an earlier run: this run is the retry the user asked for.
            self.attempts[name] = attempt + 1
            await self.engine.ledger.update_pipeline(
                self.pipeline.id, state={"attempts": self.attempts}
            )
            return await self.step(name, make)
        job = await self.engine.wait(job.id, self.on_progress)
        if job.status is not JobStatus.COMPLETED:
            raise JobFailedError(job.id, job.error_code, job.error_message)
        return job

    async def begin(self) -> None:
        """Mark the pipeline running again (a resume of a failed one)."""
        if self.pipeline.status is not PipelineStatus.RUNNING:
            self.pipeline = await self.engine.ledger.update_pipeline(
                self.pipeline.id, status=PipelineStatus.RUNNING, error_message=None
            )

    async def finish(self, output: Path | None, error: str | None = None) -> PipelineRecord:
        """Record the end: completed with its output, or failed with why (its output kept)."""
        self.pipeline = await self.engine.ledger.update_pipeline(
            self.pipeline.id,
            status=PipelineStatus.FAILED if error else PipelineStatus.COMPLETED,
            output=str(output) if output else None,
            error_message=error,
            state={"notes": self.notes},
        )
        return self.pipeline


async def check_budget(
    engine: Engine, estimate: float | None, cap: float | None, what: str
) -> None:
    """Refuse work whose list price would pass its own cap or the ledger-wide one; nothing is sent."""
    caps = [(cap, "its budget", 0.0)]
    if engine.settings.budget_usd is not None:
        spent = (await engine.ledger.spend()).total
        caps.append((engine.settings.budget_usd, "the budget", spent))
    for limit, label, spent in caps:
        if limit is None:
            continue
        if estimate is None:
            raise BudgetExceededError(
                f"a price in {what} is unknown, so {label} of ${limit:.2f} cannot be kept; "
                f"nothing was sent ({HOW_TO_PRICE.format(model='MODEL')})",
                param="model",
            )
        if spent + estimate > limit + 1e-9:
            raise BudgetExceededError(
                f"{what} is estimated at ${estimate:.2f}; with ${spent:.2f} already spent or "
                f"reserved that passes {label} of ${limit:.2f}, so nothing was sent"
            )


async def record_pipeline(
    engine: Engine, *, models: Iterable[str], spec: dict[str, Any], **fields: Any
) -> PipelineRecord:
    """Record a new pipeline with the route of each model its steps make videos of, so every
    later run makes its missing steps on the same provider and server (`engine.routes`), and
    with the API key its request names as the row's owner."""
    routes = await engine.routes.record(models)
    owner = owner_of(spec)
    fields.setdefault("owner", owner.key_id if owner else None)
    return await engine.ledger.create_pipeline(spec={**spec, **routes}, **fields)


# the API key and project a pipeline is made for


_OWNER_FIELDS = (
    "owner",
    "owner_budget_usd",
    "owner_sees_all",
    "owner_scope_id",
    "owner_scope_budget_usd",
)
"""A request's owner fields, in `Owner`'s order."""


class OwnedRequest(Protocol):
    """A pipeline request that may be made for a gateway API key and a project (every kind's
    request is)."""

    owner: str | None
    owner_budget_usd: float | None
    owner_sees_all: bool
    owner_scope_id: str | None
    owner_scope_budget_usd: float | None


def owner_fields(owner: Owner | None) -> dict[str, Any]:
    """A request's owner fields for `owner` (a caller's `Principal.owner`, or the studio's
    `owner_for`), e.g. `LongRequest(prompt, 20, **owner_fields(principal.owner))`."""
    if owner is None:
        owner = Owner(None)
    return {
        "owner": owner.key_id,
        "owner_budget_usd": owner.budget_usd,
        "owner_sees_all": owner.sees_all,
        "owner_scope_id": owner.scope_id,
        "owner_scope_budget_usd": owner.scope_budget_usd,
    }


def owner_of(source: Mapping[str, Any] | OwnedRequest) -> Owner | None:
    """The `Owner` of a pipeline's spec (its stored `request`) or of a request; None: neither
    a key nor a project (a keyless pipeline under a project has an Owner without a key)."""
    if isinstance(source, Mapping):
        asked: Mapping[str, Any] = source.get("request") or {}
        fields = [asked.get(name) for name in _OWNER_FIELDS]
    else:
        fields = [getattr(source, name, None) for name in _OWNER_FIELDS]
    key, budget, sees_all, scope, scope_budget = fields
    if not key and not scope:
        return None
    return Owner(key or None, budget, bool(sees_all), scope or None, scope_budget)


async def check_owner_budget(
    engine: Engine,
    owner: Owner | None,
    estimate: float | None,
    what: str,
    *,
    pipeline_id: str | None = None,
) -> None:
    """Refuse work its API key's budget or its project's cap cannot pay for whole, before
    anything is sent.

    `pipeline_id` names this very work when it runs again (a batch's file again): what it
    already spent or reserved under each cap is in the estimate too, so it is not counted twice.
    """
    if owner is None:
        return
    budgets = []
    if owner.key_id is not None and owner.budget_usd is not None:
        budgets.append(Budget(owner.budget_usd, owner=owner.key_id))
    if owner.scope_id is not None and owner.scope_budget_usd is not None:
        budgets.append(Budget(owner.scope_budget_usd, scope_id=owner.scope_id))
    for budget in budgets:
        if estimate is None:
            raise BudgetExceededError(
                f"a price in {what} is unknown, so {await _budget_label(engine, budget, owner)} "
                f"of ${budget.cap:.2f} cannot be kept; nothing was sent "
                f"({HOW_TO_PRICE.format(model='MODEL')})",
                param="model",
            )
        spent = (await engine.ledger.spend(owner=budget.owner, scope_id=budget.scope_id)).total
        if pipeline_id is not None:
            spent -= (await engine.ledger.spend(pipeline_id, budget.owner, budget.scope_id)).total
        if spent + estimate > budget.cap + 1e-9:
            raise BudgetExceededError(
                f"{what} is estimated at ${estimate:.2f}; with ${spent:.2f} already spent or "
                f"reserved that passes {await _budget_label(engine, budget, owner)} of "
                f"${budget.cap:.2f}, so nothing was sent"
            )


async def _budget_label(engine: Engine, budget: Budget, owner: Owner) -> str:
    """The cap's name in a refusal: the key's, or the project's by its name (as the engine's
    refusal names it)."""
    if budget.scope_id is None:
        return budget.label
    try:
        scope = await engine.ledger.get_scope(budget.scope_id, owner=owner.key_id)
    except NotFoundError:
        return budget.label
    return f'project "{scope.name}"\'s budget'


def pipeline_folder(engine: Engine, out: str | None, pipeline_id: str) -> Path:
    """Where a pipeline writes: a folder named after it in `out` or the home's `pipelines`."""
    root = Path(out) if out else engine.settings.home / "pipelines"
    return (root / pipeline_id).resolve()


def new_pipeline_id(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex[:24]}"


def copy_file(source: Path, target: Path) -> None:
    """Copy a job's file into a pipeline folder (skipped when an equal-sized copy is there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    shutil.copyfile(source, target)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


# joining with a seam of its own at every cut


@dataclass(frozen=True)
class Seam:
    """How a clip joins the one before it."""

    chained: bool = False
    """The clip opens on the previous one's last frame, which the join shows once."""
    crossfade: float = 0.0


def join(clips: Sequence[Path], seams: Sequence[Seam], dest: Path) -> None:
    """Join clips with a seam each (`seams[i]` joins clip i+1): one `media.stitch` per run of equal seams."""
    from sorakit import media

    if len(seams) != len(clips) - 1:
        raise ValueError("one seam between every two clips")
    if len(clips) == 1:
        copy_file(clips[0], dest)
        return
    runs: list[tuple[Seam, list[Path]]] = []
    for seam, clip in zip(seams, clips[1:], strict=True):
        if runs and runs[-1][0] == seam:
            runs[-1][1].append(clip)
        else:
            runs.append((seam, [clip]))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".join-", dir=dest.parent) as work:
        joined = clips[0]
        for number, (seam, run) in enumerate(runs):
            out = dest if number == len(runs) - 1 else Path(work) / f"{number}.mp4"
            media.stitch([joined, *run], out, chained=seam.chained, crossfade=seam.crossfade)
            joined = out

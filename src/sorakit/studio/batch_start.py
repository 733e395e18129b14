"""Starting the Batch and Multiple pages' pipelines: the options, the budget, and admission.

A pipeline is admitted the way the chat route admits a storyboard (`start_storyboard`): once,
holding the key's lock, so the whole run counts once for the key's rate and is refused while the
key has no video slot left. Its steps then stay inside the key's limits: they take turns in the
concurrency the key has left (a batch's `concurrency`, the takes' `parallel`), and a batch's
creates are paced by the pipeline's own rate limiter at no more than the key's RPM. Every model
the rows use must be one the key may use; budgets are checked before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from sorakit.engine import Owner
from sorakit.errors import InvalidRequestError
from sorakit.gateway.auth import Principal
from sorakit.ledger import PipelineRecord
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.pipelines.batch_files import BatchRow
from sorakit.pipelines.enhance import STYLES, check_style, enhance_prompt
from sorakit.pipelines.steps import check_budget, check_owner_budget, owner_fields
from sorakit.studio.batch_rows import Checked, save_reference, with_reference, write_batch_file
from sorakit.studio.budget import owner_for
from sorakit.studio.render import Studio

MAX_CONCURRENCY = 64
DEFAULT_CONCURRENCY = BatchRequest.concurrency
ENHANCE_STYLES = tuple(STYLES)
"""The enhancement styles the pipelines know, for the pages' pickers."""


@dataclass(frozen=True)
class RunOptions:
    """What the person chose for the whole run."""

    concurrency: int = DEFAULT_CONCURRENCY
    rpm: float | None = None
    budget_usd: float | None = None
    enhance: str | None = None
    new: bool = False


def run_options(
    concurrency: str = "", rpm: str = "", budget: str = "", enhance: str = "", new: str = ""
) -> RunOptions:
    """The form's options, or a refusal naming the field that is wrong."""
    number = _number(concurrency, "concurrency")
    if number is not None and (not number.is_integer() or not 1 <= number <= MAX_CONCURRENCY):
        raise InvalidRequestError(
            f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}",
            param="concurrency",
        )
    rate = _number(rpm, "RPM")
    if rate is not None and rate <= 0:
        raise InvalidRequestError("RPM must be more than 0", param="rpm")
    money = _number(budget, "budget")
    if money is not None and money < 0:
        raise InvalidRequestError("the budget cannot be below $0", param="budget")
    style = check_style(enhance.strip()) if enhance.strip() else None
    return RunOptions(
        int(number) if number is not None else DEFAULT_CONCURRENCY,
        rate,
        money,
        style,
        new.strip().lower() in ("on", "true", "1", "yes"),
    )


def _number(value: str, name: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidRequestError(f"{name} must be a number, not {value.strip()!r}", param=name)
    return number


async def owner_of(studio: Studio) -> Owner | None:
    """The signed-in key the pipeline's jobs are made for, under the active project (None on
    an open studio without one), as the Create page makes a video."""
    return await owner_for(studio)


@dataclass(frozen=True)
class Admitted:
    """What the key allows the admitted pipeline."""

    parallel: int | None
    """Videos the key may still have in progress; None: no limit."""
    rpm: float | None
    """The key's creates per minute; None: no limit."""

    def concurrency(self, asked: int) -> int:
        return asked if self.parallel is None else max(1, min(asked, self.parallel))

    def rate(self, asked: float | None) -> float | None:
        limits = [rate for rate in (asked, self.rpm) if rate is not None]
        return min(limits) if limits else None


@asynccontextmanager
async def admission(studio: Studio, models: Sequence[str]) -> AsyncIterator[Admitted]:
    """Admit the caller once for a pipeline of `models`; record the pipeline inside."""
    principal = studio.principal
    assert principal is not None
    gatekeeper, key = studio.gatekeeper, principal.key
    distinct = list(dict.fromkeys(models))
    async with gatekeeper.lock(principal):
        if key is not None and not key.admin:
            # The key's model rule for every model, without counting them against its rate.
            unlimited = Principal(replace(key, rpm=None, concurrency=None))
            for model in distinct[1:]:
                await gatekeeper.admit(unlimited, model)
        await gatekeeper.admit(principal, distinct[0])  # counts once for the rate
        if key is None or key.admin:
            yield Admitted(None, None)
            return
        parallel = None
        if key.concurrency is not None:
            parallel = max(1, key.concurrency - await studio.engine.ledger.running_jobs(key.id))
        yield Admitted(parallel, key.rpm)


async def check_budgets(
    studio: Studio, estimate: float | None, cap: float | None, what: str
) -> None:
    """The run's own budget, the server's, the key's and the project's, by the pipelines' own
    checks."""
    await check_budget(studio.engine, estimate, cap, what)
    await check_owner_budget(studio.engine, await owner_of(studio), estimate, what)


async def start_batch(
    studio: Studio, checked: Checked, reference: bytes | None, options: RunOptions
) -> PipelineRecord:
    """Record the checked rows as a batch pipeline for the caller; nothing is sent yet."""
    if not checked.ok:
        raise checked.refusal()
    what = f"the batch of {checked.videos} video{'s' * (checked.videos > 1)}"
    await check_budgets(studio, checked.total, options.budget_usd, what)
    settings = studio.settings
    image = await save_reference(settings, reference) if reference else None
    rows = with_reference(checked.rows, image)
    if options.enhance:
        rows = await _enhanced(studio, rows, options.enhance)
    path = await write_batch_file(settings, checked.name, rows)
    async with admission(studio, [row.model for row in rows]) as admitted:
        request = BatchRequest(
            file=str(path),
            concurrency=admitted.concurrency(options.concurrency),
            rpm=admitted.rate(options.rpm),
            budget_usd=options.budget_usd,
            new=options.new,
            **owner_fields(await owner_of(studio)),
        )
        try:
            return await Batches(studio.engine).start(request)
        except InvalidRequestError as exc:  # it names the file by its path on this machine
            exc.message = exc.message.replace(str(path.resolve()), checked.name)
            raise


async def _enhanced(studio: Studio, rows: list[BatchRow], style: str) -> list[BatchRow]:
    """Every distinct prompt rewritten once in `style`; a failure keeps the original."""
    done: dict[str, str] = {}
    for row in rows:
        if row.prompt not in done:
            result = await enhance_prompt(row.prompt, style, settings=studio.settings)
            done[row.prompt] = result.enhanced
    return [replace(row, prompt=done[row.prompt]) for row in rows]

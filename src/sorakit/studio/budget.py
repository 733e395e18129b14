"""The budget meter on every page, and the budget page: projects (budget scopes) to pick, cap,
start anew and close.

The studio keeps no money of its own: the meter reads the ledger's spend (one aggregate query,
every few seconds per open page), projects are the ledger's budget scopes, and a project's cap
is kept by the ledger in the same transaction that records a job, like every other budget. The
active project is the session cookie's `project` (a name, so "start anew" keeps it active);
every studio page that makes jobs passes `await owner_for(studio)` to the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sorakit.engine import Owner
from sorakit.errors import InvalidStateError, NotFoundError, SorakitError
from sorakit.ledger.records import Spend, amount_text
from sorakit.ledger.scopes import ScopeRecord, cap_from_text
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD, Session, cookies_of

router = APIRouter()

HISTORY = 50
"""Closed projects (and earlier periods of open ones) the budget page lists."""
CHANGED = "budget-changed"
"""The event that tells the meter to refresh now (`HX-Trigger`)."""


@dataclass(frozen=True)
class Gauge:
    """One budget that applies to the caller, and what counts against it."""

    kind: str
    """`project`, `key` or `ledger`."""
    label: str
    cap: float | None
    spend: Spend

    @property
    def left(self) -> float:
        return float("inf") if self.cap is None else self.cap - self.spend.total

    def _percent(self, usd: float) -> float:
        return 0.0 if not self.cap else round(min(100.0, max(0.0, usd / self.cap * 100)), 2)

    @property
    def spent_percent(self) -> float:
        return self._percent(self.spend.committed)

    @property
    def reserved_percent(self) -> float:
        return min(100.0 - self.spent_percent, self._percent(self.spend.reserved))

    @property
    def level(self) -> str:
        """`full`, `near` (80 % used) or `ok`: the bar's colour."""
        if self.cap is None:
            return "ok"
        if self.spend.total >= self.cap - 1e-9:
            return "full"
        return "near" if self.spend.total >= 0.8 * self.cap else "ok"

    @property
    def text(self) -> str:
        """`$1.20 spent + $0.40 reserved of $5.00 · project Trailer`."""
        spend = self.spend
        words = f"${spend.committed:.2f} spent + ${spend.reserved:.2f} reserved"
        if self.cap is not None:
            words += f" of ${self.cap:.2f}"
        if spend.unpriced_jobs:
            unknown = amount_text(0, spend.unpriced_jobs).removeprefix("$0.00 + ")
            words += f" (and {unknown})"
        return f"{words} · {self.label}"


@dataclass(frozen=True)
class Meter:
    """The caller's budgets: the one that binds first, all of them, and the active project."""

    gauges: tuple[Gauge, ...]
    binding: Gauge | None
    project: ScopeRecord | None
    missing_project: str | None
    """The cookie's project when it is no longer open (closed elsewhere)."""


def _key_id(studio: Studio) -> str | None:
    principal = studio.principal
    return principal.key.id if principal is not None and principal.key is not None else None


def _project_name(studio: Studio) -> str | None:
    return studio.session.project if studio.session is not None else None


async def _active(studio: Studio) -> ScopeRecord | None:
    name = _project_name(studio)
    if not name:
        return None
    return await studio.engine.ledger.open_scope(name, owner=_key_id(studio))


async def owner_for(studio: Studio) -> Owner | None:
    """Whom the caller's new jobs are made for: `principal.owner`, under the active project.

    A project closed since it was picked refuses the job (rather than spending outside the
    project the person thinks is active).
    """
    principal = studio.principal
    if principal is None:
        return None
    name = _project_name(studio)
    if not name:
        return principal.owner
    scope = await _active(studio)
    if scope is None:
        raise InvalidStateError(
            f'Project "{name}" is closed; pick another project (or none) on the budget page.'
        )
    base = principal.owner or Owner(None, sees_all=True)  # the open studio's keyless ledger
    return replace(base, scope_id=scope.id, scope_budget_usd=scope.cap_usd)


async def meter_of(studio: Studio) -> Meter:
    """The caller's budgets, from one aggregate query over the ledger's jobs."""
    principal = studio.principal
    key = principal.key if principal is not None else None
    project = await _active(studio)
    ledger_cap = studio.settings.budget_usd
    everything = ledger_cap is not None or (key is None and project is None)
    views = await studio.engine.ledger.spend_views(
        scope_id=project.id if project else None,
        owner=key.id if key else None,
        whole=everything,
    )
    gauges = []
    if project is not None and views.scope is not None:
        gauges.append(Gauge("project", f"project {project.name}", project.cap_usd, views.scope))
    if key is not None and views.owner is not None:
        gauges.append(Gauge("key", f"key {key.name}", key.budget_usd, views.owner))
    if views.ledger is not None:
        label = "the ledger's budget" if ledger_cap is not None else "all jobs"
        gauges.append(Gauge("ledger", label, ledger_cap, views.ledger))
    capped = [gauge for gauge in gauges if gauge.cap is not None]
    binding = min(capped, key=lambda g: g.left) if capped else (gauges[0] if gauges else None)
    name = _project_name(studio)
    missing = name if name and project is None else None
    return Meter(tuple(gauges), binding, project, missing)


@router.get("/budget/meter")
async def budget_meter(studio: StudioDep) -> Response:
    """The meter in the nav of every page (polled; nothing for a caller not signed in)."""
    if not studio.signed_in:
        return Response(status_code=204)
    return studio.render("_budget_meter.html", meter=await meter_of(studio))


@router.get("/budget")
async def budget_page(studio: StudioDep) -> Response:
    """The caller's budgets and projects."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return studio.render("budget.html", **await _body(studio))


async def _body(studio: Studio, session: Session | None = None) -> dict[str, Any]:
    """What the budget page shows (with `session`: as the cookie about to be set has it)."""
    if session is not None:
        studio = replace(studio, session=session)
    projects = await studio.engine.ledger.list_scopes(
        owner=_key_id(studio), include_closed=True, limit=HISTORY
    )
    return {
        "meter": await meter_of(studio),
        "projects": [p for p in projects if p.scope.open],
        "history": [p for p in projects if not p.scope.open],
        "active": _project_name(studio),
    }


async def _changed(studio: Studio, session: Session | None = None) -> Response:
    """The answer to a change: the page body again (htmx) or the page (a plain form); with
    `session`, that cookie (another active project) is set too."""
    response: Response
    if studio.is_htmx:
        response = studio.render("_budget_body.html", **await _body(studio, session))
        response.headers["HX-Trigger"] = CHANGED
    else:
        response = RedirectResponse("/budget", status_code=303)
    if session is not None and session != studio.session:
        cookies_of(studio.request).set(studio.request, response, session)
    return response


def _picking(studio: Studio, project: str | None) -> Session:
    """The session with `project` (a name, or None) as the active project."""
    return replace(studio.session or Session.new(), project=project)


def _refused(studio: Studio, exc: SorakitError) -> HTMLResponse:
    """A refusal, shown above the projects (the body it would have replaced stays)."""
    response = studio.error(exc)
    response.headers["HX-Retarget"] = "#budget-error"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


async def _project_form(
    studio: Studio, csrf_token: str, change: Callable[[], Awaitable[Session | None]]
) -> Response:
    """Run a projects form's change for a signed-in caller whose form carries its token; answer
    with the projects again (and the session `change` returns, None: as it was), or the refusal
    above them."""
    if (refusal := studio.form_refusal(csrf_token, partial(_refused, studio))) is not None:
        return refusal
    try:
        session = await change()
    except SorakitError as exc:
        return _refused(studio, exc)
    return await _changed(studio, session)


@router.post("/budget/projects")
async def create_project(
    studio: StudioDep,
    name: Annotated[str, Form()] = "",
    cap: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Open a project (with a cap, if given) and make it the active one."""

    async def create() -> Session:
        scope = await studio.engine.ledger.create_scope(
            name, owner=_key_id(studio), cap_usd=cap_from_text(cap)
        )
        return _picking(studio, scope.name)

    return await _project_form(studio, csrf_token, create)


@router.post("/budget/active")
async def pick_project(
    studio: StudioDep,
    project: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Make one of the caller's open projects the active one (empty: no project)."""

    async def pick() -> Session:
        if not project.strip():
            return _picking(studio, None)
        scope = await studio.engine.ledger.open_scope(project, owner=_key_id(studio))
        if scope is None:
            shown = "".join(c for c in project[:128] if c.isprintable())
            raise NotFoundError(f'No open project named "{shown}".', param="project")
        return _picking(studio, scope.name)

    return await _project_form(studio, csrf_token, pick)


@router.post("/budget/projects/{scope_id}/reset")
async def reset_project(
    studio: StudioDep,
    scope_id: str,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Start a project anew at $0 (same name and cap); its spend so far stays in the ledger."""

    async def reset() -> None:
        await studio.engine.ledger.restart_scope(scope_id, owner=_key_id(studio))

    return await _project_form(studio, csrf_token, reset)


@router.post("/budget/projects/{scope_id}/close")
async def close_project(
    studio: StudioDep,
    scope_id: str,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Close a project; when it was the active one, no project is active any more."""

    async def close() -> Session | None:
        scope = await studio.engine.ledger.close_scope(scope_id, owner=_key_id(studio))
        was_active = scope.name == _project_name(studio)
        return _picking(studio, None) if was_active else None

    return await _project_form(studio, csrf_token, close)

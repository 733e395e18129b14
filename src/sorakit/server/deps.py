"""Annotated dependencies: what a route needs, taken from the app's state.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, and
that hop per request cost more than the whole handler.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from sorakit.engine import Engine
from sorakit.engine.supervisor import JobSupervisor
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.server.views import RenderedViews
from sorakit.settings import Settings


async def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _supervisor(request: Request) -> JobSupervisor:
    supervisor: JobSupervisor = request.app.state.supervisor
    return supervisor


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _views(request: Request) -> RenderedViews:
    views: RenderedViews = request.app.state.views
    return views


async def principal_of(request: Request) -> Principal:
    """The caller of a request (and its key id noted for the request log)."""
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    principal = await gatekeeper.principal(request.headers.get("authorization"))
    if principal.key is not None:
        request.state.key_id = principal.key.id
    return principal


_principal = principal_of


async def _gatekeeper(request: Request) -> Gatekeeper:
    gatekeeper: Gatekeeper = request.app.state.gatekeeper
    return gatekeeper


IDEMPOTENCY_KEY_MAX_LENGTH = 200
"""Room for the caller's scope prefix within the ledger's 256-character column."""


async def _idempotency_key(
    key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
    ] = None,
) -> str | None:
    # An empty header is no key: as a key, every empty one would name the same job.
    return key or None


EngineDep = Annotated[Engine, Depends(_engine)]
SupervisorDep = Annotated[JobSupervisor, Depends(_supervisor)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ViewsDep = Annotated[RenderedViews, Depends(_views)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
GatekeeperDep = Annotated[Gatekeeper, Depends(_gatekeeper)]
IdempotencyKeyDep = Annotated[str | None, Depends(_idempotency_key)]
"""The `Idempotency-Key` header, None when absent or empty."""
Authenticated = Depends(_principal)
"""For routes that need a valid caller but not who it is."""

"""Templates, and what every studio page needs from the app: the engine, the caller, the form token."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import jinja2
from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from sorakit.engine import Engine
from sorakit.errors import (
    AuthenticationError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    SorakitError,
)
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.settings import Settings
from sorakit.studio.session import Session, cookies_of, principal_for, session_of

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("sorakit.studio", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

_STATUS: tuple[tuple[type[SorakitError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (LimitExceededError, 429),
)
"""A refusal's status; anything else is the caller's to change (400), as the page says."""


PageAround = Callable[..., Response]
"""A page with a fragment in it, for a browser without scripts: `page(status, inner=template,
**context)`."""


Found = TypeVar("Found")


class Watcher(Protocol):
    """What tracks a submitted job in the background (the server's supervisor)."""

    def watch(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class Studio:
    """One request's view of the app: its engine and gatekeeper, and who is asking."""

    request: Request
    engine: Engine
    gatekeeper: Gatekeeper
    settings: Settings
    watcher: Watcher
    session: Session | None
    principal: Principal | None

    @property
    def signed_in(self) -> bool:
        return self.principal is not None

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def csrf_token(self) -> str:
        return cookies_of(self.request).csrf_token(self.session) if self.session else ""

    def check_form(self, csrf_token: str) -> None:
        """Refuse a form without this session's CSRF token."""
        cookies_of(self.request).check_csrf(self.session, csrf_token)

    def form_refusal(
        self, csrf_token: str, refuse: Callable[[SorakitError], Response] | None = None
    ) -> Response | None:
        """None when a signed-in caller's form carries its token; else the sign-in page, or the
        refusal as `refuse` answers it (`error` unless the page shows refusals elsewhere)."""
        if not self.signed_in:
            return self.to_sign_in()
        try:
            self.check_form(csrf_token)
        except SorakitError as exc:
            return (refuse or self.error)(exc)
        return None

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """A page or fragment; a page also makes sure the browser holds a session cookie."""
        session = self.session or Session.new()
        context = {
            "csrf_field": "csrf_token",
            "csrf_token": cookies_of(self.request).csrf_token(session),
            "principal": self.principal,
            **context,
        }
        response = HTMLResponse(templates.get_template(template).render(context), status_code)
        if self.session is None:  # the CSRF token above is tied to this new cookie
            cookies_of(self.request).set(self.request, response, session)
        return response

    def error(self, exc: SorakitError) -> HTMLResponse:
        """A refusal as a person reads it, in the page: never a traceback, never a 5xx; a limit
        says when to try again."""
        allowed = getattr(exc, "allowed", None)
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        # A limit says when to try again; the page counts down to it (static/studio.js).
        retry = getattr(exc, "retry_after", None) if isinstance(exc, LimitExceededError) else None
        wait = math.ceil(retry) if retry else None
        return self.render(
            "_error.html", status, message=exc.message, allowed=allowed, retry_after=wait
        )

    def in_page(
        self, page: PageAround, template: str, status: int = 200, **context: Any
    ) -> Response:
        """A fragment for htmx; the whole page around it for a browser without scripts."""
        if self.is_htmx:
            return self.render(template, status, **context)
        return page(status, inner=template, **context)

    def error_in_page(self, page: PageAround, exc: SorakitError) -> Response:
        """A refusal as `error` gives it to htmx; else the whole page with it in place."""
        answer = self.error(exc)
        if self.is_htmx:
            return answer
        allowed = getattr(exc, "allowed", None)
        return page(answer.status_code, inner="_error.html", message=exc.message, allowed=allowed)

    async def owned(
        self, find: Callable[[Studio, str], Awaitable[Found]], item_id: str
    ) -> Found | Response:
        """The caller's own thing (`find` raises not-found for anyone else's), or the page to
        answer with instead: sign-in, or the refusal."""
        if not self.signed_in:
            return self.to_sign_in()
        try:
            return await find(self, item_id)
        except SorakitError as exc:
            return self.error(exc)

    def to_sign_in(self) -> Response:
        """Send a caller who is not signed in to the sign-in page (htmx follows `HX-Redirect`)."""
        if self.is_htmx:
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)


async def _studio(request: Request) -> Studio:
    session = session_of(request)
    state = request.app.state
    return Studio(
        request=request,
        engine=state.engine,
        gatekeeper=state.gatekeeper,
        settings=state.settings,
        watcher=state.supervisor,
        session=session,
        principal=await principal_for(request, session),
    )


StudioDep = Annotated[Studio, Depends(_studio)]

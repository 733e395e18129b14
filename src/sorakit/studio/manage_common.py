"""What every section of the Admin page shares: the admin gate, its tabs, form fields, answers.

Each section answers a form in two ways: htmx gets the fragment to swap in (a result, and the
refreshed list out of band), a plain form post gets the section's whole page with that fragment
in place, so the page works without JavaScript too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import Response
from markupsafe import Markup

from sorakit.errors import InvalidRequestError, PermissionDeniedError, SorakitError
from sorakit.studio.render import Studio, templates

SECTIONS = (
    ("/manage/keys", "Keys"),
    ("/manage/usage", "Usage"),
    ("/manage/log", "Request log"),
    ("/manage/pools", "Pools"),
    ("/manage/models", "Models"),
)
"""The Admin page's tabs: path and name."""

NOT_ADMIN = (
    "The Admin page needs an admin API key; you are signed in with a tenant's key. "
    "Sign in with an admin key (`sorakit keys create NAME --admin` makes one)."
)

PageContext = Callable[[Studio], Awaitable[dict[str, Any]]]
"""What a section's page shows, read fresh for each answer."""


def refusal(studio: Studio) -> Response | None:
    """None for an admin (or the open studio); else sign-in, or a 403 that shows no data."""
    if not studio.signed_in:
        return studio.to_sign_in()
    assert studio.principal is not None
    if studio.principal.sees_all:
        return None
    if studio.is_htmx:
        return studio.error(PermissionDeniedError(NOT_ADMIN))
    return studio.render("manage_refused.html", 403, message=NOT_ADMIN, allowed=None)


def when(timestamp: float) -> str:
    """A time as the admin pages show it (UTC, to the minute)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


def fragment_html(studio: Studio, template: str, **context: Any) -> Markup:
    """A fragment rendered to put inside a page (with what `Studio.render` gives every page)."""
    return Markup(
        templates.get_template(template).render(
            csrf_field="csrf_token",
            csrf_token=studio.csrf_token(),
            principal=studio.principal,
            **context,
        )
    )


async def page(
    studio: Studio,
    template: str,
    section_context: PageContext,
    *,
    status: int = 200,
    result: Markup | str = "",
    **context: Any,
) -> Response:
    """A section's whole page, with a form's result (or refusal) in its result slot."""
    return studio.render(
        template,
        status,
        sections=SECTIONS,
        result=result,
        **(await section_context(studio)),
        **context,
    )


async def answer(
    studio: Studio,
    template: str,
    section_context: PageContext,
    fragment: str,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    """A form's result: the fragment for htmx, else the section's page with it in place.

    The fragment carries the section's refreshed list out of band (`oob`) only for htmx: the
    whole page has its own."""
    if studio.is_htmx:
        return studio.render(fragment, status, oob=True, **context)
    html = fragment_html(studio, fragment, oob=False, **context)
    return await page(studio, template, section_context, status=status, result=html)


async def refused(
    studio: Studio, template: str, section_context: PageContext, exc: SorakitError
) -> Response:
    """A form's refusal, readable in the page: `studio.error` for htmx, else the whole page."""
    fragment = studio.error(exc)
    if studio.is_htmx:
        return fragment
    html = Markup(bytes(fragment.body).decode())
    return await page(studio, template, section_context, status=fragment.status_code, result=html)


@dataclass(frozen=True)
class Reply:
    """What a form's action answers with: a fragment and what it shows (a plain notice is a str)."""

    fragment: str
    context: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


Action = Callable[[], Awaitable[str | Reply]]
"""A form's admin action, run once the caller is an admin and the form carries its token."""


@dataclass(frozen=True)
class Section:
    """One tab of the Admin page: its page template and what the page shows."""

    template: str
    context: PageContext

    async def show(self, studio: Studio) -> Response:
        """The section's page, for an admin; else sign-in or the refusal."""
        if (refused_now := refusal(studio)) is not None:
            return refused_now
        return await page(studio, self.template, self.context)

    async def act(self, studio: Studio, csrf_token: str, action: Action) -> Response:
        """Run a form's action for an admin whose form carries its token, and answer its
        result with the refreshed list (or the refusal in the page)."""
        if (refused_now := refusal(studio)) is not None:
            return refused_now
        try:
            studio.check_form(csrf_token)
            result = await action()
        except SorakitError as exc:
            return await refused(studio, self.template, self.context, exc)
        reply = (
            Reply("_manage_notice.html", {"notice": result}) if isinstance(result, str) else result
        )
        fresh = await self.context(studio)
        response = await answer(
            studio, self.template, self.context, reply.fragment, **reply.context, **fresh
        )
        response.headers.update(reply.headers)
        return response


def number_field(value: str, name: str) -> float | None:
    """A form's number (blank: not given); the API's own words when it is not a number."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidRequestError(f"'{name}' must be a number.", param=name)
    return number


def lenient_number(value: str) -> float | str | None:
    """A number where it reads as one, else the text as typed, for a checker that names the
    field in its own words (`PriceOverride.parse`); blank is None."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number

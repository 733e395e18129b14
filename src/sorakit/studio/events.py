"""Live panels by server-sent events: read the ledger every `POLL_SECONDS`, send what changed.

A job's panel (`/jobs/{id}/events`) and a pipeline's steps (`/runs/{id}/events`) follow the
same loop; each page says only what its panel shows now and when it is done.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from fastapi.responses import StreamingResponse

from sorakit.errors import SorakitError
from sorakit.ledger.uncut import uncut
from sorakit.studio.render import templates

POLL_SECONDS = 0.25
"""How often a stream reads the ledger (the supervisor or the pipeline runner drives the work)."""
KEEPALIVE_SECONDS = 15.0
"""A comment after this long without an event, so proxies keep the stream open."""
STREAM_SECONDS = 3 * 3600.0
"""A stream ends after this long; the browser reconnects if the work still runs."""

DONE = "done"
"""The last event: its fragment is the finished panel, and the stream ends after it."""

Panel = Callable[[], Awaitable[tuple[str, str]]]
"""What a page's panel is now: an event name and its fragment (`DONE` when finished)."""


def fragment(template: str, **context: object) -> str:
    """A fragment rendered outside a response (for events)."""
    return templates.get_template(template).render(context)


def event(name: str, html: str) -> str:
    """One server-sent event; each line of the fragment is a `data:` line."""
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


async def panel_events(panel: Panel) -> AsyncIterator[str]:
    """The panel's events: each change once, a keep-alive while quiet, then `done`.

    A refusal while reading (the job or pipeline deleted meanwhile) ends the stream with the
    error in the panel: the page has already been sent, so it says so here."""
    said = ""
    quiet_since = started = time.monotonic()
    while time.monotonic() - started < STREAM_SECONDS:
        try:
            name, html = await uncut(panel())
        except SorakitError as exc:
            yield event(DONE, fragment("_error.html", message=exc.message, allowed=None))
            return
        if name == DONE:
            yield event(DONE, html)
            return
        if html != said:
            yield event(name, html)
            said, quiet_since = html, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await anyio.sleep(POLL_SECONDS)


def event_stream(panel: Panel) -> StreamingResponse:
    """The panel's events as a response no cache or proxy holds back."""
    return StreamingResponse(
        panel_events(panel),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )

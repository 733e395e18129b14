"""Admin · Keys: the gateway's API keys, made with limits, shown once, revoked.

The page calls the ledger as `POST /admin/keys` and `sorakit keys create` do, with the API's
words for a field that is not a number; a new key's token lives only in the answer that shows
it (the ledger keeps its hash), and that answer is never cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.errors import ConfigurationError, InvalidRequestError, NotFoundError
from sorakit.ledger import ApiKeyRecord
from sorakit.ledger.keys import MAX_LIMIT
from sorakit.ledger.records import amount_text
from sorakit.settings import Settings
from sorakit.studio.manage_common import Reply, Section, number_field, when
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

PAGE = "manage_keys.html"
NO_STORE = {"cache-control": "no-store"}
"""A new key's token must not outlive the answer that shows it, in a cache or anywhere."""


@dataclass(frozen=True)
class KeyView:
    """A key as the list shows it: its limits, what its videos cost, and its state."""

    key: ApiKeyRecord
    spent: str
    reserved: float
    created: str
    revoked: str | None

    @property
    def models(self) -> str:
        return ", ".join(self.key.models) if self.key.models else "all"


async def key_views(studio: Studio) -> list[KeyView]:
    """Every key, active ones first, with its spend as `GET /admin/keys` reports it."""
    ledger = studio.engine.ledger
    views = []
    for key in await ledger.list_keys(include_revoked=True):
        spend = await ledger.spend(owner=key.id)
        views.append(
            KeyView(
                key,
                amount_text(spend.committed, spend.unpriced_jobs),
                spend.reserved,
                when(key.created_at),
                when(key.revoked_at) if key.revoked_at else None,
            )
        )
    return sorted(views, key=lambda view: view.revoked is not None)


async def _context(studio: Studio) -> dict[str, Any]:
    principal = studio.principal
    return {
        "section": "Keys",
        "list_template": "_manage_keys_list.html",
        "keys": await key_views(studio),
        "model_names": [entry.name for entry in studio.engine.catalog],
        "open_studio": principal is not None and principal.key is None,
        "own_key": principal.key.id if principal is not None and principal.key else None,
    }


SECTION = Section(PAGE, _context)


@router.get("/manage/keys")
async def keys_page(studio: StudioDep) -> Response:
    """The keys, and the form that makes one."""
    return await SECTION.show(studio)


def _whole(value: str, name: str) -> int | None:
    """A whole number, refused in the API's words (1.5 videos in progress is not rounded)."""
    number = number_field(value, name)
    if number is None:
        return None
    if not number.is_integer() or abs(number) > MAX_LIMIT:
        raise InvalidRequestError(
            f"'{name}' must be a whole number from 1 to {MAX_LIMIT:,}.", param=name
        )
    return int(number)


def _allow_list(studio: Studio, text: str) -> list[str] | None:
    """The models a key may use (commas or spaces between them); each must name a model or an
    alias in the catalog, since a misspelt name would refuse every video the key asks for."""
    names = [name for name in re.split(r"[,\s]+", text) if name]
    if not names:
        return None
    for name in names:
        try:
            studio.engine.catalog.resolve(name)
        except NotFoundError as exc:
            known = sorted(entry.name for entry in studio.engine.catalog)
            raise InvalidRequestError(
                f"The allow list names an unknown model: {exc.message}",
                param="models",
                allowed=known,
            ) from None
    return list(dict.fromkeys(names))


async def _webhook(settings: Settings, url: str) -> tuple[str, str]:
    """The checked URL's new secret and its sealed form; a missing secret key is the admin's
    to fix, as the API answers it."""
    # Imported here, as `sorakit keys` does: `sorakit.server` imports the studio.
    from sorakit.server.webhooks import tenant_webhook

    try:
        return await tenant_webhook(settings, url)
    except ConfigurationError as exc:
        raise InvalidRequestError(exc.message, param="webhook_url") from None


@router.post("/manage/keys")
async def create_key(
    studio: StudioDep,
    name: Annotated[str, Form()] = "",
    budget_usd: Annotated[str, Form()] = "",
    rpm: Annotated[str, Form()] = "",
    concurrency: Annotated[str, Form()] = "",
    models: Annotated[str, Form()] = "",
    admin: Annotated[str, Form()] = "",
    webhook_url: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Create a key as `POST /admin/keys` does, and show its token this once."""

    async def create() -> Reply:
        budget, rate = number_field(budget_usd, "budget_usd"), number_field(rpm, "rpm")
        running = _whole(concurrency, "concurrency")
        allowed = _allow_list(studio, models)
        url = webhook_url.strip()
        secret, sealed = await _webhook(studio.settings, url) if url else (None, None)
        key, token = await studio.engine.ledger.create_key(
            name.strip(),
            admin=bool(admin),
            budget_usd=budget,
            rpm=rate,
            concurrency=running,
            models=allowed,
            webhook_url=url or None,
            webhook_secret=sealed,
        )
        studio.gatekeeper.forget()  # the first tenant key closes the gateway: apply it at once
        shown = {"key": key, "token": token, "webhook_secret": secret}
        return Reply("_manage_key_created.html", shown, headers=NO_STORE)

    return await SECTION.act(studio, csrf_token, create)


@router.post("/manage/keys/{key_id}/revoke")
async def revoke_key(
    studio: StudioDep,
    key_id: str,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Revoke a key as `DELETE /admin/keys/{id}` does; its videos stay.

    The key this session signed in with is refused: revoking it would shut the page on the
    person using it, so it takes another admin key to do.
    """
    principal = studio.principal

    async def revoke() -> str:
        if principal is not None and principal.key is not None and principal.key.id == key_id:
            raise InvalidRequestError(
                "This is the key you are signed in with; to revoke it, sign in with another "
                "admin key first.",
                param="key_id",
            )
        key = await studio.engine.ledger.revoke_key(key_id)
        studio.gatekeeper.forget()  # refused from the next request on, not after the cache lapses
        return (
            f"Revoked {key.name} ({key.id}): requests with it are refused from now on. "
            "Its videos stay."
        )

    return await SECTION.act(studio, csrf_token, revoke)

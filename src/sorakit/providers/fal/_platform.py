"""fal's Platform API (`https://api.fal.ai/v1`): finding a lost request and reading its real cost.

- `GET /models/requests/by-endpoint?endpoint_id=&start=&expand=payloads` lists an endpoint's
  requests with their input JSON (any API key). It is sorted by end time and filters on
  `success`/`error`/`user_error`, so it is read here as listing finished requests only: a lost
  submit is found once that request has finished, not while it is still queued.
- `GET /models/billing-events?request_id=&start=` gives each billed request's
  `cost_estimate_nano_usd` (the total after discounts). It needs an *admin* API key; an ordinary
  key gets 401/403, after which the provider stops asking and keeps the catalog's estimate.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sorakit.providers.fal._errors import WIRE_ERRORS, translate_error

logger = logging.getLogger(__name__)

PLATFORM_URL = "https://api.fal.ai/v1/"
DENIED = (401, 403)
"""A key without the scope (billing events need an admin key); not an error for the job."""


class PlatformDenied(Exception):
    """The key may not read this Platform API resource."""


@dataclass(frozen=True)
class ListedRequest:
    """One request the by-endpoint listing reported."""

    request_id: str
    sent_at: float | None


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def _get(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> dict[str, Any]:
    try:
        response = await client.get(url, params=params)
    except WIRE_ERRORS as exc:
        raise translate_error(exc) from exc
    if response.status_code in DENIED:
        raise PlatformDenied(f"HTTP {response.status_code} from {url}")
    if not response.is_success:
        raise translate_error(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


async def find_request(
    client: httpx.AsyncClient,
    api_url: str,
    *,
    endpoint: str,
    arguments: dict[str, Any],
    since: float,
    exclude: Collection[str],
) -> ListedRequest | None:
    """The newest request on `endpoint` since `since` whose input is exactly `arguments`."""
    params = {"endpoint_id": endpoint, "start": _iso(since - 60), "expand": "payloads"}
    params["limit"] = "100"
    best: ListedRequest | None = None
    for _ in range(10):  # at most 1,000 requests: a lost submit is recent
        body = await _get(client, api_url + "models/requests/by-endpoint", params)
        for item in body.get("items") or []:
            if not isinstance(item, dict) or item.get("json_input") != arguments:
                continue
            rid = item.get("request_id")
            if not isinstance(rid, str) or rid in exclude:
                continue
            listed = ListedRequest(rid, _unix(item.get("sent_at")))
            if best is None or (listed.sent_at or 0) > (best.sent_at or 0):
                best = listed
        cursor = body.get("next_cursor")
        if not body.get("has_more") or not isinstance(cursor, str):
            break
        params["cursor"] = cursor
    return best


async def request_cost(
    client: httpx.AsyncClient, api_url: str, *, request_id: str, since: float | None
) -> float | None:
    """The billed USD of one request, or None while fal has not billed it (or never will)."""
    params = {"request_id": request_id}
    if since is not None:
        params["start"] = _iso(since - 60)
    body = await _get(client, api_url + "models/billing-events", params)
    total = 0.0
    found = False
    for event in body.get("billing_events") or []:
        if not isinstance(event, dict):
            continue
        nano = event.get("cost_estimate_nano_usd")
        if event.get("request_id") == request_id and isinstance(nano, int | float):
            total += nano
            found = True
    return round(total / 1e9, 9) if found else None

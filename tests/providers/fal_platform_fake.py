"""fal's Platform API and webhook delivery, mixed into the queue fake in `fal_fake`.

The Platform API (`api.fal.ai/v1/models/…`) lists finished requests per endpoint with their input (any
key) and serves billing events with `cost_estimate_nano_usd` (admin keys only, 403 otherwise).
A submit with `?fal_webhook=<url>` gets fal's webhook: once the job finishes on the fake's clock, a
background thread POSTs `{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload",
"error"}` to that URL over real HTTP, retrying a few times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.providers.fal_fake import FakeRequest

logger = logging.getLogger(__name__)


class PlatformApi:
    """`models/requests/by-endpoint` and `models/billing-events` over the queue's requests."""

    jobs: dict[str, FakeRequest]
    clock: Callable[[], float]
    state: Callable[[FakeRequest], str]
    _result: Callable[[FakeRequest], httpx.Response]

    def __init__(self) -> None:
        super().__init__()
        self.admin_keys: set[str] = set()
        """Keys that may read billing events (fal's admin keys)."""
        self.unit_price = 0.1
        """USD per second of video in the billing events."""

    def _platform(self, path: str, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start = _unix(params.get("start")) or self.clock() - 86400
        if path == "v1/models/requests/by-endpoint":
            return self._listing(params, start)
        if path == "v1/models/billing-events":
            if request.headers["authorization"] not in {f"Key {k}" for k in self.admin_keys}:
                return httpx.Response(403, json={"detail": "Admin API key required"})
            return self._billing(params, start)
        return httpx.Response(404, json={"detail": "Not Found"})

    def _finished(self, job: FakeRequest, start: float) -> bool:
        return job.created_at >= start and self.state(job) == "COMPLETED"

    def _listing(self, params: httpx.QueryParams, start: float) -> httpx.Response:
        endpoints = set(",".join(params.get_list("endpoint_id")).split(","))
        payloads = params.get("expand") == "payloads"
        items = []
        for job in self.jobs.values():
            if job.endpoint not in endpoints or not self._finished(job, start):
                continue
            item: dict[str, Any] = {
                "request_id": job.id,
                "endpoint_id": job.endpoint,
                "sent_at": _iso(job.created_at),
                "started_at": _iso(job.created_at + job.queue_seconds),
                "ended_at": _iso(job.created_at + job.queue_seconds + job.render_seconds),
                "status_code": self._result(job).status_code,
                "duration": job.render_seconds,
            }
            if payloads:
                item["json_input"] = job.arguments
            items.append(item)
        items.sort(key=lambda i: str(i["ended_at"]), reverse=True)
        return httpx.Response(200, json={"items": items, "next_cursor": None, "has_more": False})

    def _billing(self, params: httpx.QueryParams, start: float) -> httpx.Response:
        wanted = set(",".join(params.get_list("request_id")).split(",")) - {""}
        events = []
        for job in self.jobs.values():
            if wanted and job.id not in wanted:
                continue
            if not self._finished(job, start) or self._result(job).status_code != 200:
                continue  # fal bills successful outputs only
            seconds = float(str(job.arguments.get("duration", "5")).rstrip("s"))
            events.append(
                {
                    "request_id": job.id,
                    "endpoint_id": job.endpoint,
                    "timestamp": _iso(job.created_at + job.queue_seconds + job.render_seconds),
                    "output_units": seconds,
                    "unit_price": self.unit_price,
                    "percent_discount": None,
                    "cost_estimate_nano_usd": round(seconds * self.unit_price * 1e9),
                }
            )
        return httpx.Response(
            200, json={"billing_events": events, "next_cursor": None, "has_more": False}
        )


class WebhookSender:
    """Delivers fal's webhook for each finished request that named a `fal_webhook` URL."""

    jobs: dict[str, FakeRequest]
    state: Callable[[FakeRequest], str]
    _result: Callable[[FakeRequest], httpx.Response]

    def __init__(self) -> None:
        super().__init__()
        self.webhook_attempts = 3
        self.webhook_retry_delay = 0.05
        """Real seconds between delivery attempts (fal spreads its 10 over two hours)."""
        self.webhook_log: list[tuple[str, int | str]] = []
        """Each delivery attempt: the request id and the HTTP status, or the error's name."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None

    def close(self) -> None:
        """Stop the webhook sender."""
        self._stop.set()
        if self._sender is not None:
            self._sender.join(timeout=5)

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, daemon=True)
                self._sender.start()

    def _send_loop(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.wait(0.02):
                for job in list(self.jobs.values()):
                    if job.webhook and not job.delivered and self.state(job) == "COMPLETED":
                        job.delivered = True
                        self._deliver(client, job, job.webhook)

    def webhook_body(self, job: FakeRequest) -> dict[str, Any]:
        """fal's webhook body for a finished request."""
        result = self._result(job)
        body = json.loads(result.content)
        ok = result.status_code == 200 and not job.cancelled
        error = None if ok else _message(body, job)
        return {
            "request_id": job.id,
            "gateway_request_id": job.id,
            "status": "OK" if ok else "ERROR",
            "payload": body,
            "error": error,
        }

    def _deliver(self, client: httpx.Client, job: FakeRequest, url: str) -> None:
        body = self.webhook_body(job)
        for attempt in range(self.webhook_attempts):
            if attempt:
                time.sleep(self.webhook_retry_delay)
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError as exc:
                self.webhook_log.append((job.id, type(exc).__name__))
                continue
            self.webhook_log.append((job.id, response.status_code))
            if response.is_success:
                return
        logger.debug("fake fal: gave up the webhook of %s", job.id)


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _unix(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _message(body: Any, job: FakeRequest) -> str:
    if job.cancelled:
        return "Request was cancelled"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg"))
    return str(detail)

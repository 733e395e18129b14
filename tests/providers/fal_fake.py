"""A fake of fal.ai's queue API (providers.md §4.1/§4.3), served through `httpx.MockTransport`.

It follows the contract fal-client 1.0.3 was captured against: `Authorization: Key …`, a submit
answer carrying `status_url`/`response_url`/`cancel_url` on the app's `{owner}/{alias}` (the
endpoint's sub-path dropped), `IN_QUEUE` with `queue_position`, `IN_PROGRESS`/`COMPLETED` with a
`logs` key, `COMPLETED` with `error`/`error_type` for a content-filter failure, pydantic-style 422
bodies for inputs outside a model's schema (missing, extra or wrongly typed fields, a string
duration where the model wants an int and the reverse, too many reference images), expiring media
URLs, and faults on demand. A submit with `?fal_webhook=<url>` gets fal's webhook: once the job
finishes on the fake's clock, a background thread POSTs `{"request_id", "gateway_request_id",
"status": "OK"|"ERROR", "payload", "error"}` to that URL over real HTTP, retrying a few times.
The Platform API lists finished requests per endpoint with their input (any key) and serves
billing events with `cost_estimate_nano_usd` (admin keys only, 403 otherwise). The schemas below
are written from providers.md and fal's model pages, not from the adapter's input maps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sorakit.providers.base import Provider, SubmitRequest
from sorakit.providers.fal import FalProvider
from sorakit.providers.simulator.render import Segment, render

QUEUE = "http://queue.fal.test/"
MEDIA = "http://media.fal.test/files/"
API = "http://api.fal.test/v1/"
"""fal's Platform API: `models/requests/by-endpoint` and `models/billing-events`."""
MODERATION_WORD = "forbidden"
NAMES = ("v.mp4", "t.webp", "s.jpg")

Field = tuple[type, tuple[Any, ...] | None]
"""A field's exact JSON type and, where the schema has one, its allowed values; for a list of
URLs, `(max_items,)`."""

logger = logging.getLogger(__name__)

ASPECTS_5 = ("16:9", "9:16", "1:1", "4:3", "3:4")


def _strs(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(first, last + 1))


def _schema(
    fields: Mapping[str, Field], required: tuple[str, ...] = ("prompt",)
) -> tuple[dict[str, Field], frozenset[str]]:
    return {"prompt": (str, None), **fields}, frozenset(required)


_KLING = {
    "duration": (str, _strs(3, 15)),
    "generate_audio": (bool, None),
    "negative_prompt": (str, None),
    "cfg_scale": (float, None),
}
_SEEDANCE = {
    "duration": (str, ("auto", *_strs(4, 15))),
    "resolution": (str, ("480p", "720p")),
    "aspect_ratio": (str, ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")),
    "seed": (int, None),
    "end_user_id": (str, None),
}
_HAPPY = {
    "duration": (int, tuple(range(3, 16))),
    "resolution": (str, ("720p", "1080p")),
    "aspect_ratio": (str, ASPECTS_5),
    "seed": (int, None),
    "enable_safety_checker": (bool, None),
}
_VEO = {
    "duration": (str, ("4s", "6s", "8s")),
    "resolution": (str, ("720p", "1080p", "4k")),
    "aspect_ratio": (str, ("16:9", "9:16")),
    "generate_audio": (bool, None),
    "negative_prompt": (str, None),
    "seed": (int, None),
    "auto_fix": (bool, None),
    "safety_tolerance": (str, _strs(1, 6)),
}
_WAN = {
    "duration": (int, tuple(range(2, 16))),
    "resolution": (str, ("720p", "1080p")),
    "aspect_ratio": (str, ASPECTS_5),
    "audio_url": (str, None),
    "enable_prompt_expansion": (bool, None),
}
_LTX = {
    "duration": (int, (6, 8, 10)),
    "resolution": (str, ("1080p", "1440p", "2160p")),
    "aspect_ratio": (str, ("16:9", "9:16")),
    "generate_audio": (bool, None),
    "fps": (int, (24, 25, 48, 50)),
}
_HAILUO = {"duration": (str, ("6", "10")), "prompt_optimizer": (bool, None)}
_HAILUO_PRO = {"prompt_optimizer": (bool, None)}
_OMNI = {"duration": (int, tuple(range(3, 11))), "aspect_ratio": (str, ("16:9", "9:16"))}
_IMAGE = {"image_url": (str, None)}
_END = {"end_image_url": (str, None)}
_I2V = ("prompt", "image_url")
_SEEDANCE_REFS = {
    **_SEEDANCE,
    "image_urls": (list, (9,)),
    "video_urls": (list, (3,)),
    "audio_urls": (list, (3,)),
}
_VEO_FRAMES = {
    **_VEO,
    "first_frame_url": (str, None),
    "last_frame_url": (str, None),
    "aspect_ratio": (str, ("auto", "16:9", "9:16")),
}

SCHEMAS: dict[str, tuple[dict[str, Field], frozenset[str]]] = {
    "fal-ai/kling-video/v3/pro/text-to-video": _schema(
        {**_KLING, "aspect_ratio": (str, ("16:9", "9:16", "1:1"))}
    ),
    "fal-ai/kling-video/v3/pro/image-to-video": _schema(
        {**_KLING, **_END, "start_image_url": (str, None)}, ("prompt", "start_image_url")
    ),
    "bytedance/seedance-2.0/text-to-video": _schema(_SEEDANCE),
    "bytedance/seedance-2.0/image-to-video": _schema({**_SEEDANCE, **_IMAGE}, _I2V),
    "bytedance/seedance-2.0/reference-to-video": _schema(_SEEDANCE_REFS),
    "bytedance/seedance-2.0/fast/text-to-video": _schema(_SEEDANCE),
    "bytedance/seedance-2.0/fast/image-to-video": _schema({**_SEEDANCE, **_IMAGE}, _I2V),
    "bytedance/seedance-2.0/fast/reference-to-video": _schema(_SEEDANCE_REFS),
    "alibaba/happy-horse/text-to-video": _schema(_HAPPY),
    "alibaba/happy-horse/image-to-video": _schema({**_HAPPY, **_IMAGE}, _I2V),
    "fal-ai/veo3.1": _schema(_VEO),
    "fal-ai/veo3.1/image-to-video": _schema(
        {**_VEO, **_IMAGE, "aspect_ratio": (str, ("auto", "16:9", "9:16"))}, _I2V
    ),
    "fal-ai/veo3.1/first-last-frame-to-video": _schema(
        _VEO_FRAMES, ("prompt", "first_frame_url", "last_frame_url")
    ),
    "fal-ai/veo3.1/reference-to-video": _schema(
        {**_VEO, "image_urls": (list, (3,))}, ("prompt", "image_urls")
    ),
    "fal-ai/veo3.1/fast": _schema(_VEO),
    "fal-ai/veo3.1/fast/extend-video": _schema(
        {
            "video_url": (str, None),
            "duration": (str, ("7s",)),
            "resolution": (str, ("720p",)),
            "aspect_ratio": (str, ("auto", "16:9", "9:16")),
            "generate_audio": (bool, None),
            "negative_prompt": (str, None),
            "seed": (int, None),
            "auto_fix": (bool, None),
        },
        ("prompt", "video_url"),
    ),
    "fal-ai/wan/v2.7/text-to-video": _schema(_WAN),
    "fal-ai/wan/v2.7/image-to-video": _schema({**_WAN, **_IMAGE, **_END}, _I2V),
    "fal-ai/ltx-2.3/text-to-video": _schema(_LTX),
    "fal-ai/ltx-2.3/image-to-video": _schema({**_LTX, **_IMAGE, **_END}, _I2V),
    "fal-ai/minimax/hailuo-2.3/standard/text-to-video": _schema(_HAILUO),
    "fal-ai/minimax/hailuo-2.3/standard/image-to-video": _schema({**_HAILUO, **_IMAGE}, _I2V),
    "fal-ai/minimax/hailuo-2.3/pro/text-to-video": _schema(_HAILUO_PRO),
    "fal-ai/minimax/hailuo-2.3/pro/image-to-video": _schema({**_HAILUO_PRO, **_IMAGE}, _I2V),
    "google/gemini-omni-flash": _schema(_OMNI),
    "google/gemini-omni-flash/image-to-video": _schema({**_OMNI, **_IMAGE}, _I2V),
    "google/gemini-omni-flash/reference-to-video": _schema(
        {**_OMNI, "image_urls": (list, (3,))}, ("prompt", "image_urls")
    ),
}


@dataclass
class FakeRequest:
    """A queued request the fake holds, on the fake's clock."""

    id: str
    endpoint: str
    arguments: dict[str, Any]
    created_at: float
    queue_seconds: float
    render_seconds: float
    cancelled: bool = False
    webhook: str | None = None
    """The `fal_webhook` URL the submit named, where fal POSTs once the request finishes."""
    delivered: bool = False
    moderation: str | None = None
    """`status` (COMPLETED carries the error) or `result` (only the result GET refuses)."""

    @property
    def app(self) -> str:
        return "/".join(self.endpoint.split("/")[:2])


@dataclass
class Fault:
    """A canned answer (or a raised exception) for the next calls of one kind."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raises: Exception | None = None
    after: bool = False
    """Handle the call, then raise `raises`: the answer is lost on the wire."""


def validation_error(loc: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", loc], "msg": msg, "type": kind}


class FakeFalQueue:
    """fal's queue and media hosts; the test moves `now`."""

    def __init__(
        self,
        video: bytes,
        *,
        key: str = "key-id:key-secret",
        queue_seconds: float = 5.0,
        render_seconds: float = 60.0,
        url_ttl: float = 3600.0,
        moderation: str = "status",
    ) -> None:
        self.video = video
        self.key = key
        self.now = 1_000_000.0
        self.speed = 0.0
        """Fake seconds per real second on top of `advance` (0: only `advance` moves time)."""
        self._started = time.monotonic()
        self.queue_seconds = queue_seconds
        self.render_seconds = render_seconds
        self.url_ttl = url_ttl
        self.moderation = moderation
        self.jobs: dict[str, FakeRequest] = {}
        self.seen: list[httpx.Request] = []
        self.faults: dict[str, deque[Fault]] = {}
        self.logs = True
        self.admin_keys: set[str] = set()
        """Keys that may read billing events (fal's admin keys)."""
        self.unit_price = 0.1
        """USD per second of video in the billing events."""
        self.webhook_attempts = 3
        self.webhook_retry_delay = 0.05
        """Real seconds between delivery attempts (fal spreads its 10 over two hours)."""
        self.webhook_log: list[tuple[str, int | str]] = []
        """Each delivery attempt: the request id and the HTTP status, or the error's name."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sender: threading.Thread | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def clock(self) -> float:
        return self.now + (time.monotonic() - self._started) * self.speed

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def close(self) -> None:
        """Stop the webhook sender."""
        self._stop.set()
        if self._sender is not None:
            self._sender.join(timeout=5)

    def fail(self, kind: str, fault: Fault, times: int = 1) -> None:
        """Answer the next `times` calls of `kind` (submit, status, result, cancel, media) so."""
        self.faults.setdefault(kind, deque()).extend([fault] * times)

    def calls(self, kind: str) -> list[httpx.Request]:
        return [r for r in self.seen if _kind(r) == kind]

    # -- routing ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        kind = _kind(request)
        queue = self.faults.get(kind)
        if queue:
            fault = queue.popleft()
            if fault.after and fault.raises is not None:
                self._route(kind, request)
                raise fault.raises
            if fault.raises is not None:
                raise fault.raises
            return _json(fault.status, fault.body, fault.headers)
        return self._route(kind, request)

    def _route(self, kind: str, request: httpx.Request) -> httpx.Response:
        if kind == "media":
            return self._media(request)
        if request.headers.get("authorization") != f"Key {self.key}":
            return _json(401, {"detail": "Invalid Key"})
        path = request.url.path.strip("/")
        if kind == "platform":
            return self._platform(path, request)
        if kind == "submit":
            return self._submit(path, request)
        parts = path.split("/")
        job = self.jobs.get(parts[3]) if len(parts) >= 4 else None
        if job is None or job.app != "/".join(parts[:2]):
            return _json(404, {"detail": f"Request {parts[3] if len(parts) > 3 else ''} not found"})
        if kind == "status":
            return self._status(job, request)
        if kind == "cancel":
            return self._cancel(job)
        return self._result(job)

    def _submit(self, endpoint: str, request: httpx.Request) -> httpx.Response:
        schema = SCHEMAS.get(endpoint)
        if schema is None:
            return _json(404, {"detail": f"Application '{endpoint}' not found"})
        try:
            arguments = json.loads(request.content)
        except ValueError:
            return _json(422, {"detail": [validation_error("", "invalid JSON", "json_invalid")]})
        errors = check(arguments, schema)
        if errors:
            return _json(422, {"detail": errors})
        rid = str(uuid.uuid4())
        job = FakeRequest(
            rid, endpoint, arguments, self.clock(), self.queue_seconds, self.render_seconds
        )
        if MODERATION_WORD in arguments["prompt"]:
            job.moderation = self.moderation
        job.webhook = request.url.params.get("fal_webhook")
        self.jobs[rid] = job
        if job.webhook is not None:
            self._start_sender()
        return _json(200, {**self._urls(job), "status": "IN_QUEUE", "queue_position": 0})

    def _urls(self, job: FakeRequest) -> dict[str, str]:
        base = f"{QUEUE}{job.app}/requests/{job.id}"
        return {
            "request_id": job.id,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
        }

    def state(self, job: FakeRequest) -> str:
        elapsed = self.clock() - job.created_at
        if job.cancelled or elapsed >= job.queue_seconds + job.render_seconds:
            return "COMPLETED"
        return "IN_QUEUE" if elapsed < job.queue_seconds else "IN_PROGRESS"

    def _status(self, job: FakeRequest, request: httpx.Request) -> httpx.Response:
        state = self.state(job)
        with_logs = request.url.params.get("logs") in ("true", "True", "1")
        body: dict[str, Any] = {**self._urls(job), "status": state, "logs": None}
        if state == "IN_QUEUE":
            body["queue_position"] = 1
        elif state == "IN_PROGRESS" and with_logs:
            share = (self.clock() - job.created_at - job.queue_seconds) / job.render_seconds
            step = int(share * 50)
            entry = {"message": f"step {step}/50", "level": "INFO", "source": "user"}
            body["logs"] = [entry] if self.logs else []
        elif state == "COMPLETED":
            body["logs"] = [] if with_logs else None
            body["metrics"] = {"inference_time": job.render_seconds}
            if job.cancelled:
                body["error"] = "Request was cancelled"
                body["error_type"] = "request_cancelled"
            elif job.moderation == "status":
                body["error"] = "The prompt was flagged by the content checker"
                body["error_type"] = "content_policy_violation"
        return _json(200, body)

    def _result(self, job: FakeRequest) -> httpx.Response:
        if self.state(job) != "COMPLETED":
            return _json(400, {"detail": "Request is still in progress"})
        if job.moderation is not None:
            detail = validation_error(
                "prompt", "The content could not be processed", "content_policy_violation"
            )
            return _json(
                422, {"detail": [detail]}, {"x-fal-error-type": "content_policy_violation"}
            )
        if job.cancelled:
            return _json(400, {"detail": "Request was cancelled"})
        done = job.created_at + job.queue_seconds + job.render_seconds
        url = f"{MEDIA}{job.id}/output.mp4?expires={done + self.url_ttl:.0f}"
        video = {
            "url": url,
            "content_type": "video/mp4",
            "file_name": "output.mp4",
            "file_size": len(self.video),
        }
        return _json(200, {"video": video, "seed": 42})

    # -- the Platform API --------------------------------------------------------------------

    def _platform(self, path: str, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start = _unix(params.get("start")) or self.clock() - 86400
        if path == "v1/models/requests/by-endpoint":
            return self._listing(params, start)
        if path == "v1/models/billing-events":
            if request.headers["authorization"] not in {f"Key {k}" for k in self.admin_keys}:
                return _json(403, {"detail": "Admin API key required"})
            return self._billing(params, start)
        return _json(404, {"detail": "Not Found"})

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
        return _json(200, {"items": items, "next_cursor": None, "has_more": False})

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
        return _json(200, {"billing_events": events, "next_cursor": None, "has_more": False})

    # -- webhooks --------------------------------------------------------------------------

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

    def _cancel(self, job: FakeRequest) -> httpx.Response:
        if self.state(job) == "COMPLETED":
            return _json(400, {"detail": "Request already completed"})
        job.cancelled = True
        return _json(202, {"status": "CANCELLATION_REQUESTED"})

    def _media(self, request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers:
            return _json(400, {"detail": "media URLs take no credential"})
        expires = float(request.url.params.get("expires", "0"))
        rid = request.url.path.split("/")[2]
        if rid not in self.jobs or self.clock() > expires:
            return httpx.Response(404, text="Not Found")
        headers = {"content-type": "video/mp4", "content-length": str(len(self.video))}
        return httpx.Response(200, content=self.video, headers=headers)


def check(arguments: Any, schema: tuple[dict[str, Field], frozenset[str]]) -> list[dict[str, Any]]:
    """The pydantic-style errors of a body against one schema; empty when it passes."""
    fields, required = schema
    if not isinstance(arguments, dict):
        return [validation_error("", "Input should be an object", "dict_type")]
    errors = [
        validation_error(name, "Field required", "missing")
        for name in sorted(required)
        if name not in arguments
    ]
    for name, value in arguments.items():
        spec = fields.get(name)
        if spec is None:
            errors.append(
                validation_error(name, "Extra inputs are not permitted", "extra_forbidden")
            )
            continue
        kind, allowed = spec
        if type(value) is not kind and not (kind is float and type(value) is int):
            errors.append(
                validation_error(
                    name, f"Input should be a valid {kind.__name__}", f"{kind.__name__}_type"
                )
            )
        elif kind is list:
            errors.extend(_list_errors(name, value, allowed))
        elif allowed is not None and value not in allowed:
            options = ", ".join(repr(a) for a in allowed)
            errors.append(validation_error(name, f"Input should be {options}", "literal_error"))
    return errors


def _list_errors(name: str, value: list[Any], allowed: tuple[Any, ...] | None) -> list[Any]:
    """A list of URLs (or data URIs) no longer than its cap."""
    errors = []
    if allowed is not None and len(value) > allowed[0]:
        errors.append(
            validation_error(name, f"List should have at most {allowed[0]} items", "too_long")
        )
    if not all(isinstance(v, str) and v.startswith(("http", "data:")) for v in value):
        errors.append(validation_error(name, "Input should be a valid URL", "url_type"))
    return errors


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def _unix(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _kind(request: httpx.Request) -> str:
    if request.url.host == "media.fal.test":
        return "media"
    if request.url.host in ("api.fal.test", "api.fal.ai"):  # a provider left on the default
        return "platform"
    path = request.url.path.strip("/")
    if request.method == "POST":
        return "submit"
    if request.method == "PUT" and path.endswith("/cancel"):
        return "cancel"
    if path.endswith("/status"):
        return "status"
    return "result"


def _message(body: Any, job: FakeRequest) -> str:
    if job.cancelled:
        return "Request was cancelled"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg"))
    return str(detail)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


# -- helpers for the tests ------------------------------------------------------------------


def rendered_mp4(directory: Path) -> bytes:
    """A one-second 64x36 MP4 rendered by the simulator."""
    render([Segment("a fal render", 1.0, seed=7)], 64, 36, *(directory / n for n in NAMES), fps=12)
    return (directory / NAMES[0]).read_bytes()


def generate(model: str = "kling-video/v3/pro", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "generate",
        "model": model,
        "prompt": "a calico cat playing a piano",
        "seconds": 5,
        "size": "1920x1080",
        "idempotency_key": "key-1",
    }
    fields.update(overrides)
    return SubmitRequest(**fields)  # type: ignore[arg-type]


def sent(fake: FakeFalQueue) -> tuple[str, dict[str, object]]:
    request = fake.calls("submit")[-1]
    return request.url.path.strip("/"), json.loads(request.content)


async def body_of(provider: Provider, remote_id: str) -> bytes:
    async with provider.download(remote_id) as stream:
        assert stream.media_type == "video/mp4"
        return b"".join([chunk async for chunk in stream.chunks])


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A loopback server that reads a request and never answers; yields its base URL."""
    release, finished = asyncio.Event(), asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await release.wait()
        writer.close()
        await writer.wait_closed()
        finished.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        release.set()
        await asyncio.wait_for(finished.wait(), 5)
        server.close()
        await server.wait_closed()


def make(fake: FakeFalQueue, key: str | None = None) -> FalProvider:
    """A provider that talks to `fake` on its clock."""
    return FalProvider(
        key=key or fake.key,
        queue_url=QUEUE,
        api_url=API,
        transport=fake.transport(),
        clock=fake.clock,
    )


class QuickFal(FalProvider):
    """The provider with a sub-second expected render, so the engine polls quickly."""

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        return 0.3

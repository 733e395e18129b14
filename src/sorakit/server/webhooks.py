"""Signed `video.completed` / `video.failed` webhooks (Standard Webhooks, as OpenAI signed them).

Signature: base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")) in `webhook-signature: v1,<sig>`,
where the key is the base64-decoded part after `whsec_`, or the raw secret otherwise (what the
`openai` SDK's `webhooks.verify_signature` accepts). Deliveries run in the background, never hold
a job up, and are retried with backoff on 5xx, 429 and connection errors.

Two senders: `WebhookSender` posts every job's event to the operator's `SORAKIT_WEBHOOK_URL`
(operator-configured, so loopback and private hosts are fine, but a cloud metadata endpoint is
refused at start-up and, by DNS, at every attempt), and `TenantWebhooks` posts each job's event to the
webhook of the API key that owns it. A tenant's URL is user input: it is checked by the SSRF guard
when it is set and again at every attempt (DNS may have changed since), the connection goes to
the checked address, redirects are not followed and each attempt is capped in time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import httpx

from sorakit.errors import ConfigurationError, InvalidRequestError
from sorakit.ledger import JobRecord, JobStatus, Ledger
from sorakit.security.secretbox import KEY_HINT, SecretBox
from sorakit.security.ssrf import (
    PUBLIC_ONLY,
    Policy,
    Resolver,
    check_trusted_url,
    check_url,
    pinned_request,
    refuse_metadata,
    resolve_checked,
)
from sorakit.settings import Settings
from sorakit.wire.videos import WebhookEvent, WebhookEventData

logger = logging.getLogger(__name__)

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
"""POSTs a body to a URL and returns the answer's status code."""

PRIVATE_TARGETS = Policy(
    allow=tuple(
        ipaddress.ip_network(net)
        for net in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    )
    + (ipaddress.ip_network("fc00::/7"),)
)
"""Loopback and private networks (never metadata): for `webhook_allow_private`, tests and dev."""


def signing_key(secret: str) -> bytes:
    """The HMAC key for a `whsec_...` (base64) or raw secret."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for a body."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def new_signing_secret() -> str:
    """A fresh `whsec_` secret (32 random bytes), as Standard Webhooks and OpenAI make them."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_operator_webhook(settings: Settings) -> None:
    """Refuse at start-up an operator webhook that is unsigned or aimed at cloud metadata."""
    if not settings.webhook_url:
        return
    if settings.webhook_secret is None:
        raise ConfigurationError(
            "SORAKIT_WEBHOOK_URL is set but SORAKIT_WEBHOOK_SECRET is not; "
            "webhooks are always signed"
        )
    try:
        check_trusted_url(settings.webhook_url, param="webhook_url")
    except InvalidRequestError as exc:
        raise ConfigurationError(f"SORAKIT_WEBHOOK_URL is refused: {exc.message}") from None


def tenant_policy(settings: Settings) -> Policy:
    """Which targets a tenant's webhook may reach: public addresses only, unless the operator
    turned `webhook_allow_private` on (loopback and private networks, for tests and dev)."""
    # getattr: the field is declared in settings.py by the lead (see the issue 6 report).
    return PRIVATE_TARGETS if settings.webhook_allow_private else PUBLIC_ONLY


async def tenant_webhook(
    settings: Settings, url: str, *, resolver: Resolver | None = None
) -> tuple[str, str]:
    """Check a tenant's webhook URL and make its signing secret: (secret, sealed secret)."""
    if settings.secret_key is None:
        raise ConfigurationError(
            "a key's webhook needs SORAKIT_SECRET_KEY: its signing secret is kept sealed in "
            f"the ledger; {KEY_HINT}"
        )
    policy = tenant_policy(settings)
    target = check_url(url, policy=policy, param="webhook_url")
    await resolve_checked(target.host, resolver=resolver, policy=policy, param="webhook_url")
    secret = new_signing_secret()
    return secret, SecretBox(settings.secret_key.get_secret_value()).seal(secret)


def event_for(job: JobRecord) -> WebhookEvent | None:
    """The event a finished job sends, or None when it sends none (not finished, cancelled, an
    image: the Images API answers with its images and has no events)."""
    if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) or job.kind == "image":
        return None
    return WebhookEvent(
        id=f"evt_{uuid.uuid4().hex}",
        created_at=int(time.time()),
        type="video.completed" if job.status is JobStatus.COMPLETED else "video.failed",
        data=WebhookEventData(id=job.id),
    )


class _Deliveries:
    """Background deliveries with retries and backoff, shared by both senders."""

    def __init__(self, *, attempts: int, base_delay: float) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, post: Post, url: str, secret: str, event: WebhookEvent) -> bool:
        """POST one event until it is accepted; 4xx other than 429 and refusals end it."""
        body = event.model_dump_json().encode()
        for attempt in range(self.attempts):
            headers = sign(secret, event.id, int(time.time()), body)
            headers["content-type"] = "application/json"
            try:
                status = await post(url, body, headers)
                if 200 <= status < 300:
                    return True
                logger.warning("webhook %s answered %s", event.type, status)
                if status < 500 and status != 429:
                    break  # the receiver refuses it: sending it again will not help
            except httpx.HTTPError as exc:
                logger.warning("webhook %s failed: %s", event.type, type(exc).__name__)
            except InvalidRequestError as exc:  # the SSRF guard: logged without the URL
                logger.warning("webhook %s not sent: %s", event.type, exc.message)
                if exc.code == "ssrf_blocked":
                    break
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.base_delay * 2**attempt)
        logger.error("webhook %s for %s was not delivered", event.type, event.data.id)
        return False

    async def aclose(self) -> None:
        """Let deliveries under way finish briefly, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        for task in self._tasks:
            task.cancel()


class WebhookSender(_Deliveries):
    """Posts an event for every job that completes or fails to the operator's URL."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 6,
        base_delay: float = 1.0,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(attempts=attempts, base_delay=base_delay)
        self._resolver = resolver
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=10.0, transport=transport)

    async def __call__(self, job: JobRecord) -> None:
        """Engine listener: schedule delivery without holding the job up."""
        event = event_for(job)
        if event is not None:
            self._spawn(self.deliver(event))

    async def deliver(self, event: WebhookEvent) -> bool:
        """POST one event, retrying failures with exponential backoff; True once accepted."""
        return await self._send(self._post, self.url, self.secret, event)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        # The operator's URL may be private or loopback, but never a metadata endpoint (by DNS).
        await refuse_metadata(url, resolver=self._resolver, param="webhook_url")
        return (await self._client.post(url, content=body, headers=headers)).status_code

    async def aclose(self) -> None:
        await super().aclose()
        await self._client.aclose()


class TenantWebhooks(_Deliveries):
    """Posts each finished job's event to its owner key's webhook, through the SSRF guard."""

    def __init__(
        self,
        ledger: Ledger,
        settings: Settings,
        *,
        attempts: int = 6,
        base_delay: float = 1.0,
        timeout: float = 10.0,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(attempts=attempts, base_delay=base_delay)
        self.ledger = ledger
        self.settings = settings
        self.timeout = timeout
        self._resolver = resolver
        self._transport = transport

    async def __call__(self, job: JobRecord) -> None:
        """Engine listener: schedule delivery without holding the job up."""
        if job.owner is not None and (event := event_for(job)) is not None:
            self._spawn(self.deliver(job.owner, event))

    async def deliver(self, key_id: str, event: WebhookEvent) -> bool:
        """Send `event` to the webhook of key `key_id`; False when it has none or it failed."""
        key = await self.ledger.get_key(key_id)
        if key is None or not key.active or not key.webhook_url or not key.webhook_secret:
            return False
        if self.settings.secret_key is None:
            logger.error("key %s has a webhook but SORAKIT_SECRET_KEY is not set", key_id)
            return False
        try:
            secret = SecretBox(self.settings.secret_key.get_secret_value()).open(key.webhook_secret)
        except ConfigurationError as exc:
            logger.error("key %s: its webhook secret cannot be opened: %s", key_id, exc)
            return False
        return await self._send(self.post, key.webhook_url, secret, event)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST through the guard: checked, resolved and checked again, pinned, not redirected."""
        policy = tenant_policy(self.settings)
        try:
            with anyio.fail_after(self.timeout):
                target = check_url(url, policy=policy, param="webhook_url")
                addresses = await resolve_checked(
                    target.host, resolver=self._resolver, policy=policy, param="webhook_url"
                )
                request = pinned_request(
                    "POST",
                    target,
                    addresses[0],
                    timeout=self.timeout,
                    headers=headers,
                    content=body,
                )
                transport = self._transport or httpx.AsyncHTTPTransport(retries=0)
                try:
                    # The answer's body is never read: nothing in it matters, so no size to cap.
                    response = await transport.handle_async_request(request)
                    await response.aclose()
                finally:
                    if self._transport is None:
                        await transport.aclose()
        except TimeoutError:
            raise httpx.ReadTimeout("the webhook took too long", request=None) from None
        if 300 <= response.status_code < 400:
            logger.warning("webhook answered a redirect; redirects are not followed")
        return response.status_code

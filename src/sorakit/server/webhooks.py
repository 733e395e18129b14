"""Signed `video.completed` / `video.failed` webhooks (Standard Webhooks, as OpenAI signed them).

Signature: base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")) in `webhook-signature: v1,<sig>`,
where the key is the base64-decoded part after `whsec_`, or the raw secret otherwise (what the
`openai` SDK's `webhooks.verify_signature` accepts). Deliveries are retried with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
import uuid

import httpx

from sorakit.ledger import JobRecord, JobStatus
from sorakit.wire.videos import WebhookEvent, WebhookEventData

logger = logging.getLogger(__name__)


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


class WebhookSender:
    """Posts an event for every job that completes or fails."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 6,
        base_delay: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self.base_delay = base_delay
        self._client = httpx.AsyncClient(timeout=10.0, transport=transport)
        self._tasks: set[asyncio.Task[bool]] = set()

    async def __call__(self, job: JobRecord) -> None:
        """Engine listener: schedule delivery without holding the job up."""
        if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
            return
        kind = "video.completed" if job.status is JobStatus.COMPLETED else "video.failed"
        event = WebhookEvent(
            id=f"evt_{uuid.uuid4().hex}",
            created_at=int(time.time()),
            type=kind,
            data=WebhookEventData(id=job.id),
        )
        task = asyncio.create_task(self.deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, event: WebhookEvent) -> bool:
        """POST one event, retrying failures with exponential backoff; True once accepted."""
        body = event.model_dump_json().encode()
        for attempt in range(self.attempts):
            headers = sign(self.secret, event.id, int(time.time()), body)
            headers["content-type"] = "application/json"
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
                if response.is_success:
                    return True
                logger.warning("webhook %s answered %s", event.type, response.status_code)
            except httpx.HTTPError as exc:
                logger.warning("webhook %s failed: %s", event.type, type(exc).__name__)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.base_delay * 2**attempt)
        logger.error(
            "webhook %s for %s gave up after %d attempts", event.type, event.data.id, self.attempts
        )
        return False

    async def aclose(self) -> None:
        """Let deliveries under way finish briefly, then close."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        for task in self._tasks:
            task.cancel()
        await self._client.aclose()

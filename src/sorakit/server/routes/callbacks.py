"""Provider callbacks (fal's webhooks): a signed per-job URL that wakes the job's tracker.

The body is not trusted and barely read: the tracker asks the provider's status API what really
happened. The answer is quick and the same for every valid call, so a provider's redelivery of
the same event is harmless.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response

from sorakit.engine.callbacks import CALLBACK_PATH
from sorakit.errors import NotFoundError
from sorakit.server.deps import EngineDep, SupervisorDep
from sorakit.server.errors import ERROR_RESPONSES

logger = logging.getLogger(__name__)

router = APIRouter(tags=["callbacks"], responses=ERROR_RESPONSES)


@router.post(CALLBACK_PATH, status_code=204, summary="A provider's callback")
async def provider_callback(
    video_id: str,
    engine: EngineDep,
    supervisor: SupervisorDep,
    token: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """A provider says the job finished: check it now instead of at the next scheduled poll."""
    # A token is hex: any other is refused before `compare_digest`, which raises on non-ASCII.
    if (
        engine.callbacks is None
        or not token.isascii()
        or not engine.callbacks.verify(video_id, token)
    ):
        # The same answer as for an unknown job: a wrong token reveals nothing.
        raise NotFoundError(f"No callback for {video_id!r}.", param="video_id")
    if not engine.runner.wake(video_id):
        await engine.get(video_id)  # a deleted job: 404
        supervisor.watch(video_id)  # nobody is tracking it here (a restart): start now
    logger.info("callback for %s", video_id)
    return Response(status_code=204)

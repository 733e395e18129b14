"""Ledger records as Videos API objects."""

from __future__ import annotations

from collections import OrderedDict

from sorakit.engine.polling import PollSchedule
from sorakit.ledger import JobRecord, JobStatus
from sorakit.wire.videos import Video, VideoCreateError

_PUBLIC_STATUS = {
    JobStatus.PENDING: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.IN_PROGRESS: "in_progress",
    JobStatus.FETCHING: "in_progress",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}


def video_view(job: JobRecord) -> Video:
    """A job as the `Video` object an old Sora client expects."""
    status = _PUBLIC_STATUS[job.status]
    error = None
    if job.status is JobStatus.FAILED:
        error = VideoCreateError(
            code=job.error_code or "failed", message=job.error_message or "The job failed."
        )
    elif job.status is JobStatus.CANCELLED:
        error = VideoCreateError(code="cancelled", message="The job was cancelled.")
    progress = job.progress
    if job.status is JobStatus.FETCHING:
        progress = 99  # rendered upstream, still being archived here
    elif job.status is JobStatus.COMPLETED:
        progress = 100
    return Video(
        id=job.id,
        model=job.model,
        status=status,
        progress=progress,
        created_at=int(job.created_at),
        completed_at=int(job.completed_at) if job.completed_at else None,
        expires_at=None,
        prompt=job.prompt,
        size=job.size,
        seconds=job.total_seconds,
        remixed_from_video_id=job.source_id if job.kind == "remix" else None,
        error=error,
    )


class RenderedViews:
    """JSON bodies of finished videos, which never change: polling a done job costs no encoding."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._bodies: OrderedDict[tuple[str, float], bytes] = OrderedDict()

    def body(self, job: JobRecord) -> bytes:
        """The `Video` JSON of a job, from the cache when the job is finished."""
        if not job.status.finished:
            return video_view(job).model_dump_json().encode()
        key = (job.id, job.updated_at)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = video_view(job).model_dump_json().encode()
            if len(self._bodies) > self.size:
                self._bodies.popitem(last=False)
        return body


def poll_after_ms(job: JobRecord) -> int:
    """The `openai-poll-after-ms` hint: the interval at which a fixed-rate poller is timely."""
    expected = job.expected_render_seconds or 60.0
    tolerance = PollSchedule(expected_seconds=expected, started_at=job.created_at).tolerance
    return max(100, int(tolerance * 1000))

"""A job's details as the Library shows them: the prompt before and after, timings, cost, files."""

from __future__ import annotations

from dataclasses import dataclass

from sorakit.ledger import AssetRecord, EventRecord, JobRecord, JobStatus
from sorakit.studio.library_query import cost_text, utc_text

SHOWN_VARIANTS = {
    "video": "/jobs/{id}/content?download=1",
    "thumbnail": "/library/{id}/thumbnail",
    "spritesheet": "/library/{id}/spritesheet",
}
"""The files a person can open from the page; the others are listed with their checksums."""


@dataclass(frozen=True)
class FileRow:
    """One archived file: what it is, how big, its sha256, where to open it."""

    variant: str
    media_type: str
    size: str
    sha256: str
    url: str | None


@dataclass(frozen=True)
class EventRow:
    """A status change, at its time."""

    at: str
    status: str
    progress: str
    detail: str


@dataclass(frozen=True)
class Details:
    """Everything the details page says of a job."""

    job: JobRecord
    original_prompt: str | None
    """The prompt as the person wrote it, when a chat model rewrote it."""
    enhancement: str
    changes: list[str]
    timings: list[tuple[str, str]]
    estimated_cost: str
    charged_cost: str
    files: list[FileRow]
    events: list[EventRow]
    playable: bool


def size_text(size: int) -> str:
    """Bytes as people read them (1 kB is 1,000 bytes, as file managers say)."""
    amount = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{size:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def _seconds(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return ""
    return f"{end - start:.1f} s"


def _timings(job: JobRecord) -> list[tuple[str, str]]:
    rows = [("Created", utc_text(job.created_at))]
    if job.submitted_at is not None:
        rows.append(("Submitted", utc_text(job.submitted_at)))
    if job.completed_at is not None:
        rows.append(("Finished", utc_text(job.completed_at)))
    if render := _seconds(job.submitted_at, job.completed_at):
        rows.append(("Render time (submitted to archived)", render))
    if total := _seconds(job.created_at, job.completed_at):
        rows.append(("Total time", total))
    if job.expected_render_seconds:
        rows.append(("Expected render time", f"{job.expected_render_seconds:.1f} s"))
    return rows


def _enhancement(job: JobRecord) -> tuple[str | None, str]:
    enhanced = job.options.get("enhanced")
    if not isinstance(enhanced, dict):
        return None, ""
    original = enhanced.get("original")
    words = f"Rewritten in the {enhanced.get('style') or 'chosen'} style"
    if enhanced.get("model"):
        words += f" by {enhanced['model']}"
    if enhanced.get("note"):
        words = f"Not rewritten: {enhanced['note']}"
    return (str(original) if original and original != job.prompt else None), words


def _file_order(item: tuple[str, AssetRecord]) -> tuple[int, str]:
    """The video, its thumbnail and spritesheet first, then inputs by name."""
    order = list(SHOWN_VARIANTS)
    return (order.index(item[0]) if item[0] in order else len(order), item[0])


def details_of(job: JobRecord, events: list[EventRecord]) -> Details:
    """The details page's view of a job and its status changes."""
    original, enhancement = _enhancement(job)
    files = [
        FileRow(
            variant,
            asset.media_type,
            size_text(asset.size),
            asset.sha256,
            SHOWN_VARIANTS[variant].format(id=job.id)
            if variant in SHOWN_VARIANTS and job.status is JobStatus.COMPLETED
            else None,
        )
        for variant, asset in sorted(job.assets.items(), key=_file_order)
    ]
    return Details(
        job=job,
        original_prompt=original,
        enhancement=enhancement,
        changes=[str(change) for change in job.options.get("changes") or []],
        timings=_timings(job),
        estimated_cost=f"${job.estimated_cost:.2f}" if job.estimated_cost is not None else "none",
        charged_cost=cost_text(job) if job.cost is not None else "not reported",
        files=files,
        events=[
            EventRow(
                utc_text(event.at),
                event.status,
                "" if event.progress is None else f"{event.progress} %",
                event.detail or "",
            )
            for event in events
        ],
        playable=job.status is JobStatus.COMPLETED and "video" in job.assets,
    )

"""A pipeline's page: its steps filling in as they render, then its result.

Every pipeline page (Multiple, Remix chain, Long video, Batch) records its pipeline with the
engine's pipelines and hands it to `started`, which has the server run it (`PipelineRenders`, at
`app.state.pipelines`) and sends the browser here. The page reads the pipeline and its jobs from
the ledger: the steps table fills in by server-sent events, then the output plays (or the contact
sheet, or the batch's report, is there to take). A failed pipeline says why and offers a resume:
the same run again, which reuses every finished step and pays only for what is missing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import FileResponse, RedirectResponse, Response

from sorakit.errors import InvalidRequestError, NotFoundError, SorakitError
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord, PipelineStatus
from sorakit.pipelines.steps import owner_fields
from sorakit.studio.budget import owner_for
from sorakit.studio.events import DONE, event_stream, fragment
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

STALLED_SECONDS = 120.0
"""A pipeline marked running that no process here runs, with no job in flight and nothing
changed for this long, was left by a stopped server: its page offers the resume."""
KINDS = {
    "long": ("Long video", "/long"),
    "storyboard": ("Storyboard", "/long/storyboard"),
    "remix_chain": ("Remix chain", "/remix-chain"),
    "variations": ("Multiple", "/multiple"),
    "batch": ("Batch", "/batch"),
}
"""A pipeline kind's name for people, and the page that starts one."""
MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".json": "application/json",
    ".csv": "text/csv",
}
"""The files of a pipeline's folder its page serves (its output, a batch's reports)."""
_ATTEMPT = re.compile(r"(?:-described)?(?:#\d+)?$")


def renders_of(studio: Studio) -> PipelineRenders:
    """The server's pipeline runs (made by the app's lifespan, which stops them at shutdown)."""
    renders: PipelineRenders = studio.request.app.state.pipelines
    return renders


def started(studio: Studio, pipeline: PipelineRecord) -> Response:
    """Run a just-recorded pipeline on the server, and send the browser to its page
    (303 for a plain form post; `HX-Redirect` for htmx)."""
    renders_of(studio).start(pipeline.id)
    url = f"/runs/{pipeline.id}"
    if studio.is_htmx:
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# what the page shows


@dataclass(frozen=True)
class StepRow:
    """One line of the steps table: a job of the pipeline, or a planned step not made yet."""

    name: str
    job: JobRecord | None = None

    @property
    def status(self) -> str:
        return "waiting" if self.job is None else self.job.status.value

    @property
    def percent(self) -> int:
        if self.job is None:
            return 0
        return 100 if self.job.status is JobStatus.COMPLETED else self.job.progress

    @property
    def cost(self) -> str:
        job = self.job
        if job is None or (job.cost is None and job.estimated_cost is None):
            return ""
        if job.cost is not None:
            return f"${job.cost:.2f}"
        return f"≈ ${job.estimated_cost:.2f}"


@dataclass(frozen=True)
class RunView:
    """A pipeline as its page shows it."""

    pipeline: PipelineRecord
    kind: str
    back: str
    steps: list[StepRow]
    running: bool
    """Running here, or marked running by the process that runs it."""
    stalled: bool
    percent: int
    done_steps: int
    planned_steps: int
    plan: list[tuple[str, str]]
    notes: list[str]
    error: str | None
    spent: str
    output: str | None
    """`video`, `image` or `report`: what `/runs/{id}/content` serves, if anything."""
    takes: list[JobRecord] = field(default_factory=list)
    """A variations pipeline's finished takes, each playing from its own job."""
    reports: list[str] = field(default_factory=list)

    @property
    def resumable(self) -> bool:
        failed = self.pipeline.status in (PipelineStatus.FAILED, PipelineStatus.CANCELLED)
        return not self.running and (failed or self.stalled)

    @property
    def status(self) -> str:
        if self.stalled:
            return "stopped"
        return "running" if self.running else self.pipeline.status.value


def _planned(pipeline: PipelineRecord) -> tuple[list[str], list[tuple[str, str]]]:
    """The steps a pipeline plans (by name) and its plan as lines of (label, text)."""
    spec, asked = pipeline.spec, pipeline.spec.get("request", {})
    kind = pipeline.kind
    if kind == "long":
        segments = spec.get("plan", {}).get("segments", [])
        lines = [(f"{s['seconds']} s", s["prompt"]) for s in segments]
        return [f"segment-{i}" for i in range(1, len(segments) + 1)], lines
    if kind == "storyboard":
        shots = spec.get("shots", [])
        lines = [(f"{s['trim_to']:g} s", s["prompt"]) for s in shots]
        return [f"shot-{i}" for i in range(1, len(shots) + 1)], lines
    if kind == "remix_chain":
        remixes = list(asked.get("steps", []))
        base = "prompt" in spec  # a chain from a video of the ledger has no base step
        names = (["base"] if base else []) + [f"remix-{i}" for i in range(1, len(remixes) + 1)]
        first = ("base", spec["prompt"] if base else f"video {asked.get('base', '')}")
        return names, [first] + [(f"remix {i}", t) for i, t in enumerate(remixes, 1)]
    if kind == "variations":
        count = int(asked.get("count", 0))
        lines = [(f"{count} takes", str(spec.get("prompt", "")))]
        return [f"take-{i}" for i in range(1, count + 1)], lines
    if kind == "batch":
        rows = spec.get("rows", [])
        names = [
            f"row-{r['row']}" + (f"-v{take}" if take > 1 else "")
            for r in rows
            for take in range(1, int(r.get("n", 1)) + 1)
        ]
        lines = [
            (f"row {r['row']}" + (f" × {r['n']}" if r.get("n", 1) > 1 else ""), r["prompt"])
            for r in rows
        ]
        return names, lines
    return [], []


def _rows(planned: list[str], jobs: list[JobRecord]) -> list[StepRow]:
    """Every job under its planned step (retries after the first try), then waiting steps."""
    made: dict[str, list[JobRecord]] = {}
    for job in jobs:  # oldest first
        made.setdefault(_ATTEMPT.sub("", job.pipeline_step or ""), []).append(job)
    rows: list[StepRow] = []
    for name in planned:
        tries = made.pop(name, [])
        rows += [StepRow(job.pipeline_step or name, job) for job in tries] or [StepRow(name)]
    for tries in made.values():  # a step no plan names (kept, not hidden)
        rows += [StepRow(job.pipeline_step or "", job) for job in tries]
    return rows


def _latest(rows: list[StepRow], planned: list[str]) -> dict[str, StepRow]:
    latest: dict[str, StepRow] = {}
    for row in rows:
        base = _ATTEMPT.sub("", row.name)
        if base in planned:
            latest[base] = row
    return latest


def _inside(pipeline: PipelineRecord, output: str | None) -> Path | None:
    """The pipeline's file `output` where it is one the page serves: in the pipeline's own
    folder, of a served type (nothing else on the server is reachable)."""
    folder = pipeline.spec.get("folder")
    if not output or not folder:
        return None
    path, root = Path(output).resolve(), Path(folder).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() not in MEDIA_TYPES:
        return None
    return path if path.is_file() else None


async def view_of(studio: Studio, pipeline: PipelineRecord) -> RunView:
    """Everything the page shows of a pipeline, read from the ledger now."""
    engine, renders = studio.engine, renders_of(studio)
    jobs = await engine.ledger.pipeline_jobs(pipeline.id)
    planned, plan = _planned(pipeline)
    rows = _rows(planned, jobs)
    latest = _latest(rows, planned)
    here = renders.running(pipeline.id)
    marked = pipeline.status is PipelineStatus.RUNNING
    newest = max([pipeline.updated_at, *(job.updated_at or 0 for job in jobs)])
    stalled = (
        marked
        and not here
        and all(job.status.finished for job in jobs)
        and time.time() - newest > STALLED_SECONDS
    )
    running = here or (marked and not stalled)
    done = sum(1 for row in latest.values() if row.status == JobStatus.COMPLETED.value)
    percent = round(sum(row.percent for row in latest.values()) / len(planned)) if planned else 0
    notes = list(pipeline.spec.get("notes", []))
    notes += [n for n in pipeline.spec.get("plan", {}).get("notes", []) if n not in notes]
    notes += [n for n in pipeline.state.get("notes", []) if n not in notes]
    kept = renders.error(pipeline.id)
    error = None
    if not running and pipeline.status is not PipelineStatus.COMPLETED:
        error = pipeline.error_message or (kept.message if kept else None)
        if stalled:
            error = "It stopped before it finished (the server was restarted)."
    spend = await engine.ledger.spend(pipeline.id)
    output, takes, reports = None, [], []
    if not running:
        path = _inside(pipeline, pipeline.output)
        if path is not None:
            output = {".mp4": "video", ".png": "image"}.get(path.suffix.lower(), "report")
        if pipeline.kind == "variations":
            takes = [
                r.job for r in latest.values() if r.job and r.job.status is JobStatus.COMPLETED
            ]
        if pipeline.kind == "batch":
            folder = Path(pipeline.spec.get("folder", ""))
            reports = [n for n in ("report.csv", "report.json") if (folder / n).is_file()]
    name, back = KINDS.get(pipeline.kind, (pipeline.kind, "/"))
    return RunView(
        pipeline=pipeline,
        kind=name,
        back=back,
        steps=rows,
        running=running,
        stalled=stalled,
        percent=percent,
        done_steps=done,
        planned_steps=len(planned),
        plan=plan,
        notes=notes,
        error=error,
        spent=f"${spend.total:.2f}",
        output=output,
        takes=takes,
        reports=reports,
    )


async def own_pipeline(studio: Studio, pipeline_id: str) -> PipelineRecord:
    """A pipeline the caller may see; another tenant's is not found, like a missing one."""
    try:
        pipeline = await studio.engine.ledger.get_pipeline(pipeline_id)
    except NotFoundError:
        pipeline = None
    principal = studio.principal
    if pipeline is None or principal is None or not principal.may_see(pipeline.owner):
        raise NotFoundError(f"No pipeline found with id '{pipeline_id}'.", param="pipeline_id")
    return pipeline


# routes


@router.get("/runs/{pipeline_id}")
async def run_page(pipeline_id: str, studio: StudioDep) -> Response:
    """A pipeline's page: its plan and steps, live while it runs, then its result."""
    pipeline = await studio.owned(own_pipeline, pipeline_id)
    if isinstance(pipeline, Response):
        return pipeline
    return studio.render("run.html", view=await view_of(studio, pipeline))


@router.get("/runs/{pipeline_id}/events")
async def run_events(pipeline_id: str, studio: StudioDep) -> Response:
    """`steps` events while the pipeline runs (only when something changed), then `done`."""
    pipeline = await studio.owned(own_pipeline, pipeline_id)
    if isinstance(pipeline, Response):
        return pipeline
    form = {"csrf_field": CSRF_FIELD, "csrf_token": studio.csrf_token()}

    async def panel() -> tuple[str, str]:
        view = await view_of(studio, await studio.engine.ledger.get_pipeline(pipeline.id))
        return "steps" if view.running else DONE, fragment("_run_live.html", view=view, **form)

    return event_stream(panel)


@router.get("/runs/{pipeline_id}/content")
async def run_content(pipeline_id: str, studio: StudioDep, download: bool = False) -> Response:
    """The pipeline's output (its video, contact sheet or report), for its owner; byte ranges
    work, for seeking."""
    pipeline = await studio.owned(own_pipeline, pipeline_id)
    if isinstance(pipeline, Response):
        return pipeline
    return _file(studio, pipeline, pipeline.output, download)


@router.get("/runs/{pipeline_id}/files/{name}")
async def run_file(pipeline_id: str, name: str, studio: StudioDep) -> Response:
    """A batch's report (`report.csv`, `report.json`), as a download, for its owner."""
    pipeline = await studio.owned(own_pipeline, pipeline_id)
    if isinstance(pipeline, Response):
        return pipeline
    folder = pipeline.spec.get("folder")
    if pipeline.kind != "batch" or name not in ("report.csv", "report.json") or not folder:
        return studio.error(NotFoundError(f"Pipeline {pipeline.id} has no file {name}."))
    return _file(studio, pipeline, str(Path(folder) / name), True)


def _file(studio: Studio, pipeline: PipelineRecord, output: str | None, download: bool) -> Response:
    path = _inside(pipeline, output)
    if path is None:
        return studio.error(
            NotFoundError(f"Pipeline {pipeline.id} has nothing to show yet.", param="pipeline_id")
        )
    disposition = "attachment" if download else "inline"
    name = f"{pipeline.id}{path.suffix}" if path.suffix == ".mp4" else path.name
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[path.suffix.lower()],
        headers={"content-disposition": f'{disposition}; filename="{name}"'},
    )


@router.post("/runs/{pipeline_id}/resume")
async def run_resume(
    pipeline_id: str,
    studio: StudioDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Run a stopped pipeline again: finished steps are reused, only the missing ones paid."""
    pipeline = await studio.owned(own_pipeline, pipeline_id)
    if isinstance(pipeline, Response):
        return pipeline
    principal = studio.principal
    assert principal is not None
    try:
        studio.check_form(csrf_token)
        view = await view_of(studio, pipeline)
        if not view.resumable:
            raise InvalidRequestError(
                f"Pipeline {pipeline.id} is {view.status}; only a stopped one can be resumed.",
                param="pipeline_id",
            )
        async with studio.gatekeeper.lock(principal):
            for model in _models(pipeline):  # the key may still use them; the resume counts once
                await studio.gatekeeper.admit(principal, model)
        if (principal.key.id if principal.key else None) == pipeline.owner:
            # The key's budget now (it may have changed since) and the active project keep the
            # steps still to make, as they keep a new video from the Create page.
            owner = owner_fields(await owner_for(studio))
            asked = {**pipeline.spec.get("request", {}), **owner}
            await studio.engine.ledger.update_pipeline(
                pipeline.id, spec={**pipeline.spec, "request": asked}
            )
    except SorakitError as exc:
        return studio.error(exc)
    return started(studio, pipeline)


def _models(pipeline: PipelineRecord) -> list[str]:
    """The models a pipeline's steps make videos with."""
    spec = pipeline.spec
    chained = pipeline.kind == "remix_chain" and "prompt" not in spec  # on its video's model
    models = [] if chained else [spec.get("request", {}).get("model")]
    models += [shot.get("model") for shot in spec.get("shots", [])]
    models += [row.get("model") for row in spec.get("rows", [])]
    return list(dict.fromkeys(m for m in models if isinstance(m, str) and m))

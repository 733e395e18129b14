"""Storyboards rendered: every shot a child job, trimmed to its intended length, joined seam by seam.

A storyboard (`sorakit.pipelines.storyboard`) is planned into shots before anything is paid for.
Shots that do not continue another render at once (or `parallel` at a time); a shot that `continues` (a later part of a
scene longer than the longest clip) starts from the previous shot's exact last frame, so each
scene's parts render in order. Each shot is trimmed back to its intended length (`trim_to`) and
the shots are joined with their own seams: a cut, a crossfade of the scene's length, or, for a
continuing shot, a chained seam where the shared frame appears once. A continuing shot keeps one
frame more than its share where its render has one, so the stitched length is still the sum of
the intended lengths, less the crossfades. A start frame the provider refuses (the real APIs
refuse faces) is dropped, the frame described in the prompt instead, and that seam is a cut.

The pipeline row holds the request and the planned shots (after any prompt enhancement), so a
resume neither plans nor enhances again. A storyboard made for an API key (`owner`) makes every
shot that key's job, and is refused up front when the key's budget cannot pay for every shot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sorakit.engine import Engine, Owner, Step
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import (
    JobFailedError,
    ProviderBadRequestError,
    ReferenceImageError,
    SorakitError,
)
from sorakit.ledger import JobRecord, PipelineRecord
from sorakit.pipelines.segment_run import reference_refused
from sorakit.pipelines.steps import (
    Seam,
    StepMaker,
    StepRunner,
    check_budget,
    check_owner_budget,
    copy_file,
    join,
    new_pipeline_id,
    owner_of,
    pipeline_folder,
    record_pipeline,
    write_json,
)
from sorakit.pipelines.storyboard import (
    Shot,
    Storyboard,
    Transition,
    load_storyboard,
    parse_storyboard_text,
    plan_shots,
    timeline_seconds,
)

if TYPE_CHECKING:
    from sorakit.pipelines.resume import Resumed

logger = logging.getLogger(__name__)

KIND = "storyboard"

# storyboards


@dataclass
class StoryboardRequest:
    """What a user asks for; stored in the pipeline row so a resume needs nothing else."""

    storyboard: str
    """A storyboard file's path or text in the `[5s] shot …` syntax."""
    model: str = "sora-2"
    """The model of scenes that name none."""
    size: str | None = None
    """The size of scenes that name none."""
    enhance: str | None = None
    """Rewrite every shot's prompt in this style (`director`, `pixar`, `clean`) first."""
    budget_usd: float | None = None
    out: str | None = None
    owner: str | None = None
    """The gateway API key the shots are made for (they are its videos, on its budget)."""
    owner_budget_usd: float | None = None
    """That key's budget when the storyboard was asked for; every shot must fit in it."""
    owner_sees_all: bool = False
    """That key is the admin key (`Owner.sees_all`), kept so a resume keeps its rights."""
    owner_scope_id: str | None = None
    """The project (budget scope) the steps count against; None: no project."""
    owner_scope_budget_usd: float | None = None
    """That project's cap; the whole estimate must fit in it too."""
    parallel: int | None = None
    """The most shots in flight at once (a key's concurrency limit); None: every chain at once."""
    text_only: bool = False
    """`storyboard` is `[5s] …` text sent over HTTP: never read as a file path on this machine."""


@dataclass
class StoryboardVideo:
    """A finished storyboard and where its parts are."""

    pipeline: PipelineRecord
    folder: Path
    video: Path
    shots: list[Shot]
    jobs: list[JobRecord]
    notes: list[str] = field(default_factory=list)


def shot_to_dict(shot: Shot) -> dict[str, Any]:
    """A shot as JSON-ready data."""
    data = asdict(shot)
    data["reference"] = str(shot.reference) if shot.reference else None
    data["continues"] = shot.continues
    return data


def shot_from_dict(data: dict[str, Any]) -> Shot:
    """The shot `shot_to_dict` wrote."""
    values = {k: v for k, v in data.items() if k != "continues"}
    values["reference"] = Path(values["reference"]) if values.get("reference") else None
    values["transition"] = Transition(**values["transition"])
    values["styles"] = tuple(values.get("styles", ()))
    values["changes"] = tuple(values.get("changes", ()))
    return Shot(**values)


def storyboard_to_dict(board: Storyboard) -> dict[str, Any]:
    """The parsed storyboard, for the output folder."""
    return {
        "title": board.title,
        "source": str(board.source) if board.source else None,
        "scenes": [
            {**asdict(scene), "reference": str(scene.reference) if scene.reference else None}
            for scene in board.scenes
        ],
    }


class Storyboards:
    """Plans, runs and resumes storyboard pipelines on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def plan(self, request: StoryboardRequest) -> tuple[Storyboard, list[Shot]]:
        """The storyboard and its shots; every refusal (lengths, sizes, styles) happens here."""

        def caps_for(name: str) -> Any:
            return self.engine.catalog.route(name)[0].capabilities

        def load() -> tuple[Storyboard, list[Shot]]:
            if request.text_only:  # no file, nor the references and templates a file may name
                board = parse_storyboard_text(request.storyboard)
            else:
                board = load_storyboard(request.storyboard)
            return board, plan_shots(board, caps_for, model=request.model, size=request.size)

        return await anyio.to_thread.run_sync(load)

    def estimate(self, shots: Sequence[Shot]) -> float | None:
        """The list price of every shot's render, or None where a price is unknown."""
        prices = [
            self.engine.catalog.route(shot.model)[0].capabilities.price(shot.size, shot.seconds)
            for shot in shots
        ]
        return None if any(p is None for p in prices) else round(sum(p or 0 for p in prices), 6)

    async def start(self, request: StoryboardRequest) -> PipelineRecord:
        """Plan, check the budget, enhance, save the plan and record the pipeline; nothing is paid."""
        board, shots = await self.plan(request)
        await check_budget(
            self.engine,
            self.estimate(shots),
            request.budget_usd,
            f"the {len(shots)}-shot storyboard",
        )
        await check_owner_budget(
            self.engine,
            owner_of(request),
            self.estimate(shots),
            f"the {len(shots)}-shot storyboard",
        )
        notes = [f"shot {i}: {change}" for i, s in enumerate(shots, 1) for change in s.changes]
        enhanced: list[dict[str, Any]] = []
        if request.enhance:
            shots, enhanced, failed = await self._enhance(shots, request.enhance)
            notes += failed
        pipeline_id = new_pipeline_id(KIND)
        folder = pipeline_folder(self.engine, request.out, pipeline_id)
        plan = {
            "seconds": timeline_seconds(shots),
            "shots": [shot_to_dict(s) for s in shots],
            "enhanced": enhanced,
        }
        await anyio.to_thread.run_sync(
            write_json, folder / "storyboard.json", storyboard_to_dict(board)
        )
        await anyio.to_thread.run_sync(write_json, folder / "plan.json", plan)
        return await record_pipeline(
            self.engine,
            models=[shot.model for shot in shots],
            id=pipeline_id,
            kind=KIND,
            title=board.title or shots[0].prompt[:80],
            spec={"request": asdict(request), **plan, "folder": str(folder), "notes": notes},
            budget_usd=request.budget_usd,
        )

    async def _enhance(
        self, shots: list[Shot], style: str
    ) -> tuple[list[Shot], list[dict[str, Any]], list[str]]:
        """Every distinct prompt rewritten once; a failure keeps the original and says so."""
        from sorakit.pipelines.enhance import check_style, enhance_prompt

        check_style(style)
        done: dict[str, Any] = {}
        for shot in shots:
            if shot.prompt not in done:
                done[shot.prompt] = await enhance_prompt(
                    shot.prompt, style, settings=self.engine.settings
                )
        records, notes = [], []
        for result in done.values():
            records.append(result.record())
            if result.note and result.note not in notes:
                notes.append(result.note)
        return [replace(s, prompt=done[s.prompt].enhanced) for s in shots], records, notes

    async def generate(
        self, request: StoryboardRequest, on_progress: ProgressCallback | None = None
    ) -> StoryboardVideo:
        """Start a storyboard and run it to the end."""
        return await self.run((await self.start(request)).id, on_progress)

    async def run(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> StoryboardVideo:
        """Run (or resume) a storyboard: finished shots are reused, never paid for again."""
        pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
        shots = [shot_from_dict(s) for s in pipeline.spec["shots"]]
        folder = Path(pipeline.spec["folder"])
        runner = StepRunner(self.engine, pipeline, on_progress)
        parallel = pipeline.spec.get("request", {}).get("parallel")
        await runner.begin()
        try:
            jobs = await self._render(runner, shots, folder, owner_of(pipeline.spec), parallel)
            video = await self._finish(runner, shots, jobs, folder)
        except SorakitError as exc:
            await runner.finish(None, str(exc))
            raise
        pipeline = await runner.finish(video)
        return StoryboardVideo(pipeline, folder, video, shots, jobs, runner.notes)

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed:
        """`run`, in the shape `resume_pipelines` expects."""
        from sorakit.pipelines.resume import Resumed

        video = await self.run(pipeline_id, on_progress)
        return Resumed(video.pipeline, str(video.video))

    async def _render(
        self,
        runner: StepRunner,
        shots: list[Shot],
        folder: Path,
        owner: Owner | None = None,
        parallel: int | None = None,
    ) -> list[JobRecord]:
        """Every shot; chains of continuing shots in order, the chains all at once."""
        chains: list[list[int]] = []
        for index, shot in enumerate(shots):
            if shot.continues and chains:
                chains[-1].append(index)
            else:
                chains.append([index])
        jobs: dict[int, JobRecord] = {}
        errors: list[SorakitError] = []
        slots = anyio.CapacityLimiter(parallel or len(shots))

        async def chain(indices: list[int]) -> None:
            reference: bytes | None = None
            try:
                for index in indices:
                    shot = shots[index]
                    if not shot.continues and shot.reference is not None:
                        reference = await anyio.Path(shot.reference).read_bytes()
                    async with slots:
                        jobs[index] = await self._shot(runner, shots, index, reference, owner)
                    if index + 1 < len(shots) and shots[index + 1].continues:
                        reference = await _last_frame(jobs[index], folder, index + 1)
            except SorakitError as exc:  # the other chains finish: what they render is kept
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for indices in chains:
                group.start_soon(chain, indices)
        if errors:
            raise errors[0]
        return [jobs[i] for i in range(len(shots))]

    async def _shot(
        self,
        runner: StepRunner,
        shots: list[Shot],
        index: int,
        reference: bytes | None,
        owner: Owner | None = None,
    ) -> JobRecord:
        """One shot; a continuing shot whose start frame is refused is described instead."""
        shot, name = shots[index], f"shot-{index + 1}"
        if name not in runner.described:
            try:
                return await runner.step(name, _creator(self.engine, shot, reference, owner))
            except (ProviderBadRequestError, JobFailedError, ReferenceImageError) as exc:
                if not (shot.continues and reference is not None and reference_refused(exc)):
                    raise
            runner.described.append(name)  # a resume goes straight to the described shot
            await self.engine.ledger.update_pipeline(
                runner.pipeline.id, state={"described": runner.described}
            )
        runner.note(
            f"shot {index + 1}: the provider refused its start frame, so it was made without one "
            "and the frame was described in the prompt instead"
        )
        prompt = (
            f"{shot.prompt}\n\nThe shot opens exactly where the previous shot ended: "
            f"{shots[index - 1].prompt}"
        )
        return await runner.step(
            f"{name}-described", _creator(self.engine, replace(shot, prompt=prompt), None, owner)
        )

    async def _finish(
        self, runner: StepRunner, shots: list[Shot], jobs: list[JobRecord], folder: Path
    ) -> Path:
        """Copy the renders, trim each to its length, and join them with their seams."""
        short: dict[int, int] = {}  # shot number -> frames missing

        def work() -> Path:
            from sorakit import media

            clips: list[Path] = []
            for number, (shot, job) in enumerate(zip(shots, jobs, strict=True), start=1):
                assert job.video_path is not None
                render = folder / "shots" / f"{number:02d}.mp4"
                copy_file(Path(job.video_path), render)
                video = media.probe(render).video
                assert video is not None
                # A chained shot's first frame is the previous shot's last, shown once.
                chained = int(_opens_on_last_frame(shot, job))
                keep = round(Fraction(shot.trim_to) * video.frame_rate) + chained
                if keep > video.frames:
                    short[number] = keep - video.frames
                keep = min(keep, video.frames)
                if keep == video.frames:
                    clips.append(render)
                    continue
                trimmed = folder / "trimmed" / f"{number:02d}.mp4"
                trimmed.parent.mkdir(parents=True, exist_ok=True)
                media.trim(render, trimmed, float(Fraction(keep) / video.frame_rate))
                clips.append(trimmed)
            seams = [
                Seam(chained=_opens_on_last_frame(shot, job), crossfade=shot.transition.seconds)
                for shot, job in zip(shots[1:], jobs[1:], strict=True)
            ]
            output = folder / "video.mp4"
            join(clips, seams, output)
            return output

        output = await anyio.to_thread.run_sync(work)
        for number, missing in short.items():
            runner.note(
                f"shot {number}'s render is {missing} frame{'s' if missing > 1 else ''} short of "
                "its planned length (with the frame it shares with the shot before), so the "
                "video is that much shorter"
            )
        return output


def _opens_on_last_frame(shot: Shot, job: JobRecord) -> bool:
    """A continuing shot made from the previous shot's last frame (not described instead)."""
    return shot.continues and not (job.pipeline_step or "").endswith("-described")


def _creator(
    engine: Engine, shot: Shot, reference: bytes | None, owner: Owner | None = None
) -> StepMaker:
    async def make(step: Step) -> JobRecord:
        return await engine.create(
            shot.prompt,
            model=shot.model,
            seconds=shot.seconds,
            size=shot.size,
            reference=reference,
            snap=True,
            step=step,
            owner=owner,
        )

    return make


async def _last_frame(job: JobRecord, folder: Path, number: int) -> bytes:
    """A shot's exact last frame as PNG, kept as `frames/NN-last.png`."""
    from sorakit import media

    path = folder / "frames" / f"{number:02d}-last.png"
    video = job.video_path
    assert video is not None

    def extract() -> bytes:
        data = media.encode_image(media.last_frame(video), "PNG")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    return await anyio.to_thread.run_sync(extract)

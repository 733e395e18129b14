"""Batches end to end on the simulator: real MP4s, real 429s, the ledger's budgets, crashes."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
import typer

from sorakit import media
from sorakit.cli import batch as batch_cli
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError
from sorakit.ledger import JobRecord, JobStatus, PipelineStatus
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.pipelines.resume import resume_pipelines
from sorakit.providers.simulator import SimulatorProvider
from sorakit.providers.simulator.faults import FaultInjector, FaultPlan
from sorakit.settings import Settings, get_settings


def create_times(settings: Settings) -> list[float]:
    """When the simulator actually created each job (429s create nothing), in order."""
    log = settings.simulator_dir / "creates.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(float(line.split()[0]) for line in lines)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def faulty(settings: Settings, faults: str, seed: int = 7) -> dict[str, SimulatorProvider]:
    """A simulator whose injected faults are drawn from a fixed seed (the test cannot flake)."""
    injector = FaultInjector(FaultPlan.parse(faults), seed=seed)
    return {"simulator": SimulatorProvider(settings, faults=injector)}


async def test_a_batch_under_429s_keeps_its_rate_and_its_budget(
    settings: Settings, tmp_path: Path
) -> None:
    rpm, spacing = 300.0, 0.2  # one create every 0.2 s at most
    rows = [{"prompt": f"a paper lantern number {i}", "seconds": 4} for i in range(1, 17)]
    file = write_jsonl(tmp_path / "lanterns.jsonl", rows)
    providers = faulty(settings, "rate_limit=0.3,retry_after=0.1")
    async with await Engine.open(settings, providers=providers) as engine:
        result = await Batches(engine).generate(
            BatchRequest(str(file), concurrency=16, rpm=rpm, budget_usd=5.6)
        )
        spend = await engine.ledger.spend(result.pipeline.id)

    # $0.40 a row: the first 14 rows fit the $5.60 cap; the last two are skipped and told why.
    statuses = [row.status for row in result.rows]
    assert statuses == ["completed"] * 14 + ["skipped: budget"] * 2
    for skipped in result.rows[14:]:
        assert skipped.video_id is None and "budget of $5.60" in (skipped.error or "")
    assert spend.total <= 5.6 + 1e-9 and result.totals["cost_usd"] == pytest.approx(5.6)
    assert result.pipeline.status is PipelineStatus.FAILED  # not every row completed

    # The server answered 429s, and the batch slowed down instead of failing a row.
    assert result.rate_limited > 0
    times = create_times(settings)
    assert len(times) == 14
    # The bucket's promise: k creates never come closer together than k slots, so no 60 s
    # window holds more than `rpm` creates (checked here in every window of every length).
    for i, earlier in enumerate(times):
        for j in range(i + 1, len(times)):
            assert times[j] - earlier >= (j - i) * spacing - 0.05, (i, j)
    assert times[-1] - times[0] < 30.0  # slowed down, not stalled

    for row in result.rows[:14]:
        assert row.file and Path(row.file).parent == result.folder
        assert media.probe(row.file).duration == pytest.approx(4.0, abs=0.1)
    report = json.loads((result.folder / "report.json").read_text())
    assert report["totals"]["skipped"] == 2 and report["totals"]["rate_limited"] > 0
    assert [r["status"] for r in report["rows"]] == statuses


async def test_without_a_limit_the_same_batch_bursts(settings: Settings, tmp_path: Path) -> None:
    """The check above can fail: with no RPM the creates come as fast as the server takes them."""
    file = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"shot {i}"} for i in range(6)])
    async with await Engine.open(settings) as engine:
        result = await Batches(engine).generate(BatchRequest(str(file), concurrency=6))
    assert result.ok
    times = create_times(settings)
    assert times[-1] - times[0] < 5 * 0.2 - 0.05


async def test_a_crash_mid_batch_and_a_rerun_create_no_extra_job(
    settings: Settings, tmp_path: Path
) -> None:
    file = write_jsonl(
        tmp_path / "b.jsonl",
        [{"prompt": "a tram at dusk", "n": 2}] + [{"prompt": f"a kite {i}"} for i in range(6)],
    )
    request = BatchRequest(str(file), concurrency=3, rpm=600)
    async with await Engine.open(settings) as engine:
        engine.runner.lease_seconds = 1.5  # the dead worker's claims on its jobs lapse quickly
        batches = Batches(engine)
        pipeline = await batches.start(request)
        crashed = anyio.Event()
        seen: set[str] = set()

        async def watch(job: JobRecord) -> None:
            if job.status is JobStatus.IN_PROGRESS:
                seen.add(job.id)
                if len(seen) >= 3:
                    crashed.set()

        async with anyio.create_task_group() as group:

            async def run() -> None:
                await batches.run(pipeline.id, watch)

            group.start_soon(run)
            await crashed.wait()
            group.cancel_scope.cancel()  # the process dies with three jobs rendering
    made = len(create_times(settings))
    assert 3 <= made < 8

    async with await Engine.open(settings) as engine:
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.RUNNING
        resumed = await resume_pipelines(engine)  # `sorakit jobs resume`
        assert [r.pipeline.id for r in resumed] == [pipeline.id]
        assert resumed[0].error is None and resumed[0].output
        assert resumed[0].pipeline.status is PipelineStatus.COMPLETED
        again = await Batches(engine).generate(request)  # the same file, run again
        assert again.pipeline.id == pipeline.id and again.ok
        assert [row.step for row in again.rows] == ["row-1", "row-1-v2"] + [
            f"row-{i}" for i in range(2, 8)
        ]
        assert len({row.video_id for row in again.rows}) == 8
        assert len(await engine.ledger.list_pipelines()) == 1
    assert len(create_times(settings)) == 8  # every row once, the crashed ones included


async def test_bad_files_are_refused_with_their_line_numbers_before_anything_is_sent(
    settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"prompt": "fine"}\n'
        '{"model": "sora-2"}\n'
        "\n"
        '{"prompt": "x", "seconds": 7}\n'
        '{"prompt": "x", "secs": 4}\n'
        '{"prompt": "x", "reference": "missing.png"}\n'
        '{"prompt": "x", "model": "no-such-model"}\n'
        '{"prompt": "x", "n": 0}\n'
    )
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("prompt,seconds\nfine,4\n,4\nok,four\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "fine"}\n{"prompt": \n')
    empty = tmp_path / "empty.csv"
    empty.write_text("prompt,seconds\n")
    async with await Engine.open(settings) as engine:
        batches = Batches(engine)
        with pytest.raises(InvalidRequestError) as refused:
            await batches.generate(BatchRequest(str(bad)))
        message = str(refused.value)
        assert "6 bad rows, nothing was sent" in message
        for line, reason in [
            (2, "'prompt' is missing"),
            (4, "7"),
            (5, "unknown field 'secs'"),
            (6, "missing.png"),
            (7, "no-such-model"),
            (8, "'n' must be a whole number"),
        ]:
            assert f"line {line}: " in message and reason in message, (line, message)
        assert "line 1:" not in message
        with pytest.raises(InvalidRequestError, match=r"line 3: 'prompt' is missing.*line 4"):
            await batches.generate(BatchRequest(str(csv_file)))
        with pytest.raises(InvalidRequestError, match="line 2 is not JSON"):
            await batches.generate(BatchRequest(str(broken)))
        with pytest.raises(InvalidRequestError, match="has no requests"):
            await batches.generate(BatchRequest(str(empty)))
        assert await engine.ledger.list_pipelines() == []
    assert create_times(settings) == []


def cli(args: list[str]) -> int:
    """Run `sorakit batch` as `sorakit.cli.main` runs a command."""
    app = typer.Typer()
    app.callback()(lambda: None)
    batch_cli.register(app)
    code = typer.main.get_command(app).main(args=args, standalone_mode=False)
    return code if isinstance(code, int) else 0


def test_the_cli_reports_every_row_and_exits_4_until_all_completed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_SIMULATOR_RENDER_SECONDS", "0.2")
    file = tmp_path / "shots.csv"
    file.write_text(
        "prompt,seconds,size\n"
        "a harbour at dawn,4,1280x720\n"
        "a cat [[moderation_blocked]],4,\n"
        "a long pan over hills,8,\n"
    )
    report = tmp_path / "out" / "report.csv"
    args = ["batch", str(file), "--rpm", "600", "-q", "--report", str(report)]
    assert cli([*args, "--budget", "0.8"]) == 4
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == str(report.resolve())
    assert "1 completed, 1 failed, 1 skipped of 3" in captured.err.strip().splitlines()[-1]
    assert "row-2 (line 3): failed: " in captured.err and "moderation" in captured.err
    lines = report.read_text().splitlines()
    assert lines[0].startswith("row,line,step,status,video_id,model,seconds,size,estimated_cost")
    assert lines[1].split(",")[3] == "completed" and lines[3].split(",")[3] == "skipped: budget"
    assert lines[-1].startswith("total,")

    # Run again with room in the budget: the finished row is reused, the others tried again.
    file_json = tmp_path / "again.json"
    assert cli([*args[:-1], str(file_json), "--budget", "2"]) == 4
    result = json.loads(file_json.read_text())
    assert [r["status"] for r in result["rows"]] == ["completed", "failed", "completed"]
    assert result["rows"][0]["video_id"] in lines[1]
    assert result["totals"]["cost_usd"] == pytest.approx(0.4 + 0.8)
    assert len(result["rows"][2]["file"]) and Path(result["rows"][2]["file"]).exists()


async def test_the_global_budget_skips_rows_too(tmp_path: Path, isolated_env: Path) -> None:
    settings = get_settings(home=isolated_env, simulator_render_seconds=0.2, budget_usd=0.5)
    file = write_jsonl(tmp_path / "b.jsonl", [{"prompt": "a moth"}, {"prompt": "a lamp"}])
    async with await Engine.open(settings) as engine:
        result = await Batches(engine).generate(BatchRequest(str(file), rpm=600))
    assert [row.status for row in result.rows] == ["completed", "skipped: budget"]
    assert "passes the budget of $0.50" in (result.rows[1].error or "")
    assert len(create_times(settings)) == 1

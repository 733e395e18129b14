"""A batch's files: the request file (JSONL or CSV) read and checked row by row, and its report.

Every row is checked with the engine's own planning before anything is recorded, so a bad row
refuses the whole file with its line number and nothing is paid for. The report has one line
per step (a row, or one of its `n` takes) and the totals, as JSON and as CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sorakit.engine.planning import plan_generate
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.media import atomic_output

if TYPE_CHECKING:
    from sorakit.engine import Engine

MAX_TAKES = 16
_FIELDS = ("prompt", "model", "seconds", "size", "reference", "n")
_ALIASES = {"variations": "n", "input_reference": "reference", "image": "reference"}


@dataclass
class BatchRow:
    """One request of the file, checked."""

    row: int
    line: int
    prompt: str
    model: str = "sora-2"
    seconds: int | None = None
    size: str | None = None
    reference: str | None = None
    """An absolute path (a relative one is read from the file's folder)."""
    n: int = 1


@dataclass
class RowResult:
    """One line of the report."""

    row: int
    line: int
    step: str
    status: str
    """`completed`, `failed`, or `skipped: budget`."""
    video_id: str | None
    model: str
    seconds: int | None
    size: str | None
    estimated_cost: float | None
    cost: float | None
    file: str | None
    error: str | None


REPORT_COLUMNS = tuple(f.name for f in fields(RowResult))
"""The report's columns, in order."""


def read_rows(path: Path, engine: Engine, pooled: Collection[str] = ()) -> list[BatchRow]:
    """Parse and check every row; any bad row refuses the whole file with its line number.

    `pooled` names the providers that have stored credentials (and need no variable set).
    """
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc}", param="file") from exc
    raw = _csv(text) if _is_csv(path, text) else _jsonl(text)
    if not raw:
        raise InvalidRequestError(f"{path} has no requests", param="file")
    rows: list[BatchRow] = []
    errors: list[str] = []
    for index, (line, values) in enumerate(raw, start=1):
        try:
            rows.append(_row(index, line, values, path.parent, engine, pooled))
        except SorakitError as exc:  # unknown model, missing credential, bad value...
            errors.append(f"line {line}: {exc}")
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if errors[10:] else "")
        raise InvalidRequestError(
            f"{path}: {len(errors)} bad row{'s' * (len(errors) > 1)}, nothing was sent: {shown}",
            param="file",
        )
    return rows


@dataclass(frozen=True)
class BadRow:
    """A line of the file that cannot run, and the parser's reason."""

    line: int
    message: str


def check_rows(
    path: Path, engine: Engine, pooled: Collection[str] = (), *, references: bool = True
) -> tuple[list[BatchRow], list[BadRow]]:
    """Every good row, and every bad one by its line with the reason `read_rows` gives, so a
    page can show them all before anything is sent.

    `references=False` refuses a row that names a reference file (a path on this machine),
    for files from callers who may not read this machine's files.
    """
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read {path.name}: {exc}", param="file") from exc
    bad: list[BadRow] = []
    raw = _csv(text, bad) if _is_csv(path, text) else _jsonl(text, bad)
    rows: list[BatchRow] = []
    for index, (line, values) in enumerate(raw, start=1):
        if not references and "reference" in {_ALIASES.get(k, k) for k in values}:
            bad.append(BadRow(line, "a row may not name a reference file here"))
            continue
        try:
            rows.append(_row(index, line, values, path.parent, engine, pooled))
        except SorakitError as exc:
            bad.append(BadRow(line, str(exc)))
    return rows, sorted(bad, key=lambda row: row.line)


def _is_csv(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return False
    return path.suffix.lower() == ".csv" or not text.lstrip().startswith("{")


def _jsonl(text: str, bad: list[BadRow] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The requests of a JSONL text; a line that is none refuses the text, or joins `bad`."""
    rows = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip() or content.lstrip().startswith("#"):
            continue
        try:
            rows.append((line, _json_object(content)))
        except InvalidRequestError as exc:
            if bad is None:
                raise InvalidRequestError(
                    f"line {line} {exc.message}; nothing was sent", param="file"
                ) from None
            bad.append(BadRow(line, exc.message))
    return rows


def _json_object(content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"is not JSON ({exc.msg})") from None
    except RecursionError:
        raise InvalidRequestError("nests too deeply to be a request") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("is not a JSON object")
    return value


def _csv(text: str, bad: list[BadRow] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """The requests of a CSV text; a line that is none refuses the text, or joins `bad`."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for values in reader:
        cells = {k.strip().lower(): (v or "").strip() for k, v in values.items() if k}
        if None in values:
            if bad is None:
                raise InvalidRequestError(
                    f"line {reader.line_num} has more cells than the header; nothing was sent",
                    param="file",
                )
            bad.append(BadRow(reader.line_num, "has more cells than the header"))
            continue
        if any(cells.values()):
            rows.append((reader.line_num, {k: v for k, v in cells.items() if v}))
    return rows


def _row(
    index: int,
    line: int,
    values: dict[str, Any],
    base: Path,
    engine: Engine,
    pooled: Collection[str],
) -> BatchRow:
    values = {_ALIASES.get(k, k): v for k, v in values.items()}
    if unknown := sorted(set(values) - set(_FIELDS)):
        raise InvalidRequestError(f"unknown field {', '.join(map(repr, unknown))}", allowed=_FIELDS)
    prompt = values.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequestError("'prompt' is missing")
    seconds = _integer(values.get("seconds"), "seconds", 1, 600)
    takes = _integer(values.get("n"), "n", 1, MAX_TAKES) or 1
    size = values.get("size")
    if size is not None and not isinstance(size, str):
        raise InvalidRequestError("'size' must be WxH text")
    reference = values.get("reference")
    if reference is not None:
        if not isinstance(reference, str):
            raise InvalidRequestError("'reference' must be a path")
        reference = str((base / reference).resolve())
    model = str(values.get("model") or "sora-2")
    entry, aliased = engine.catalog.route(model)
    if entry.provider not in pooled:
        engine.providers.get(entry.provider)  # a missing credential refuses the file now
    plan_generate(  # the checks `Engine.create` makes, before anything is recorded
        entry,
        prompt,
        seconds=seconds,
        size=size,
        reference=Path(reference) if reference else None,
        snap=aliased,
    )
    return BatchRow(index, line, prompt, model, seconds, size, reference, takes)


def _integer(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not low <= number <= high:
        raise InvalidRequestError(f"'{name}' must be a whole number from {low} to {high}")
    return number


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def totals_of(rows: list[RowResult]) -> dict[str, Any]:
    def count(prefix: str) -> int:
        return sum(1 for row in rows if row.status.startswith(prefix))

    return {
        "rows": len(rows),
        "completed": count("completed"),
        "failed": count("failed"),
        "skipped": count("skipped"),
        "estimated_usd": round(
            sum(r.estimated_cost or 0.0 for r in rows if not r.status.startswith("skipped")), 6
        ),
        "cost_usd": round(sum(row.cost or 0.0 for row in rows), 6),
    }


@dataclass
class Report:
    """What a report holds: the pipeline, a line per step, and the totals."""

    pipeline_id: str
    rows: list[RowResult]
    totals: dict[str, Any]


def write_reports(report: Report, folder: Path, extra: str | None = None) -> None:
    """`report.json` and `report.csv` in the batch's folder, and `extra` (by its suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / "report.json", folder / "report.csv"]
    if extra:
        targets.append(Path(extra))
    for target in targets:
        text = _csv_report(report) if target.suffix.lower() == ".csv" else _json_report(report)
        with atomic_output(target) as temporary:
            temporary.write_text(text, "utf-8")


def _json_report(report: Report) -> str:
    body = {
        "pipeline": report.pipeline_id,
        "rows": [asdict(row) for row in report.rows],
        "totals": report.totals,
    }
    return json.dumps(body, indent=2) + "\n"


def _csv_report(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(asdict(row))
    t = report.totals
    writer.writerow(
        {
            "row": "total",
            "status": f"{t['completed']} completed, {t['failed']} failed, {t['skipped']} skipped",
            "estimated_cost": t["estimated_usd"],
            "cost": t["cost_usd"],
        }
    )
    return buffer.getvalue()

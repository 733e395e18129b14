"""Rows for the Batch and Multiple pages: checked and planned before anything is sent.

A file (or the Multiple page's prompts, one per line) is checked with the batch pipeline's own
parser (`batch_files.check_rows`), so the page lists every bad row by its line with the reason
`sorakit batch` would give, then each good row is planned as `Engine.create` will plan it (with
the shared first frame, if any) for its model, seconds, size and estimate.

The server keeps nothing between the check and the start: the browser's form still holds the
file and sends it again with Start, and the server checks it again (a check's answer may be stale
by then). Only on Start is a batch file written, under the server's home and named by its
content, never at a path the browser names; rows may not name reference files (those would be
this machine's files), the shared reference is uploaded instead.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from fastapi import UploadFile

from sorakit.catalog.capabilities import ModelEntry
from sorakit.engine import Engine
from sorakit.engine.planning import Plan, plan_generate
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.media.images import load_image
from sorakit.pipelines.batch_files import BadRow, BatchRow, check_rows
from sorakit.settings import Settings

MAX_FILE_BYTES = 1 << 20
"""The most bytes an uploaded batch file may have (`sorakit batch` takes bigger ones)."""
MAX_ROWS = 500
"""The most rows a batch from the studio may have."""
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".txt")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PlannedRow:
    """A good row as given, and what the engine will make of it."""

    row: BatchRow
    model: str
    """The model it renders on (an alias resolved)."""
    seconds: int
    size: str
    estimate: float | None
    """The list price of all its takes; None where the model's price is unknown."""

    @property
    def estimate_text(self) -> str:
        return money(self.estimate)


@dataclass(frozen=True)
class Checked:
    """A file's rows after the check: the good ones planned, the bad ones by line."""

    name: str
    """The file's name as the page shows it (and the batch's title uses)."""
    rows: list[PlannedRow]
    bad: list[BadRow]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.bad

    @property
    def videos(self) -> int:
        return sum(planned.row.n for planned in self.rows)

    @property
    def total_text(self) -> str:
        return money(self.total)

    @property
    def total(self) -> float | None:
        """The whole run's estimate; None when a row's price is unknown."""
        prices = [planned.estimate for planned in self.rows]
        if any(price is None for price in prices):
            return None
        return round(sum(price or 0.0 for price in prices), 6)

    def refusal(self) -> InvalidRequestError:
        """Why this file cannot start, for a Start pressed anyway."""
        if not self.rows and not self.bad:
            return InvalidRequestError(f"{self.name} has no rows; nothing was sent", param="file")
        lines = ", ".join(str(bad.line) for bad in self.bad[:10])
        more = f" and {len(self.bad) - 10} more" if self.bad[10:] else ""
        return InvalidRequestError(
            f"{self.name} has {len(self.bad)} bad row{'s' * (len(self.bad) > 1)} "
            f"(line {lines}{more}); nothing was sent",
            param="file",
        )


def money(value: float | None) -> str:
    """An estimate as the pages show it."""
    return "price unknown" if value is None else f"${value:.2f}"


async def read_upload(upload: UploadFile | None, limit: int) -> tuple[bytes, str | None]:
    """An uploaded file's bytes (at most one past `limit`, enough to refuse it) and its name."""
    if upload is None:
        return b"", None
    return await upload.read(limit + 1), upload.filename


def safe_name(filename: str | None, default: str = "batch.jsonl") -> str:
    """A file name the server may use: the browser's name stripped to plain characters."""
    name = _NAME.sub("-", Path(filename or "").name).strip(".-")[:80]
    return name if name and Path(name).suffix.lower() in _SUFFIXES else default


def upload_text(data: bytes, name: str) -> str:
    """An uploaded batch file as text, or a refusal that says what is wrong with it."""
    if not data:
        raise InvalidRequestError(f"{name} is empty; choose a JSONL or CSV file", param="file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidRequestError(
            f"{name} is {len(data):,} bytes; the studio takes files up to {MAX_FILE_BYTES:,} "
            "bytes (`sorakit batch` takes bigger ones)",
            param="file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{name} is not a UTF-8 text file (byte {exc.start} cannot be read); choose a "
            "JSONL or CSV file",
            param="file",
        ) from None
    if "\x00" in text:
        raise InvalidRequestError(
            f"{name} is not a text file; choose a JSONL or CSV file", param="file"
        )
    return text


async def check_text(
    engine: Engine, text: str, name: str, reference: bytes | None = None
) -> Checked:
    """Every row of `text` (a JSONL or CSV file called `name`) checked, then planned."""
    pooled = await engine.upstream.pooled_providers()

    def check() -> Checked:
        if reference is not None:  # one refusal for a bad image, not one per row
            load_image(reference)
        with tempfile.TemporaryDirectory(prefix="sorakit-batch-") as folder:
            path = Path(folder) / name  # its suffix picks the format, as for `sorakit batch`
            path.write_text(text, "utf-8")
            rows, bad = check_rows(path, engine, pooled, references=False)
        if len(rows) + len(bad) > MAX_ROWS:
            raise InvalidRequestError(
                f"{name} has {len(rows) + len(bad)} rows; the studio takes up to {MAX_ROWS} "
                "(`sorakit batch` takes more)",
                param="file",
            )
        return _planned(engine, name, rows, bad, reference)

    return await anyio.to_thread.run_sync(check)


def _planned(
    engine: Engine,
    name: str,
    rows: list[BatchRow],
    bad: list[BadRow],
    reference: bytes | None,
) -> Checked:
    """Plan each good row as `Engine.create` will; a row the shared reference does not suit
    (a model without image input) becomes a bad row."""
    planned: list[PlannedRow] = []
    bad = list(bad)
    plans: dict[tuple[str, int | None, str | None], Plan] = {}
    for row in rows:
        try:
            entry, aliased = engine.catalog.route(row.model)
            key = (row.model, row.seconds, row.size)
            if key not in plans:  # a reference is fitted once per shape, not once per row
                plans[key] = _plan(entry, row, reference, aliased)
            plan = plans[key]
        except SorakitError as exc:
            bad.append(BadRow(row.line, str(exc)))
            continue
        price = plan.estimated_cost
        estimate = None if price is None else round(price * row.n, 6)
        planned.append(PlannedRow(row, entry.name, plan.seconds, plan.size, estimate))
    return Checked(name, planned, sorted(bad, key=lambda item: item.line))


def _plan(entry: ModelEntry, row: BatchRow, reference: bytes | None, aliased: bool) -> Plan:
    return plan_generate(
        entry, row.prompt, seconds=row.seconds, size=row.size, reference=reference, snap=aliased
    )


def prompts_text(prompts: str, model: str, seconds: str, size: str) -> str:
    """The Multiple page's prompts (one per line) as batch rows, line for line, for the same
    check a file gets; a blank line stays blank so the line numbers are the textarea's."""
    fields = {"model": model or None, "seconds": seconds or None, "size": size.strip() or None}
    lines = []
    for prompt in prompts.splitlines():
        row = {"prompt": prompt.strip(), **{k: v for k, v in fields.items() if v}}
        lines.append(json.dumps(row) if prompt.strip() else "")
    return "\n".join(lines) + "\n"


async def save_reference(settings: Settings, data: bytes) -> Path:
    """The shared reference written under the server's home, named by its content."""
    digest = hashlib.sha256(data).hexdigest()
    path = settings.home / "studio" / "references" / f"{digest}.img"

    def write() -> Path:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".part")
            temporary.write_bytes(data)
            temporary.replace(path)
        return path

    return await anyio.to_thread.run_sync(write)


async def write_batch_file(settings: Settings, name: str, rows: list[BatchRow]) -> Path:
    """The rows as the JSONL file the batch pipeline reads, each at its line in the person's
    file (so the report's lines are theirs), under the server's home, named by its content."""
    lines: list[str] = []
    for row in rows:
        lines += [""] * (row.line - 1 - len(lines))
        values = {
            "prompt": row.prompt,
            "model": row.model,
            "seconds": row.seconds,
            "size": row.size,
            "reference": row.reference,
            "n": row.n,
        }
        lines.append(json.dumps({k: v for k, v in values.items() if v is not None}))
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = settings.home / "studio" / "batches" / digest[:32] / f"{Path(name).stem}.jsonl"

    def write() -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        return path

    return await anyio.to_thread.run_sync(write)


def with_reference(rows: list[PlannedRow], reference: Path | None) -> list[BatchRow]:
    """The rows to write, each starting from the shared reference when there is one."""
    return [
        replace(planned.row, reference=str(reference) if reference else None) for planned in rows
    ]

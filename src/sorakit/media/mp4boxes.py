"""ISO BMFF (MP4) boxes, read and written by hand for the box-level join (`boxjoin`).

Reading: the top-level boxes of a file are found by seeking from header to header (the media data
is never read), `moov` is read whole, and a track's sample tables (stts, ctts, stss, stsz/stz2,
stsc with stco/co64, sdtp, sbgp) are expanded into one list entry per sample. Anything the parser
does not understand raises `Unsupported`, which the join turns into a fall-back to the remux.
Writing: boxes from their payloads, and the same tables run-length encoded again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

U32_MAX = 0xFFFF_FFFF

MAX_SAMPLES = 1 << 25
"""Samples per track the tables may expand to (about 390 hours of 24 fps video)."""


class Unsupported(Exception):
    """The file holds something the box-level join does not handle (the message says what)."""


@dataclass(frozen=True)
class Box:
    """One box: its four-character type, where it starts, its header length and its total size."""

    kind: bytes
    start: int
    header: int
    size: int

    @property
    def body(self) -> int:
        """Offset of the payload."""
        return self.start + self.header

    @property
    def end(self) -> int:
        """Offset one past the box."""
        return self.start + self.size


def iter_boxes(data: bytes, start: int, end: int) -> Iterator[Box]:
    """The boxes laid end to end in `data[start:end]`."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise Unsupported("a box header is cut short")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Unsupported(f"the '{kind.decode('latin-1')}' box overruns its parent")
        yield Box(kind, pos, header, size)
        pos += size
    if pos != end:
        raise Unsupported("stray bytes after the last box")


def top_level(file: BinaryIO, file_size: int) -> list[Box]:
    """The file's top-level boxes, read header by header (payloads are skipped)."""
    boxes: list[Box] = []
    pos = 0
    while pos < file_size:
        file.seek(pos)
        head = file.read(16)
        if len(head) < 8:
            raise Unsupported("the file ends inside a box header")
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1:
            if len(head) < 16:
                raise Unsupported("the file ends inside a box header")
            (size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        elif size == 0:
            size = file_size - pos
        if size < header or pos + size > file_size:
            raise Unsupported(f"the top-level '{kind.decode('latin-1')}' box is truncated")
        boxes.append(Box(kind, pos, header, size))
        pos += size
    return boxes


def children(data: bytes, parent: Box, skip: int = 0) -> list[Box]:
    """The boxes inside `parent` (after `skip` payload bytes, e.g. a full box's version/flags)."""
    return list(iter_boxes(data, parent.body + skip, parent.end))


def child(data: bytes, parent: Box, kind: bytes) -> Box | None:
    """The first box of `kind` inside `parent`, or None."""
    return next((b for b in children(data, parent) if b.kind == kind), None)


def version_of(data: bytes, box: Box) -> int:
    """A full box's version byte."""
    return data[box.body]


def _u32s(data: bytes, pos: int, count: int) -> list[int]:
    if pos + 4 * count > len(data):
        raise Unsupported("a sample table is cut short")
    return list(struct.unpack_from(f">{count}I", data, pos))


def _pairs(data: bytes, box: Box, signed: bool = False) -> list[tuple[int, int]]:
    """(count, value) entries of a stts/ctts-like full box."""
    (entries,) = struct.unpack_from(">I", data, box.body + 4)
    if box.body + 8 + 8 * entries > box.end:
        raise Unsupported(f"the '{box.kind.decode()}' table is cut short")
    flat = struct.unpack_from(">" + ("Ii" if signed else "II") * entries, data, box.body + 8)
    return list(zip(flat[::2], flat[1::2], strict=True))


def _expand(pairs: Sequence[tuple[int, int]]) -> list[int]:
    if sum(count for count, _ in pairs) > MAX_SAMPLES:
        raise Unsupported("a track with more samples than the join handles")
    out: list[int] = []
    for count, value in pairs:
        out.extend([value] * count)
    return out


@dataclass
class SampleTable:
    """A track's samples, one entry per sample in decode order."""

    durations: list[int]
    composition: list[int] | None
    """ctts offsets (None: no ctts box)."""
    ctts_version: int
    sync: set[int] | None
    """0-based indices of sync samples (None: no stss box, every sample is one)."""
    sizes: list[int]
    positions: list[int]
    """File offset of each sample."""
    sdtp: bytes | None
    groups: dict[bytes, list[int]]
    """sbgp grouping type -> the group description index of each sample."""


STBL_KNOWN = {b"stsd", b"stts", b"ctts", b"stss", b"stsc", b"stsz", b"stz2", b"stco", b"co64"}
STBL_KNOWN |= {b"sdtp", b"sgpd", b"sbgp"}


def read_sample_table(data: bytes, stbl: Box) -> SampleTable:
    """Expand a `stbl` box; `Unsupported` for any box or layout the join does not handle."""
    boxes: dict[bytes, Box] = {}
    for box in children(data, stbl):
        if box.kind not in STBL_KNOWN:
            raise Unsupported(f"a sample table holds a '{box.kind.decode('latin-1')}' box")
        if box.kind in boxes and box.kind not in (b"sgpd", b"sbgp"):
            raise Unsupported(f"a sample table holds two '{box.kind.decode()}' boxes")
        boxes.setdefault(box.kind, box)
    for needed in (b"stsd", b"stts", b"stsc"):
        if needed not in boxes:
            raise Unsupported(f"a sample table lacks its '{needed.decode()}' box")
    durations = _expand(_pairs(data, boxes[b"stts"]))
    count = len(durations)
    sizes = _sizes(data, boxes)
    if len(sizes) != count:
        raise Unsupported("the sample tables disagree on the sample count")
    composition, ctts_version = None, 0
    if b"ctts" in boxes:
        ctts_version = version_of(data, boxes[b"ctts"])
        composition = _expand(_pairs(data, boxes[b"ctts"], signed=ctts_version == 1))
        if len(composition) != count:
            raise Unsupported("ctts does not cover every sample")
    sync = None
    if b"stss" in boxes:
        box = boxes[b"stss"]
        (entries,) = struct.unpack_from(">I", data, box.body + 4)
        sync = {n - 1 for n in _u32s(data, box.body + 8, entries)}
    sdtp = None
    if b"sdtp" in boxes:
        box = boxes[b"sdtp"]
        sdtp = data[box.body + 4 : box.end]
        if len(sdtp) != count:
            raise Unsupported("sdtp does not cover every sample")
    groups = {}
    for box in children(data, stbl):
        if box.kind == b"sbgp":
            kind, indices = _sample_groups(data, box, count)
            groups[kind] = indices
    positions = _positions(data, boxes, sizes)
    return SampleTable(durations, composition, ctts_version, sync, sizes, positions, sdtp, groups)


def _sizes(data: bytes, boxes: dict[bytes, Box]) -> list[int]:
    if b"stsz" in boxes:
        box = boxes[b"stsz"]
        constant, count = struct.unpack_from(">II", data, box.body + 4)
        if count > MAX_SAMPLES:
            raise Unsupported("a track with more samples than the join handles")
        return [constant] * count if constant else _u32s(data, box.body + 12, count)
    if b"stz2" in boxes:
        box = boxes[b"stz2"]
        field, count = data[box.body + 7], struct.unpack_from(">I", data, box.body + 8)[0]
        raw = data[box.body + 12 : box.end]
        if count > 2 * len(raw):
            raise Unsupported("stz2 is cut short")
        if field == 16:
            return list(struct.unpack_from(f">{count}H", raw))
        if field == 8:
            return list(raw[:count])
        if field == 4:
            nibbles = [n for byte in raw for n in (byte >> 4, byte & 15)]
            return nibbles[:count]
        raise Unsupported(f"stz2 with {field}-bit sizes")
    raise Unsupported("a sample table lacks its sample sizes")


def _positions(data: bytes, boxes: dict[bytes, Box], sizes: list[int]) -> list[int]:
    if b"stco" in boxes:
        box = boxes[b"stco"]
        (entries,) = struct.unpack_from(">I", data, box.body + 4)
        chunks = _u32s(data, box.body + 8, entries)
    elif b"co64" in boxes:
        box = boxes[b"co64"]
        (entries,) = struct.unpack_from(">I", data, box.body + 4)
        if box.body + 8 + 8 * entries > box.end:
            raise Unsupported("co64 is cut short")
        chunks = list(struct.unpack_from(f">{entries}Q", data, box.body + 8))
    else:
        raise Unsupported("a sample table lacks its chunk offsets")
    stsc = boxes[b"stsc"]
    (entries,) = struct.unpack_from(">I", data, stsc.body + 4)
    runs = _u32s(data, stsc.body + 8, 3 * entries)
    positions: list[int] = []
    sample = 0
    for n in range(entries):
        first, per_chunk, description = runs[3 * n : 3 * n + 3]
        last = runs[3 * (n + 1)] - 1 if n + 1 < entries else len(chunks)
        if description != 1:
            raise Unsupported("a track uses more than one sample description")
        for chunk in range(first - 1, last):
            if chunk >= len(chunks):
                raise Unsupported("stsc names a chunk that stco does not list")
            pos = chunks[chunk]
            for size in sizes[sample : sample + per_chunk]:
                positions.append(pos)
                pos += size
            sample += per_chunk
    if len(positions) != len(sizes) or sample != len(sizes):
        raise Unsupported("the chunks do not hold exactly the track's samples")
    return positions


def _sample_groups(data: bytes, box: Box, count: int) -> tuple[bytes, list[int]]:
    version = version_of(data, box)
    kind = data[box.body + 4 : box.body + 8]
    pos = box.body + 8 + (4 if version == 1 else 0)
    if version > 1:
        raise Unsupported(f"sbgp version {version}")
    (entries,) = struct.unpack_from(">I", data, pos)
    pairs = _pairs_at(data, pos + 4, entries)
    if sum(n for n, _ in pairs) > count:
        raise Unsupported("sbgp covers more samples than the track has")
    indices = _expand(pairs)
    if len(indices) > count:
        raise Unsupported("sbgp covers more samples than the track has")
    return kind, indices + [0] * (count - len(indices))


def _pairs_at(data: bytes, pos: int, entries: int) -> list[tuple[int, int]]:
    flat = _u32s(data, pos, 2 * entries)
    return list(zip(flat[::2], flat[1::2], strict=True))


# Writing.


def box(kind: bytes, *parts: bytes) -> bytes:
    """A box around the payload parts (a 64-bit size when it does not fit 32 bits)."""
    size = 8 + sum(len(part) for part in parts)
    if size > U32_MAX:
        return struct.pack(">I4sQ", 1, kind, size + 8) + b"".join(parts)
    return struct.pack(">I4s", size, kind) + b"".join(parts)


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    """A full box (version and flags before the payload)."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """(count, value) runs of equal neighbours."""
    out: list[tuple[int, int]] = []
    for value in values:
        if out and out[-1][1] == value:
            out[-1] = (out[-1][0] + 1, value)
        else:
            out.append((1, value))
    return out


def _table(kind: bytes, version: int, pairs: Sequence[tuple[int, int]], signed: bool) -> bytes:
    flat = [v for pair in pairs for v in pair]
    fmt = ">" + ("Ii" if signed else "II") * len(pairs)
    return full_box(kind, version, 0, struct.pack(">I", len(pairs)), struct.pack(fmt, *flat))


def stts(durations: Sequence[int]) -> bytes:
    """Decoding time to sample."""
    return _table(b"stts", 0, runs(durations), signed=False)


def ctts(offsets: Sequence[int], version: int) -> bytes:
    """Composition offsets (version 1 stores them signed)."""
    return _table(b"ctts", version, runs(offsets), signed=version == 1)


def stss(sync: Sequence[int]) -> bytes:
    """Sync samples, from 0-based indices."""
    numbers = [n + 1 for n in sync]
    return full_box(b"stss", 0, 0, struct.pack(f">I{len(numbers)}I", len(numbers), *numbers))


def stsz(sizes: Sequence[int]) -> bytes:
    """Sample sizes (one constant when every sample has the same size)."""
    if sizes and all(size == sizes[0] for size in sizes):
        return full_box(b"stsz", 0, 0, struct.pack(">II", sizes[0], len(sizes)))
    return full_box(b"stsz", 0, 0, struct.pack(f">II{len(sizes)}I", 0, len(sizes), *sizes))


def stsc(per_chunk: Sequence[int]) -> bytes:
    """Sample-to-chunk runs from the sample count of each chunk (one sample description)."""
    entries: list[int] = []
    chunk = 1
    for count, samples in runs(per_chunk):
        entries += [chunk, samples, 1]
        chunk += count
    return full_box(b"stsc", 0, 0, struct.pack(f">I{len(entries)}I", len(entries) // 3, *entries))


def chunk_offsets(offsets: Sequence[int], wide: bool) -> bytes:
    """stco, or co64 when `wide`."""
    if wide:
        return full_box(b"co64", 0, 0, struct.pack(f">I{len(offsets)}Q", len(offsets), *offsets))
    return full_box(b"stco", 0, 0, struct.pack(f">I{len(offsets)}I", len(offsets), *offsets))


def sbgp(kind: bytes, indices: Sequence[int]) -> bytes:
    """Sample-to-group runs for one grouping type."""
    pairs = runs(indices)
    flat = [v for pair in pairs for v in pair]
    return full_box(b"sbgp", 0, 0, kind, struct.pack(f">I{len(flat)}I", len(pairs), *flat))

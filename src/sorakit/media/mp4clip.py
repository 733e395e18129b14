"""One MP4 clip as the box-level join sees it: its ftyp, mvhd, tracks and the span of media data.

`read_clip` reads only the top-level headers and the `moov`, and refuses (`Unsupported`) what the
join does not handle: fragments (`moof`), unknown top-level, `moov`, track or media boxes, more than
one sample description, edit lists other than one plain entry, samples outside one `mdat`. The
sample description is also kept as a key with its bitrate hints blanked out (`btrt`, the bitrates
in `esds`): encoders fill those per clip, and they do not change how a sample decodes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sorakit.media.mp4boxes import (
    Box,
    SampleTable,
    Unsupported,
    child,
    children,
    iter_boxes,
    read_sample_table,
    top_level,
    version_of,
)

TOP_LEVEL_OK = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"}


@dataclass
class Track:
    """One track of a clip: the boxes copied as they are and the expanded sample table."""

    handler: bytes
    tkhd: bytes
    mdhd: bytes
    hdlr: bytes
    media_header: list[bytes]
    stsd: bytes
    stsd_key: bytes
    descriptions: dict[bytes, bytes]
    timescale: int
    media_time: int
    segment: int | None
    table: SampleTable


@dataclass
class Clip:
    """What the join needs of one file."""

    path: Path
    ftyp: bytes
    mvhd: bytes
    movie_timescale: int
    extra: list[bytes]
    video: Track
    audio: Track | None
    span: tuple[int, int]
    """File offsets of the media data to copy: the first sample's start to the last one's end."""


def read_clip(path: Path) -> Clip:
    """Read one clip's boxes; `Unsupported` when they are outside what the join handles."""
    try:
        return _read_clip(path)
    except Unsupported as exc:
        raise Unsupported(f"{path.name}: {exc}") from exc
    except (struct.error, IndexError, KeyError, StopIteration) as exc:
        raise Unsupported(f"{path.name}: malformed boxes ({exc!r})") from exc


def _read_clip(path: Path) -> Clip:
    size = path.stat().st_size
    with path.open("rb") as file:
        tops = top_level(file, size)
        kinds = [b.kind for b in tops]
        if b"moof" in kinds or b"mvex" in kinds:
            raise Unsupported("a fragmented MP4 (moof boxes)")
        unknown = [k for k in kinds if k not in TOP_LEVEL_OK]
        if unknown:
            raise Unsupported(f"a top-level '{unknown[0].decode('latin-1')}' box")
        if kinds.count(b"moov") != 1 or kinds[0] != b"ftyp":
            raise Unsupported("not one ftyp then one moov")
        ftyp_box, moov_box = tops[0], tops[kinds.index(b"moov")]
        file.seek(0)
        ftyp = file.read(ftyp_box.size)
        file.seek(moov_box.start)
        data = file.read(moov_box.size)
    moov = next(iter_boxes(data, 0, len(data)))
    mvhd, extra, tracks = None, [], []
    for item in children(data, moov):
        if item.kind == b"mvhd":
            mvhd = item
        elif item.kind == b"trak":
            tracks.append(_read_track(data, item))
        elif item.kind in (b"udta", b"iods"):
            extra.append(data[item.start : item.end])
        else:
            raise Unsupported(f"moov holds a '{item.kind.decode('latin-1')}' box")
    if mvhd is None:
        raise Unsupported("no mvhd")
    videos = [t for t in tracks if t.handler == b"vide"]
    audios = [t for t in tracks if t.handler == b"soun"]
    if len(videos) != 1 or len(audios) > 1 or len(tracks) != len(videos) + len(audios):
        raise Unsupported("not one video track and at most one audio track")
    timescale = _timescale(data, mvhd)
    mdats = [b for b in tops if b.kind == b"mdat"]
    span = _media_span(tracks, mdats)
    return Clip(
        path,
        ftyp,
        data[mvhd.start : mvhd.end],
        timescale,
        extra,
        videos[0],
        audios[0] if audios else None,
        span,
    )


def _timescale(data: bytes, header: Box) -> int:
    """The timescale of an mvhd or mdhd box."""
    at = header.body + (20 if version_of(data, header) == 1 else 12)
    return int(struct.unpack_from(">I", data, at)[0])


def _read_track(data: bytes, trak: Box) -> Track:
    parts = {b.kind: b for b in children(data, trak)}
    if set(parts) - {b"tkhd", b"edts", b"mdia", b"udta"}:
        raise Unsupported("a track holds boxes beyond tkhd, edts, mdia and udta")
    mdia = parts[b"mdia"]
    mparts = {b.kind: b for b in children(data, mdia)}
    if set(mparts) != {b"mdhd", b"hdlr", b"minf"}:
        raise Unsupported("a track's mdia is not mdhd, hdlr and minf")
    mdhd, hdlr = mparts[b"mdhd"], mparts[b"hdlr"]
    minf = {b.kind: b for b in children(data, mparts[b"minf"])}
    stbl = minf.pop(b"stbl", None)
    if stbl is None or set(minf) - {b"vmhd", b"smhd", b"dinf"}:
        raise Unsupported("a track's minf is not a media header, dinf and stbl")
    table = read_sample_table(data, stbl)
    stsd = child(data, stbl, b"stsd")
    if stsd is None:  # pragma: no cover - read_sample_table refuses a table without one
        raise Unsupported("a sample table lacks its 'stsd' box")
    if struct.unpack_from(">I", data, stsd.body + 4)[0] != 1:
        raise Unsupported("a track has more than one sample description")
    media_time, segment = _edit(data, parts.get(b"edts"))
    descriptions = {
        data[b.body + 4 : b.body + 8]: data[b.start : b.end]
        for b in children(data, stbl)
        if b.kind == b"sgpd"
    }
    if set(table.groups) - set(descriptions):
        raise Unsupported("sbgp names a group type without its sgpd")
    return Track(
        handler=data[hdlr.body + 8 : hdlr.body + 12],
        tkhd=data[parts[b"tkhd"].start : parts[b"tkhd"].end],
        mdhd=data[mdhd.start : mdhd.end],
        hdlr=data[hdlr.start : hdlr.end],
        media_header=[data[b.start : b.end] for b in minf.values()],
        stsd=data[stsd.start : stsd.end],
        stsd_key=_decoder_key(data, stsd),
        descriptions=descriptions,
        timescale=_timescale(data, mdhd),
        media_time=media_time,
        segment=segment,
        table=table,
    )


def _edit(data: bytes, edts: Box | None) -> tuple[int, int | None]:
    """(media_time, segment duration) of a one-entry edit list; (0, None) without one."""
    if edts is None:
        return 0, None
    elst = child(data, edts, b"elst")
    if elst is None or len(children(data, edts)) != 1:
        raise Unsupported("an edts box that is not one elst")
    version = version_of(data, elst)
    (entries,) = struct.unpack_from(">I", data, elst.body + 4)
    if entries != 1:
        raise Unsupported(f"an edit list of {entries} entries")
    fmt = ">QqI" if version == 1 else ">IiI"
    segment, media_time, rate = struct.unpack_from(fmt, data, elst.body + 8)
    if media_time < 0 or rate != 0x0001_0000:
        raise Unsupported("an edit list with an empty edit or a rate other than 1")
    return media_time, segment


def _decoder_key(data: bytes, stsd: Box) -> bytes:
    """The sample description with its bitrate hints (btrt, esds bitrates) blanked out."""
    entry = next(iter_boxes(data, stsd.body + 8, stsd.end))
    fixed = {b"avc1": 78, b"avc3": 78, b"hvc1": 78, b"hev1": 78, b"mp4a": 28}.get(entry.kind)
    if fixed is None:
        return data[stsd.start : stsd.end]
    key = bytearray(data[entry.start : entry.body + fixed])
    for inner in iter_boxes(data, entry.body + fixed, entry.end):
        raw = bytearray(data[inner.start : inner.end])
        if inner.kind == b"btrt":
            continue
        if inner.kind == b"esds":
            _blank_esds_bitrates(raw, inner.header + 4)
        key += raw
    return bytes(key)


def _blank_esds_bitrates(raw: bytearray, pos: int) -> None:
    """Zero the DecoderConfigDescriptor's buffer size and bitrates (they vary clip to clip)."""

    def header(at: int) -> tuple[int, int]:  # (tag, payload offset)
        tag, at = raw[at], at + 1
        for _ in range(4):
            byte, at = raw[at], at + 1
            if not byte & 0x80:
                break
        return tag, at

    tag, at = header(pos)
    if tag != 0x03:
        return
    flags = raw[at + 2]
    at += 3 + (2 if flags & 0x80 else 0) + (1 + raw[at + 3] if flags & 0x40 else 0)
    at += 2 if flags & 0x20 else 0
    tag, at = header(at)
    if tag == 0x04 and at + 13 <= len(raw):
        raw[at + 2 : at + 13] = bytes(11)


def _media_span(tracks: Sequence[Track], mdats: Sequence[Box]) -> tuple[int, int]:
    starts = [min(t.table.positions) for t in tracks if t.table.positions]
    ends = [
        max(p + s for p, s in zip(t.table.positions, t.table.sizes, strict=True)) for t in tracks
    ]
    if not starts:
        raise Unsupported("no samples")
    first, end = min(starts), max(ends)
    if not any(m.body <= first and end <= m.end for m in mdats):
        raise Unsupported("the samples do not all lie in one mdat (truncated or spread out)")
    return first, end

"""Join MP4 clips at the box level: merge their sample tables, copy their media data in blocks.

A stream-copy join by packets (`splice`) pays PyAV's per-packet cost; this join reads only each
clip's `moov`, writes one faststart MP4 whose tables are the clips' tables end to end, and copies
each clip's media data as one block (`os.copy_file_range` where the kernel has it, else buffered).
It runs after `stitch` has found the clips copy-compatible, and it checks more, at the box level:
one video and at most one audio track per clip, the same sample descriptions (bitrate hints aside),
timescales, one-entry edit lists with the same video delay, a constant video sample duration of one
frame period, no fragments, and tables it can parse. Anything else raises `Declined` with the
reason, and the caller falls back to the remux.

Timing equals the remux's exactly: clip k's video starts at its first output frame, its audio at
the same instant (the AAC priming sample of clips 2..n is left out because its decode time would not
advance the track, the remux's rule), so the joined tables are what the remux would have written.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from sorakit.media._av import Rescale, round_div
from sorakit.media.mp4boxes import (
    U32_MAX,
    Unsupported,
    box,
    chunk_offsets,
    ctts,
    full_box,
    sbgp,
    stsc,
    stss,
    stsz,
    stts,
)
from sorakit.media.mp4clip import Clip, Track, read_clip
from sorakit.media.probe import MediaInfo

logger = logging.getLogger(__name__)

COPY_BLOCK = 8 << 20
"""Bytes per copy call (copy_file_range moves them inside the kernel)."""


class Declined(Exception):
    """The clips cannot be joined at the box level; the message says why (the remux follows)."""


# Checks across clips.


def check_clips(
    clips: Sequence[Clip], infos: Sequence[MediaInfo], fps: Fraction, audio: bool
) -> None:
    """`Declined` unless the clips' tracks can be laid end to end with the remux's timing."""
    first = clips[0]
    for clip, info in zip(clips, infos, strict=True):
        name = clip.path.name
        video, table = clip.video, clip.video.table
        if info.video is None or len(table.sizes) != info.video.frames:
            raise Declined(f"{name}: the sample table and the probe disagree on the frame count")
        if len(set(table.durations)) != 1 or table.durations[0] * fps != video.timescale:
            raise Declined(f"{name}: the video samples do not last one frame period each")
        for label, mine, theirs in (
            ("video sample description", video.stsd_key, first.video.stsd_key),
            ("video timescale", video.timescale, first.video.timescale),
            ("video frame duration", table.durations[0], first.video.table.durations[0]),
            ("video edit (B-frame delay)", video.media_time, first.video.media_time),
            ("display matrix", video.tkhd[-44:], first.video.tkhd[-44:]),
            ("ctts presence", table.composition is None, first.video.table.composition is None),
            ("video sample groups", video.descriptions, first.video.descriptions),
            ("video sample group mapping", set(table.groups), set(first.video.table.groups)),
            ("movie timescale", clip.movie_timescale, first.movie_timescale),
        ):
            if mine != theirs:
                raise Declined(f"{label} differs between {first.path.name} and {name}")
        if table.sync is not None and 0 not in table.sync:
            raise Declined(f"{name}: the first video sample is not a sync sample")
        _check_segment(clip, video, sum(table.durations))
        if not audio:
            if clip.audio is not None:
                raise Declined(f"{name}: has an audio track that is not being copied")
            continue
        _check_audio(clip, first)


def _check_audio(clip: Clip, first: Clip) -> None:
    mine, theirs = clip.audio, first.audio
    if mine is None or theirs is None:
        raise Declined(f"{clip.path.name}: no audio track to copy")
    for label, a, b in (
        ("audio sample description", mine.stsd_key, theirs.stsd_key),
        ("audio timescale", mine.timescale, theirs.timescale),
        ("audio sample groups", mine.descriptions, theirs.descriptions),
        ("audio sample group mapping", set(mine.table.groups), set(theirs.table.groups)),
        ("sdtp presence", mine.table.sdtp is None, theirs.table.sdtp is None),
    ):
        if a != b:
            raise Declined(f"{label} differs between {first.path.name} and {clip.path.name}")
    durations = mine.table.durations
    if mine.media_time > (durations[0] if durations else 0):
        raise Declined(f"{clip.path.name}: the audio priming spans more than one sample")
    _check_segment(clip, mine, sum(durations) - mine.media_time)


def _check_segment(clip: Clip, track: Track, media: int) -> None:
    """The edit must show the whole media (a shorter one would trim what the tables hold)."""
    if track.segment is None:
        return
    expected = round_div(media * clip.movie_timescale, track.timescale)
    if abs(track.segment - expected) > 1:
        raise Declined(f"{clip.path.name}: an edit list trims the {track.handler.decode()} track")


# Merging.


@dataclass
class Merged:
    """One output track: clip 1's boxes as the template, the samples of every clip."""

    template: Track
    durations: list[int]
    composition: list[int] | None
    sync: list[int] | None
    sizes: list[int]
    sources: list[tuple[int, int]]
    """(clip number, file offset in that clip) of each sample."""
    sdtp: bytes | None
    groups: dict[bytes, list[int]]
    presentation: int
    """Media ticks the edit list shows."""


def merge_video(clips: Sequence[Clip]) -> Merged:
    """Every clip's video samples end to end (decode times continue, sync samples renumbered)."""
    tables = [c.video.table for c in clips]
    out = Merged(clips[0].video, [], None, None, [], [], None, {}, 0)
    if tables[0].composition is not None:  # check_clips made ctts all or nothing
        out.composition = [o for t in tables for o in t.composition or ()]
    if any(t.sync is not None for t in tables):
        out.sync = []
    for number, table in enumerate(tables):
        if out.sync is not None:
            numbers = range(len(table.sizes)) if table.sync is None else sorted(table.sync)
            out.sync += [len(out.sizes) + n for n in numbers]
        out.durations += table.durations
        out.sizes += table.sizes
        out.sources += [(number, pos) for pos in table.positions]
    if all(t.sdtp is not None for t in tables):
        out.sdtp = b"".join(t.sdtp or b"" for t in tables)
    for kind in tables[0].groups:  # check_clips made every clip map the same group types
        out.groups[kind] = [i for t in tables for i in t.groups[kind]]
    out.presentation = sum(out.durations)
    return out


def merge_audio(clips: Sequence[Clip], infos: Sequence[MediaInfo], fps: Fraction) -> Merged:
    """Each clip's audio placed at its video start, with the remux's rule: a sample whose decode
    time would not advance the track (the AAC priming sample of clips 2..n) is left out."""
    template = clips[0].audio
    assert template is not None
    timescale = template.timescale
    groups: dict[bytes, list[int]] = {kind: [] for kind in template.table.groups}
    stamps: list[int] = []
    last_duration = 0
    sdtp = b"" if template.table.sdtp is not None else None
    out = Merged(template, [], None, None, [], [], sdtp, groups, 0)
    start = 0
    for number, (clip, info) in enumerate(zip(clips, infos, strict=True)):
        track = clip.audio
        assert track is not None and info.video is not None
        table = track.table
        offset = Fraction(start) / fps * timescale
        exact = Rescale(0, Fraction(1), offset) if offset.denominator == 2 else None
        whole = round(offset)  # the remux's rounding, unless a half tick makes it depend on parity
        decode = -track.media_time
        for index, duration in enumerate(table.durations):
            stamp = exact(decode) if exact is not None else decode + whole
            decode += duration
            if stamps and stamp <= stamps[-1]:
                continue
            stamps.append(stamp)
            last_duration = duration
            out.sizes.append(table.sizes[index])
            out.sources.append((number, table.positions[index]))
            for kind, indices in groups.items():
                indices.append(table.groups[kind][index])
            if out.sdtp is not None and table.sdtp is not None:
                out.sdtp += table.sdtp[index : index + 1]
        start += info.video.frames
    if not stamps:
        raise Declined("the audio tracks hold no samples")
    out.durations = [b - a for a, b in zip(stamps, stamps[1:], strict=False)] + [last_duration]
    out.presentation = sum(out.durations) - template.media_time
    return out


# Writing.


def _chunks(track: Merged, bases: Sequence[int]) -> tuple[list[int], list[int]]:
    """(samples per chunk, chunk offsets): a chunk is a run of samples contiguous in the output."""
    counts: list[int] = []
    offsets: list[int] = []
    end = -1
    for (number, pos), size in zip(track.sources, track.sizes, strict=True):
        at = bases[number] + pos
        if at == end:
            counts[-1] += 1
        else:
            counts.append(1)
            offsets.append(at)
        end = at + size
    return counts, offsets


def _with_duration(raw: bytes, v0: int, v1: int, value: int) -> bytes:
    """A header box with its duration field (at payload offset `v0`, or `v1` in version 1) set."""
    if struct.unpack_from(">I", raw)[0] == 1:
        raise Declined("a header box with a 64-bit size")
    version = raw[8]
    at, width = (8 + v1, 8) if version == 1 else (8 + v0, 4)
    if value >= 1 << (8 * width):
        raise Declined("the joined duration does not fit the clip's version-0 headers")
    return raw[:at] + value.to_bytes(width, "big") + raw[at + width :]


def _trak(track: Merged, movie_timescale: int, rel: Sequence[int]) -> Callable[[int, bool], bytes]:
    """The track's trak box as a function of where the mdat's data starts and of stco vs co64
    (everything else is built once: the moov is laid out twice, to learn its own size)."""
    t = track.template
    shown = round_div(track.presentation * movie_timescale, t.timescale)
    tkhd = _with_duration(t.tkhd, 20, 28, shown)
    elst_version = 1 if shown > U32_MAX or t.media_time > 0x7FFF_FFFF else 0
    entry = struct.pack(">QqI" if elst_version else ">IiI", shown, t.media_time, 0x0001_0000)
    edts = box(b"edts", full_box(b"elst", elst_version, 0, struct.pack(">I", 1), entry))
    mdhd = _with_duration(t.mdhd, 16, 24, sum(track.durations))
    counts, offsets = _chunks(track, rel)
    tables = [t.stsd, stts(track.durations)]
    if track.composition is not None:
        tables.append(ctts(track.composition, t.table.ctts_version))
    if track.sync is not None:
        tables.append(stss(track.sync))
    tables += [stsc(counts), stsz(track.sizes)]
    after = []
    if track.sdtp is not None:
        after.append(full_box(b"sdtp", 0, 0, track.sdtp))
    after += t.descriptions.values()
    after += [sbgp(kind, indices) for kind, indices in track.groups.items()]

    def build(data_start: int, wide: bool) -> bytes:
        located = chunk_offsets([data_start + o for o in offsets], wide)
        minf = box(b"minf", *t.media_header, box(b"stbl", *tables, located, *after))
        return box(b"trak", tkhd, edts, box(b"mdia", mdhd, t.hdlr, minf))

    return build


def write_joined(
    dest: Path, clips: Sequence[Clip], tracks: Sequence[Merged], co64_above: int
) -> None:
    """Write ftyp, moov (faststart) and one mdat holding each clip's media data in turn."""
    lengths = [end - start for start, end in (c.span for c in clips)]
    total = sum(lengths)
    mdat_header = 8 if total + 8 <= U32_MAX else 16
    rel = [sum(lengths[:n]) - c.span[0] for n, c in enumerate(clips)]  # offsets from mdat's data
    first = clips[0]
    traks = [_trak(t, first.movie_timescale, rel) for t in tracks]
    longest = max(
        round_div(t.presentation * first.movie_timescale, t.template.timescale) for t in tracks
    )
    mvhd = _with_duration(first.mvhd, 16, 24, longest)

    def moov(data_start: int, wide: bool) -> bytes:
        return box(b"moov", mvhd, *(build(data_start, wide) for build in traks), *first.extra)

    head = len(first.ftyp) + mdat_header
    wide = head + len(moov(0, True)) + total > co64_above  # the larger moov: never too narrow
    data_start = head + len(moov(0, wide))
    header = (
        struct.pack(">I4s", 8 + total, b"mdat")
        if mdat_header == 8
        else struct.pack(">I4sQ", 1, b"mdat", 16 + total)
    )
    with dest.open("wb") as out:
        out.write(first.ftyp + moov(data_start, wide) + header)
        out.flush()
        at = out.tell()
        for clip, length in zip(clips, lengths, strict=True):
            with clip.path.open("rb") as source:
                copy_range(source.fileno(), out.fileno(), clip.span[0], length, at)
            at += length
    if dest.stat().st_size != at:
        raise Declined("the joined file has the wrong size")


def copy_range(src: int, dst: int, start: int, length: int, dst_at: int) -> None:
    """Copy `length` bytes from `src` at `start` to `dst` at `dst_at`, in the kernel when it can."""
    done = 0
    if hasattr(os, "copy_file_range"):
        while done < length:
            try:
                moved = os.copy_file_range(
                    src, dst, min(COPY_BLOCK, length - done), start + done, dst_at + done
                )
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                break  # a filesystem pair the kernel cannot copy between: buffered below
            if moved == 0:
                raise Declined("a clip ended before its media data")
            done += moved
    while done < length:
        block = os.pread(src, min(COPY_BLOCK, length - done), start + done)
        if not block:
            raise Declined("a clip ended before its media data")
        os.pwrite(dst, block, dst_at + done)
        done += len(block)


def join_boxes(
    dest: Path,
    infos: Sequence[MediaInfo],
    fps: Fraction,
    *,
    audio: bool,
    co64_above: int = U32_MAX,
) -> None:
    """Join probed, copy-compatible clips into `dest` at the box level; `Declined` with the reason.

    `audio`: copy the clips' audio tracks (every clip has one); otherwise no clip may have one.
    `co64_above`: use 64-bit chunk offsets when any offset could exceed it (lowered in tests).
    """
    try:
        clips = [read_clip(info.path) for info in infos]
    except Unsupported as exc:
        raise Declined(str(exc)) from exc
    check_clips(clips, infos, fps, audio)
    try:
        tracks = [merge_video(clips)]
        if audio:
            tracks.append(merge_audio(clips, infos, fps))
        order = [t.handler for t in _track_order(clips[0])]
        tracks.sort(key=lambda t: order.index(t.template.handler))
        write_joined(dest, clips, tracks, co64_above)
    except (Unsupported, struct.error, IndexError, KeyError, ValueError) as exc:
        raise Declined(f"the tables could not be merged ({exc})") from exc


def _track_order(clip: Clip) -> list[Track]:
    """The first clip's tracks in its own order (tkhd track IDs stay as they were)."""
    tracks = [clip.video] + ([clip.audio] if clip.audio else [])
    return sorted(
        tracks, key=lambda t: struct.unpack_from(">I", t.tkhd, 28 if t.tkhd[8] else 20)[0]
    )

"""Joining 5 x 8 s 720p clips: sorakit stream copy vs `cat` of the same bytes (the I/O limit), vs a
bare PyAV remux loop with no checks (the floor for any Python + PyAV copy), vs the ffmpeg CLI, vs a
full re-encode (MoviePy's way in sora-extend: decode everything, encode again). `stitch` joins at
the box level (`boxjoin`); the packet remux it falls back to is timed beside it, and so is the box
join alone (no probe, no verification).

Run: .venv/bin/python bench/media_join.py [--no-reencode]
"In-process" rows time the call alone (the interpreter and `import sorakit.media` excluded); the
process rows are whole processes. A phase breakdown of the copy join follows the table.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from _clips import RESULTS, clip, timed
from sorakit.media import probe, stitch
from sorakit.media._av import NO_DECODE
from sorakit.media.boxjoin import join_boxes
from sorakit.media.splice import Piece, splice
from sorakit.media.stitch import copy_compatible, probe_all
from sorakit.media.verify import verify_join


def bare_remux(clips: list[Path], dest: Path, *, lean_open: bool = False) -> None:
    """The floor: open each clip once, shift timestamps, mux (faststart), no probe, no checks.

    `lean_open` opens the clips as sorakit's copy path does (no frame decoded while opening).
    """
    out = av.open(str(dest), "w", options={"movflags": "+faststart"})
    streams: list[av.stream.Stream] = []
    offsets, last = [0, 0], [-(1 << 62), -(1 << 62)]
    per_stream: Any = [NO_DECODE] * 16 if lean_open else None
    for path in clips:
        with av.open(str(path), stream_options=per_stream) as source:
            inputs = [source.streams.video[0], source.streams.audio[0]]
            if not streams:
                streams = [out.add_stream_from_template(s) for s in inputs]
            ends = list(offsets)
            for packet in source.demux(*inputs):
                if packet.dts is None or packet.pts is None:
                    continue
                i = 0 if packet.stream is inputs[0] else 1
                packet.pts += offsets[i]
                packet.dts += offsets[i]
                ends[i] = max(ends[i], packet.pts + (packet.duration or 0))
                if packet.dts <= last[i]:
                    if i:
                        continue  # the next clip's AAC priming packet
                    packet.dts = last[i] + 1
                last[i] = packet.dts
                packet.stream = streams[i]  # type: ignore[assignment]
                out.mux_one(packet)
            offsets = ends
    out.close()


def stitch_by_remux(clips: list[Path], dest: Path) -> None:
    """`stitch`'s copy join before the box join (its fall-back): probe, check, remux, verify."""
    infos = probe_all(clips)
    assert copy_compatible(infos)[0]
    fps = infos[0].video.frame_rate if infos[0].video else Fraction(24)
    pieces, start = [], 0
    for info in infos:
        frames = info.video.frames if info.video else 0
        pieces.append(Piece(info.path, 0, frames, start, start / fps))
        start += frames
    splice(dest, pieces, fps)
    verify_join(dest, start, fps, [p.out_start for p in pieces], audio=True)


def process_s(cmd: list[str], runs: int = 3) -> float:
    return timed(lambda: subprocess.run(cmd, check=True, capture_output=True), runs=runs)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 9) -> dict[str, float]:
    """Median wall seconds of each call, timed in turn round after round (load spikes hit all)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    clips = [clip(f"j{i}.mp4", seconds=8.0, seed=i, tone=200 + 100 * i) for i in range(5)]
    out = RESULTS / "joined.mp4"
    cat = f"cat {' '.join(map(str, clips))} > {RESULTS / 'cat.bin'}"
    infos = probe_all(clips)
    fps = infos[0].video.frame_rate if infos[0].video else Fraction(24)
    fns: dict[str, Callable[[], object]] = {
        "sorakit `stitch` in-process (checked, verified)": lambda: stitch(clips, out),
        "its box join alone (moov read, tables merged, data copied; no probe, no verify)": (
            lambda: join_boxes(RESULTS / "box.mp4", infos, fps, audio=True)
        ),
        "`stitch` by packet remux, as before (checked, verified)": lambda: stitch_by_remux(
            clips, RESULTS / "remux.mp4"
        ),
        "bare PyAV remux loop, lean open (the floor; no checks)": lambda: bare_remux(
            clips, RESULTS / "bare.mp4", lean_open=True
        ),
        "bare PyAV remux loop, plain `av.open` (no checks)": lambda: bare_remux(
            clips, RESULTS / "bare.mp4"
        ),
        "`cat` of the same bytes (I/O limit)": lambda: subprocess.run(cat, shell=True, check=True),
    }
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        listing = RESULTS / "list.txt"
        listing.write_text("".join(f"file '{c}'\n" for c in clips))
        cmd = [ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
        cmd += ["-c", "copy", "-movflags", "+faststart", str(RESULTS / "ff.mp4")]
        fns["ffmpeg concat demuxer -c copy, process (unchecked)"] = lambda: subprocess.run(
            cmd, check=True
        )
    times = interleaved(fns)
    script = Path(sys.executable).with_name("sorakit")
    if script.exists():
        cli = [str(script), "media", "stitch", *map(str, clips), "--out", str(RESULTS / "cli.mp4")]
        times["`sorakit media stitch`, process"] = process_s(cli)
    importing = [sys.executable, "-c", "import sorakit.media"]
    times["`python -c 'import sorakit.media'`, process"] = process_s(importing)
    if "--no-reencode" not in sys.argv:
        full = lambda: stitch(clips, RESULTS / "full.mp4", reencode=True)  # noqa: E731
        times["full re-encode, x264 veryfast (MoviePy's way)"] = timed(full, runs=1, warmup=False)
    copy_s = times["sorakit `stitch` in-process (checked, verified)"]
    cat_s = times["`cat` of the same bytes (I/O limit)"]
    floor_s = times["bare PyAV remux loop, lean open (the floor; no checks)"]
    print("| method | wall s (median) | vs cat | vs bare remux (lean) | vs sorakit copy |")
    print("|---|---|---|---|---|")
    for name, seconds in times.items():
        print(
            f"| {name} | {seconds:.4f} | {seconds / cat_s:.1f}x"
            f" | {seconds / floor_s:.2f}x | {seconds / copy_s:.2f}x |"
        )
    result = stitch(clips, out)
    phases(clips, out, result.frames, result.fps)


def phases(clips: list[Path], out: Path, frames: int, fps: Fraction) -> None:
    """Median seconds of each phase of the copy join, measured separately."""
    infos = [probe(c) for c in clips]
    steps: dict[str, Callable[[], object]] = {
        "probe 5 clips, 2 threads (open, 1 frame decoded, video packets demuxed)": lambda: (
            probe_all(clips)
        ),
        "compatibility check": lambda: copy_compatible(infos),
        "box join (read 5 moovs, check, merge tables, write moov, copy media data)": lambda: (
            join_boxes(RESULTS / "box.mp4", infos, fps, audio=True)
        ),
        "verify output (demux + 6 lone keyframe decodes)": lambda: verify_join(
            out, frames, fps, [0, 192, 384, 576, 768], audio=True
        ),
    }
    print("\n| phase | wall s (median) |\n|---|---|")
    for name, fn in steps.items():
        print(f"| {name} | {timed(fn, runs=9):.4f} |")
    start = time.perf_counter()
    stitch(clips, out)
    print(f"| whole `stitch` (one more run) | {time.perf_counter() - start:.4f} |")


if __name__ == "__main__":
    main()
